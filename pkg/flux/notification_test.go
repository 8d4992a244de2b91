package flux

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDecodeProviderAndAlert(t *testing.T) {
	p, err := Decode(obj(t, `
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {name: hook, namespace: apps}
spec:
  type: generic-hmac
  address: https://hooks.example/x
  channel: deploys
  username: flux
  secretRef: {name: hook-secret}
  timeout: 7s
  interval: 1m
`), DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := p.(*Provider)
	if got.Type != "generic-hmac" || got.Address != "https://hooks.example/x" || got.Channel != "deploys" ||
		got.Username != "flux" || got.SecretRef != "hook-secret" || got.Timeout != 7*time.Second || got.Suspend {
		t.Errorf("Provider decoded as %+v", got)
	}
	if s := Secrets(got); len(s) != 1 || s[0] != (SecretUse{Namespace: "apps", Name: "hook-secret", Field: "spec.secretRef"}) {
		t.Errorf("Secrets(Provider) = %v", s)
	}

	a, err := Decode(obj(t, `
apiVersion: notification.toolkit.fluxcd.io/v1beta2
kind: Alert
metadata: {name: web}
spec:
  providerRef: {name: hook}
  eventSeverity: error
  eventSources:
  - {kind: Kustomization, name: web}
  - {kind: HelmRelease, name: '*', namespace: other, matchLabels: {team: a}}
  inclusionList: ['.*fail.*']
  exclusionList: ['timeout']
  eventMetadata: {cluster: eu}
  summary: prod
`), DecodeOptions{DefaultNamespace: "apps"})
	if err != nil {
		t.Fatal(err)
	}
	al := a.(*Alert)
	if al.ProviderRef != (ID{Kind: KindProvider, Namespace: "apps", Name: "hook"}) || al.EventSeverity != "error" ||
		al.Summary != "prod" || al.EventMetadata["cluster"] != "eu" || len(al.EventSources) != 2 {
		t.Fatalf("Alert decoded as %+v", al)
	}
	meta := func(kind, ns, name string, lbl map[string]string) *Meta {
		return &Meta{ID: ID{Kind: kind, Namespace: ns, Name: name}, Labels: lbl}
	}
	for _, c := range []struct {
		m    *Meta
		want bool
	}{
		{meta(KindKustomization, "apps", "web", nil), true},
		{meta(KindKustomization, "apps", "db", nil), false},
		{meta(KindKustomization, "other", "web", nil), false}, // namespace defaults to the Alert's
		{meta(KindHelmRelease, "apps", "web", nil), false},
		{meta(KindHelmRelease, "other", "x", map[string]string{"team": "a"}), true},
		{meta(KindHelmRelease, "other", "x", map[string]string{"team": "b"}), false},
	} {
		if got := al.Matches(c.m); got != c.want {
			t.Errorf("Matches(%s %v) = %v, want %v", c.m.ID, c.m.Labels, got, c.want)
		}
	}
	for msg, want := range map[string]bool{"apply failed": true, "apply failed: timeout": false, "ok": false} {
		if got := al.Admits(msg); got != want {
			t.Errorf("Admits(%q) = %v, want %v", msg, got, want)
		}
	}
}

// TestDecodeReceiver: a Receiver decodes (it is never run: the run says
// so), and its fields are those IgnoredFields reports with the reason.
func TestDecodeReceiver(t *testing.T) {
	for _, doc := range []string{`
apiVersion: notification.toolkit.fluxcd.io/v1
kind: Receiver
metadata: {name: gh, namespace: apps}
spec:
  type: github
  interval: 1h
  events: [ping, push]
  resources: [{apiVersion: source.toolkit.fluxcd.io/v1, kind: GitRepository, name: app}]
  resourceFilter: 'true'
  secretRef: {name: token}
`, `
apiVersion: notification.toolkit.fluxcd.io/v1beta1
kind: Receiver
metadata: {name: gh, namespace: apps}
spec: {type: generic, resources: [{kind: Kustomization, name: '*', matchLabels: {a: b}}], secretRef: {name: token}}
`} {
		u := obj(t, doc)
		o, err := Decode(u, DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r, ok := o.(*Receiver); !ok || r.ID != (ID{Kind: KindReceiver, Namespace: "apps", Name: "gh"}) {
			t.Errorf("decoded %#v", o)
		}
		notes := IgnoredFields(u)
		if len(notes) == 0 || notes[0].Note != NoteReceiver {
			t.Errorf("ignored fields %+v", notes)
		}
	}
}

func TestDecodeNotificationErrors(t *testing.T) {
	for _, c := range []struct {
		name, doc string
		want      []string
		kind      error
	}{
		{"a Receiver is read against its schema", `
apiVersion: notification.toolkit.fluxcd.io/v1
kind: Receiver
metadata: {name: gh, namespace: apps}
spec: {type: githib, resources: [{kind: GitRepository}], secretRef: {}, evnts: [push]}
`, []string{"Receiver/apps/gh: spec.type: \"githib\" is not one of", "Receiver/apps/gh: spec.resources[0].name: required",
			"Receiver/apps/gh: spec.secretRef.name: required", "Receiver/apps/gh: spec.evnts: unknown field"}, ErrInvalid},
		{"certSecretRef and proxy are refused by field", `
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {name: p, namespace: apps}
spec: {type: slack, certSecretRef: {name: ca}, proxy: 'http://proxy:8080'}
`, []string{"Provider/apps/p: spec.certSecretRef: not supported", "Provider/apps/p: spec.proxy: not supported (set HTTPS_PROXY"}, ErrUnsupported},
		{"a Provider needs a type", `
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {name: p, namespace: apps}
spec: {address: 'https://x'}
`, []string{"Provider/apps/p: spec.type: required"}, ErrInvalid},
		{"bad Alert fields", `
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {name: a, namespace: apps}
spec:
  providerRef: {name: p}
  eventSeverity: warning
  eventSources: [{kind: Pod, name: x}]
  exclusionList: ['(']
  sumary: x
`, []string{"Alert/apps/a: spec.eventSeverity: \"warning\" is not one of info, error",
			"Alert/apps/a: spec.eventSources[0].kind: \"Pod\" is not one of",
			"Alert/apps/a: spec.sumary: unknown field"}, ErrInvalid},
		{"an Alert's regular expression is checked", `
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {name: a, namespace: apps}
spec: {providerRef: {name: p}, eventSources: [{kind: Kustomization, name: '*'}], exclusionList: ['ok', '(']}
`, []string{"Alert/apps/a: spec.exclusionList[1]: not a regular expression"}, ErrInvalid},
		{"eventMetadata is not in v1beta1", `
apiVersion: notification.toolkit.fluxcd.io/v1beta1
kind: Alert
metadata: {name: a, namespace: apps}
spec: {providerRef: {name: p}, eventSources: [{kind: Kustomization, name: '*'}], eventMetadata: {a: b}}
`, []string{"spec.eventMetadata: unknown field in v1beta1"}, ErrInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(obj(t, c.doc), DecodeOptions{})
			if err == nil {
				t.Fatal("decoded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not say %q", err, w)
				}
			}
			if !errors.Is(err, c.kind) {
				t.Errorf("error %q is not %v", err, c.kind)
			}
			if strings.Contains(err.Error(), "proxy:8080") {
				t.Errorf("error quotes a value: %q", err)
			}
		})
	}
}
