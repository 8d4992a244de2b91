package cli

import (
	"testing"

	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/tests/cluster/faultproxy"
)

// TestPluginSurvivesAPIFaults: kubectl-gitsync's operations go through the
// same retrying transport as a run: with 30 % of requests failing at random
// (429, 503, leader changed, connection resets; seeded), status and
// uninstall --prune still succeed, and uninstall removes everything.
func TestPluginSurvivesAPIFaults(t *testing.T) {
	ctx, c := t.Context(), env.Client()
	target := env.NewNamespace(t)
	ns := uninstallFixture(t, target, install.RBACNamespace)
	p, err := faultproxy.Start(faultproxy.Options{Target: env.Config(), FailRate: 0.3, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	kubeconfig := kubeconfigFor(t, p.Config(), ns)

	for range 3 {
		if out, errOut, err := gitsyncCLI(ctx, "status", "web", "--kubeconfig", kubeconfig); err != nil {
			t.Fatalf("status through faults: %v\n%s%s", err, out, errOut)
		}
	}
	if out, errOut, err := gitsyncCLI(ctx, "uninstall", "web", "--prune", "--kubeconfig", kubeconfig); err != nil {
		t.Fatalf("uninstall through faults: %v\n%s%s", err, out, errOut)
	}
	for k, present := range syncObjects(t, c, ns, target) {
		if present {
			t.Errorf("%s still exists after uninstall", k)
		}
	}
	requests, injected := p.Stats()
	n := 0
	for _, v := range injected {
		n += v
	}
	t.Logf("%d requests, %d faults injected: %v", requests, n, injected)
	if n == 0 {
		t.Error("no fault was injected; the test proves nothing")
	}
}
