package cli

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/gitsync/gitsync/pkg/spec"
)

// TestInstallNotifyFlags: --notify, --notify-events and --pushgateway
// write spec.notify and spec.metrics, and the Job may read exactly the
// providers' Secrets.
func TestInstallNotifyFlags(t *testing.T) {
	out, err := runCLI(t.Context(), "", "install", "web", "-n", "apps", "--url", "https://git.example.com/x",
		"--notify", "slack=slack-hook", "--notify", "github=gh-token", "--notify", "slack=ops-hook",
		"--notify-events", "Failed,Recovered", "--pushgateway", "http://pushgateway.monitoring:9091",
		"--image", testImage, "--export", "--kubeconfig", offline)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var doc string
	var secretRule string
	for _, d := range strings.Split(out, "\n---\n") {
		var obj struct {
			Kind  string            `json:"kind"`
			Data  map[string]string `json:"data"`
			Rules []struct {
				Resources     []string `json:"resources"`
				ResourceNames []string `json:"resourceNames"`
			} `json:"rules"`
		}
		if err := yaml.Unmarshal([]byte(d), &obj); err != nil {
			t.Fatal(err)
		}
		if obj.Kind == "ConfigMap" && obj.Data[spec.ConfigMapKey] != "" {
			doc = obj.Data[spec.ConfigMapKey]
		}
		for _, r := range obj.Rules {
			if len(r.Resources) == 1 && r.Resources[0] == "secrets" {
				secretRule = strings.Join(r.ResourceNames, ",")
			}
		}
	}
	s, err := spec.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	var got []string
	for _, n := range s.Spec.Notify {
		got = append(got, n.ProviderName()+":"+n.SecretRef.Name+":"+strings.Join(n.Events, "+"))
	}
	if want := "slack:slack-hook:Failed+Recovered github:gh-token:Failed+Recovered slack-ops-hook:ops-hook:Failed+Recovered"; strings.Join(got, " ") != want {
		t.Errorf("spec.notify %v, want %s", got, want)
	}
	if s.Spec.Metrics == nil || s.Spec.Metrics.Pushgateway.URL != "http://pushgateway.monitoring:9091" {
		t.Errorf("spec.metrics %+v", s.Spec.Metrics)
	}
	if secretRule != "gh-token,ops-hook,slack-hook" {
		t.Errorf("the Job may read Secrets %q, want exactly gh-token,ops-hook,slack-hook", secretRule)
	}

	for args, want := range map[string]string{
		"--notify slack":                            "--notify slack: must be TYPE=SECRET",
		"--notify pager=x":                          `spec.notify[0].type: Unsupported value: "pager"`,
		"--notify-events Failed":                    "--notify-events: only with --notify",
		"--notify slack=x --notify-events Deployed": `--notify-events: "Deployed" is not one of`,
		"--pushgateway http://u:pw@pg:9091":         "must not hold a credential",
	} {
		a := append([]string{"install", "web", "-n", "apps", "--url", "https://git.example.com/x", "--export", "--kubeconfig", offline}, strings.Fields(args)...)
		out, err := runCLI(t.Context(), "", a...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q\n%s", args, err, want, out)
		}
	}
}
