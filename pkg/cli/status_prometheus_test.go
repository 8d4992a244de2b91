package cli

import (
	"strings"
	"testing"
)

// TestStatusPrometheus prints the metrics of the golden syncs from their
// records: the same names and labels a run pushes.
func TestStatusPrometheus(t *testing.T) {
	ns, stable := seedGolden(t)
	kc := []string{"--kubeconfig", env.KubeconfigPath(), "-n", ns}
	out, _, err := gitsyncCLI(t.Context(), append([]string{"status", "-o", "prometheus"}, kc...)...)
	must(t, err)
	golden(t, "testdata/status/prometheus.golden", stable(out))
	one, _, err := gitsyncCLI(t.Context(), append([]string{"status", "web", "-o", "prometheus"}, kc...)...)
	must(t, err)
	if strings.Contains(one, `sync="api"`) || !strings.Contains(one, `sync="web"`) {
		t.Errorf("status web -o prometheus:\n%s", one)
	}
}
