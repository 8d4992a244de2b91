package syncrun

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

const neverReady = `apiVersion: apps/v1
kind: Deployment
metadata: {name: never-ready, namespace: NS}
spec:
  replicas: 1
  selector:
    matchLabels: {app: never-ready}
  template:
    metadata:
      labels: {app: never-ready}
    spec:
      containers:
      - {name: app, image: registry.invalid/never:1}
`

// TestRunDeadline: a unit waiting for an object that never becomes ready,
// with a timeout (9m30s, from its interval) far past the Job's deadline,
// is stopped at the run's deadline (the Job's activeDeadlineSeconds less
// its margin: here spec.timeout 3s plus two Git timeouts of 2s), so that
// the run itself records which unit was slow and how to give the units
// the time they may need, instead of the Job controller stopping it. The
// record keeps that budget.
func TestRunDeadline(t *testing.T) {
	f := newFluxSync(t, map[string]string{
		"clusters/test/flux-system/gotk-sync.yaml": ownRepository,
		"clusters/test/units.yaml":                 kustomization("slow", "./slow", "  wait: true\n") + kustomization("quick", "./quick", ""),
		"slow/deploy.yaml":                         neverReady,
		"quick/cm.yaml":                            cm("quick", "1"),
	})
	f.writeSpec(fmt.Sprintf("apiVersion: gitsync.io/v1alpha1\nkind: Sync\nmetadata: {name: tree, namespace: %s}\nspec:\n  source:\n    git:\n      url: %s\n      insecure: true\n      timeout: 2s\n      ref: {branch: main}\n  path: ./clusters/test\n  timeout: 3s\n",
		f.ns, f.git.HTTPURL("app")))

	start := time.Now()
	res := f.run()
	took := time.Since(start)
	if res.Outcome != Failed {
		t.Fatalf("the run %s (%s); want Failed", res.Outcome, res.Message)
	}
	if took > time.Minute {
		t.Errorf("the run took %s: the unit's own 10m timeout, not the run's deadline, stopped it", took)
	}
	for _, want := range []string{
		"Kustomization/" + f.ns + "/slow failed",
		"the run's deadline passed: the Job's activeDeadlineSeconds is 2m7s",
		"not Current when the wait ended after ",
		"s (the run's deadline passed): InProgress",
		"raise spec.runTimeout (kubectl gitsync install tree --run-timeout DURATION)",
	} {
		if !strings.Contains(res.Message, want) {
			t.Errorf("message %q\nwant it to contain %q", res.Message, want)
		}
	}
	f.mustHave("quick")
	// 2 units of twice 9m30s (pass and prune; their interval less 30s, as
	// Flux), 4 at a time: their shared work plus the longest chain, one
	// unit; on top of the sync's own 2m7s and the 30s to notify and record.
	unit := 2 * (9*time.Minute + 30*time.Second)
	if got, want := f.inventory().Record.RunBudget.Duration, 2*time.Minute+7*time.Second+2*unit/4+unit+30*time.Second; got != want {
		t.Errorf("recorded run budget %s, want %s", got, want)
	}

	// spec.runTimeout gives the units their time: the Job's deadline
	// grows with it.
	f.writeSpec(fmt.Sprintf("apiVersion: gitsync.io/v1alpha1\nkind: Sync\nmetadata: {name: tree, namespace: %s}\nspec:\n  source:\n    git:\n      url: %s\n      insecure: true\n      timeout: 2s\n      ref: {branch: main}\n  path: ./clusters/test\n  timeout: 3s\n  runTimeout: 2m12s\n",
		f.ns, f.git.HTTPURL("app")))
	start = time.Now()
	res = f.run()
	if took := time.Since(start); res.Outcome != Failed || took < 9*time.Second || !strings.Contains(res.Message, "activeDeadlineSeconds is 2m12s") {
		t.Errorf("with runTimeout 2m12s: the run %s after %s (%s); want Failed at the 10s deadline", res.Outcome, took, res.Message)
	}
}
