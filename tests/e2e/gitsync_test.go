package e2e

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/gitsync/gitsync/pkg/cli"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/tests/gitserver"
)

const syncJobImage = "gitsync.local/sync-job:e2e"

// kubectlGitsync runs the plugin in-process, as `kubectl gitsync ARGS`
// against the test cluster, and returns its output and exit code.
func kubectlGitsync(t *testing.T, ns string, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	cmd := cli.NewRootCommand(genericiooptions.IOStreams{In: &bytes.Buffer{}, Out: &out, ErrOut: &out})
	cmd.SetArgs(append(args, "--kubeconfig", env.KubeconfigPath(), "-n", ns))
	err := cmd.ExecuteContext(t.Context())
	if err != nil {
		fmt.Fprintln(&out, "error:", err)
	}
	t.Logf("kubectl gitsync %s →\n%s", strings.Join(args, " "), out.String())
	return out.String(), cli.ExitCode(err)
}

func mustGitsync(t *testing.T, ns string, args ...string) string {
	t.Helper()
	out, code := kubectlGitsync(t, ns, args...)
	if code != 0 {
		t.Fatalf("kubectl gitsync %s: exit %d", strings.Join(args, " "), code)
	}
	return out
}

func configMapValue(ctx context.Context, ns, name string) (string, error) {
	cm, err := env.Client().CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	return cm.Data["value"], nil
}

func waitForValue(t *testing.T, ns, name, want string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	err := env.WaitFor(ctx, func(ctx context.Context) (bool, error) {
		v, err := configMapValue(ctx, ns, name)
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return v == want, err
	})
	if err != nil {
		t.Fatalf("ConfigMap %s/%s never got value %q: %v", ns, name, want, err)
	}
}

func manifest(name, value string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\ndata:\n  value: %q\n", name, value)
}

// scheduledJobs counts the Jobs the CronJob controller created on schedule
// (manual runs carry the instantiate annotation).
func scheduledJobs(t *testing.T, ns string) int {
	t.Helper()
	jobs, err := env.Client().BatchV1().Jobs(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, j := range jobs.Items {
		if j.Annotations["cronjob.kubernetes.io/instantiate"] != "manual" {
			n++
		}
	}
	return n
}

// TestGitsyncEndToEnd drives gitsync as a user would, on a real node: the
// CronJob that `install` writes runs the real sync-job image, which clones
// from the Git server over the node's bridge.
func TestGitsyncEndToEnd(t *testing.T) {
	ctx := t.Context()
	syncJobImageBuilt(t)
	git, repo := gitserver.StartTestRepo(t, gitserver.Options{ListenIP: env.HostIP()}, "app")
	first, err := repo.Commit(ctx, "first", map[string]string{
		"deploy/a.yaml": manifest("a", "1"),
		"deploy/b.yaml": manifest("b", "1"),
	})
	if err != nil {
		t.Fatal(err)
	}
	ns := env.NewNamespace(t)

	// install: the CronJob's own schedule (every minute) fires and applies.
	mustGitsync(t, ns, "install", "demo", "--url", git.HTTPURL("app"), "--insecure", "--branch", "main",
		"--path", "./deploy", "--schedule", "* * * * *", "--image", syncJobImage)
	waitForValue(t, ns, "a", "1", 100*time.Second)
	if _, err := configMapValue(ctx, ns, "b"); err != nil {
		t.Fatalf("b: %v", err)
	}
	if n := scheduledJobs(t, ns); n < 1 {
		t.Fatalf("objects appeared but no scheduled Job ran (%d)", n)
	}

	// Suspend before pushing, so the next changes come from `run`.
	mustGitsync(t, ns, "suspend", "demo")
	cj, err := env.Client().BatchV1().CronJobs(ns).Get(ctx, "gitsync-demo", metav1.GetOptions{})
	if err != nil || cj.Spec.Suspend == nil || !*cj.Spec.Suspend {
		t.Fatalf("CronJob not suspended: %v", err)
	}

	// Push a commit: change a, remove b, add c; `run` applies and prunes.
	if _, err := repo.Commit(ctx, "second", map[string]string{"deploy/a.yaml": manifest("a", "2"), "deploy/c.yaml": manifest("c", "1")}); err != nil {
		t.Fatal(err)
	}
	second, err := repo.Remove(ctx, "drop b", "deploy/b.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := mustGitsync(t, ns, "run", "demo")
	if !strings.Contains(out, second[:7]) && !strings.Contains(out, second) {
		t.Errorf("run output does not show the new revision %s", second)
	}
	if v, _ := configMapValue(ctx, ns, "a"); v != "2" {
		t.Errorf("a = %q after run, want 2", v)
	}
	if _, err := configMapValue(ctx, ns, "b"); !apierrors.IsNotFound(err) {
		t.Errorf("b not pruned: %v", err)
	}
	waitForValue(t, ns, "c", "1", 5*time.Second)
	// The run stored its render, with the rights install granted (a
	// namespace-mode Role: create and patch of that one Secret by name).
	stored, err := env.Client().CoreV1().Secrets(ns).Get(ctx, "gitsync-demo-render", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the run stored no render: %v", err)
	}
	if _, ok := stored.Data["demo"]; !ok {
		t.Errorf("the stored render holds no entry for the sync: keys %v", slices.Sorted(maps.Keys(stored.Data)))
	}

	// status and history show the revisions.
	out = mustGitsync(t, ns, "status")
	for _, want := range []string{"demo", second[:7], "Succeeded"} {
		if !strings.Contains(out, want) {
			t.Errorf("status does not show %q", want)
		}
	}
	out = mustGitsync(t, ns, "history", "demo")
	for _, want := range []string{first[:7], second[:7]} {
		if !strings.Contains(out, want) {
			t.Errorf("history does not show %q", want)
		}
	}

	// While suspended, the schedule does not fire.
	before := scheduledJobs(t, ns)
	time.Sleep(65 * time.Second)
	if after := scheduledJobs(t, ns); after != before {
		t.Errorf("suspended CronJob ran %d scheduled Jobs", after-before)
	}

	// rollback brings the previous revision back (and pins it).
	mustGitsync(t, ns, "rollback", "demo")
	if v, _ := configMapValue(ctx, ns, "a"); v != "1" {
		t.Errorf("a = %q after rollback, want 1", v)
	}
	if _, err := configMapValue(ctx, ns, "b"); err != nil {
		t.Errorf("b not restored by rollback: %v", err)
	}

	// resume follows Git again on the schedule.
	mustGitsync(t, ns, "resume", "demo")
	waitForValue(t, ns, "a", "2", 100*time.Second)

	// A namespaced sync whose repository holds a ClusterRole fails clearly
	// and applies nothing.
	bad, err := git.CreateRepo(ctx, "bad")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Commit(ctx, "cluster role", map[string]string{
		"deploy/x.yaml":  manifest("x", "1"),
		"deploy/cr.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: gitsync-e2e-bad\nrules: []\n",
	}); err != nil {
		t.Fatal(err)
	}
	mustGitsync(t, ns, "install", "bad", "--url", git.HTTPURL("bad"), "--insecure", "--branch", "main",
		"--path", "./deploy", "--suspend", "--image", syncJobImage)
	out, code := kubectlGitsync(t, ns, "run", "bad")
	if code == 0 {
		t.Error("run of a namespaced sync with a ClusterRole succeeded")
	}
	if !strings.Contains(out, "cluster-scoped") {
		t.Errorf("run output does not explain the failure:\n%s", out)
	}
	if _, err := configMapValue(ctx, ns, "x"); !apierrors.IsNotFound(err) {
		t.Errorf("x was applied by a failed run: %v", err)
	}
	st := &inventory.Store{Client: env.Client(), Namespace: ns, Sync: "bad"}
	if inv, err := st.Load(ctx); err != nil || inv.Record.LastRun.Result != inventory.ResultFailed {
		t.Errorf("bad sync's record: %+v, %v", inv, err)
	}

	// uninstall --prune removes everything.
	mustGitsync(t, ns, "uninstall", "demo", "--prune")
	for _, name := range []string{"a", "c", "gitsync-demo", "gitsync-demo-inventory"} {
		if _, err := env.Client().CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("ConfigMap %s left after uninstall --prune: %v", name, err)
		}
	}
	if _, err := env.Client().BatchV1().CronJobs(ns).Get(ctx, "gitsync-demo", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("CronJob left after uninstall: %v", err)
	}
	if _, err := env.Client().CoreV1().ServiceAccounts(ns).Get(ctx, "gitsync-demo", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("ServiceAccount left after uninstall: %v", err)
	}
}
