package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/tests/gitserver"
)

// TestDependsOnChain installs three syncs a ← b ← c on the real node, b
// and c with a yearly schedule. While a fails, b and c apply nothing and
// their records say why; once a's run succeeds, its Job starts b's, and
// b's starts c's: the chain converges in seconds, not at the schedule.
func TestDependsOnChain(t *testing.T) {
	ctx := t.Context()
	syncJobImageBuilt(t)
	git, repo := gitserver.StartTestRepo(t, gitserver.Options{ListenIP: env.HostIP()}, "app")
	if _, err := repo.Commit(ctx, "a broken", map[string]string{
		"a/x.yaml": "kind: ConfigMap\n  broken: [\n",
		"b/x.yaml": manifest("b-x", "1"),
		"c/x.yaml": manifest("c-x", "1"),
	}); err != nil {
		t.Fatal(err)
	}
	ns := env.NewNamespace(t)
	install := func(name string, extra ...string) {
		args := append([]string{"install", name, "--url", git.HTTPURL("app"), "--insecure", "--branch", "main",
			"--path", "./" + name, "--schedule", "0 0 1 1 *", "--image", syncJobImage}, extra...)
		mustGitsync(t, ns, args...)
	}
	install("a")
	install("b", "--depends-on", "a")
	install("c", "--depends-on", "b")

	// a fails: nothing starts b or c; their own runs wait and say why.
	if _, code := kubectlGitsync(t, ns, "run", "a"); code == 0 {
		t.Fatal("run of a on a broken commit succeeded")
	}
	if jobs := dependentJobs(t, ns); len(jobs) != 0 {
		t.Fatalf("a failed run started %v", jobs)
	}
	mustGitsync(t, ns, "run", "b")
	mustGitsync(t, ns, "run", "c")
	for _, w := range []struct{ sync, says string }{
		{"b", "DependencyNotReady: " + ns + "/a last run failed"},
		{"c", "DependencyNotReady: " + ns + "/b is waiting on its own dependencies"},
	} {
		rec := record(t, ns, w.sync)
		if rec.LastRun.Result != inventory.ResultDependencyNotReady || !strings.Contains(rec.LastRun.Message, w.says) {
			t.Errorf("record of %s: %s %q, want DependencyNotReady saying %q", w.sync, rec.LastRun.Result, rec.LastRun.Message, w.says)
		}
	}
	for _, cm := range []string{"b-x", "c-x"} {
		if _, err := configMapValue(ctx, ns, cm); !apierrors.IsNotFound(err) {
			t.Errorf("%s applied while its dependency failed: %v", cm, err)
		}
	}
	out := mustGitsync(t, ns, "status", "b")
	for _, want := range []string{"Depends On:", ns + "/a", "Waiting On:", "DependencyNotReady"} {
		if !strings.Contains(out, want) {
			t.Errorf("status b does not show %q", want)
		}
	}

	// a is fixed: one run of a converges the chain.
	if _, err := repo.Commit(ctx, "a fixed", map[string]string{"a/x.yaml": manifest("a-x", "1")}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	mustGitsync(t, ns, "run", "a")
	waitForValue(t, ns, "b-x", "1", 60*time.Second)
	waitForValue(t, ns, "c-x", "1", 60*time.Second)
	t.Logf("b and c converged %s after a's run ended", time.Since(start).Round(time.Second))
	for _, s := range []string{"b", "c"} {
		waitRecord(t, ns, s, inventory.ResultSucceeded)
	}
	jobs := dependentJobs(t, ns)
	for _, want := range []string{"b", "c"} {
		if jobs[want] == "" {
			t.Errorf("no Job started for %s by its dependency: %v", want, jobs)
		}
	}
	if jobs["b"] != ns+"/a" || jobs["c"] != ns+"/b" {
		t.Errorf("triggered-by: %v, want b by a and c by b", jobs)
	}
	if n := scheduledJobs(t, ns); n != 0 {
		t.Errorf("%d scheduled Jobs ran; the yearly schedules cannot have fired", n)
	}
	// Let the last Pods end before the cluster is stopped.
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := env.WaitFor(wctx, func(ctx context.Context) (bool, error) {
		pods, err := env.Client().CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, p := range pods.Items {
			if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		t.Errorf("Pods still running: %v", err)
	}
}

// dependentJobs returns, per sync, who started its Job (the triggered-by
// annotation), for Jobs a dependency started.
func dependentJobs(t *testing.T, ns string) map[string]string {
	t.Helper()
	list, err := env.Client().BatchV1().Jobs(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, j := range list.Items {
		if by := j.Annotations[names.TriggeredBy]; by != "" {
			out[j.Labels[names.LabelSync]] = by
		}
	}
	return out
}

func record(t *testing.T, ns, sync string) inventory.Record {
	t.Helper()
	inv, err := (&inventory.Store{Client: env.Client(), Namespace: ns, Sync: sync}).Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return inv.Record
}

func waitRecord(t *testing.T, ns, sync string, want inventory.Result) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var got inventory.Record
	err := env.WaitFor(ctx, func(ctx context.Context) (bool, error) {
		got = record(t, ns, sync)
		return got.LastRun.Result == want, nil
	})
	if err != nil {
		t.Fatalf("record of %s: %s %q, want %s", sync, got.LastRun.Result, got.LastRun.Message, want)
	}
}
