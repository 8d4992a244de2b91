package spec

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNotifyAndMetrics(t *testing.T) {
	base := okSource
	s, err := Parse([]byte(syncDoc(base + `notify:
- {type: slack, secretRef: {name: slack-hook}, channel: '#deploys', events: [Failed, Recovered]}
- {name: am, type: alertmanager, address: 'http://alertmanager:9093/api/v2/alerts', eventSeverity: error, timeout: 5s}
- {type: github, secretRef: {name: gh-token}, summary: prod, eventMetadata: {env: prod}}
metrics:
  pushgateway: {url: 'http://pushgateway:9091', secretRef: {name: pg-auth}}`)))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"gh-token", "pg-auth", "slack-hook"}, s.SecretNames()); diff != "" {
		t.Errorf("SecretNames (-want +got):\n%s", diff)
	}
	if s.Spec.Notify[1].ProviderName() != "am" || s.Spec.Notify[0].ProviderName() != "slack" {
		t.Errorf("names: %+v", s.Spec.Notify)
	}
	plain, err := Parse([]byte(syncDoc(base)))
	if err != nil {
		t.Fatal(err)
	}
	if s.Digest() != plain.Digest() {
		t.Error("notify and metrics changed the spec digest: a new receiver would force a render")
	}
}

func TestNotifyErrors(t *testing.T) {
	for name, tc := range map[string]struct{ body, want string }{
		"unknown type":   {"notify: [{type: pager, secretRef: {name: s}}]", `spec.notify[0].type: Unsupported value: "pager"`},
		"no type":        {"notify: [{secretRef: {name: s}}]", "spec.notify[0].type: Required value"},
		"no secret":      {"notify: [{type: slack}]", "spec.notify[0].secretRef: Required value"},
		"forge no token": {"notify: [{type: gitea, address: 'https://git.example.com/o/r'}]", "spec.notify[0].secretRef: Required value: a Secret with the forge's API token"},
		"bad event":      {"notify: [{type: slack, secretRef: {name: s}, events: [Changed, Deployed]}]", `spec.notify[0].events[1]: Unsupported value: "Deployed"`},
		"bad severity":   {"notify: [{type: slack, secretRef: {name: s}, eventSeverity: warn}]", `spec.notify[0].eventSeverity: Unsupported value: "warn"`},
		"duplicate":      {"notify: [{type: slack, secretRef: {name: a}}, {type: slack, secretRef: {name: b}}]", "spec.notify[1].name: Duplicate value"},
		"unknown field":  {"notify: [{type: slack, secretRef: {name: a}, url: x}]", "spec.notify[0].url"},
		"pushgateway":    {"metrics: {pushgateway: {}}", "spec.metrics.pushgateway.url: Required value"},
		"bad timeout":    {"notify: [{type: slack, secretRef: {name: a}, timeout: 0s}]", "spec.notify[0].timeout"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(syncDoc(okSource + tc.body)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	// A credential in a spec address is refused without being echoed.
	for _, addr := range []string{"https://hooks.example.com/x?token=S3CRET", "https://u:S3CRET@hooks.example.com/x"} {
		_, err := Parse([]byte(syncDoc(okSource + "notify: [{type: generic, address: '" + addr + "'}]")))
		if err == nil || !strings.Contains(err.Error(), "spec.notify[0].address") || strings.Contains(err.Error(), "S3CRET") {
			t.Errorf("%s: %v", addr, err)
		}
	}
}
