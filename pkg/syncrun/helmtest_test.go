package syncrun

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gitsync/gitsync/tests/gitserver"
)

// testPod is a chart template: a Pod hook of the test event.
func testPod(name, weight string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  annotations:
    helm.sh/hook: test
    helm.sh/hook-weight: %q
spec:
  restartPolicy: Never
  containers:
  - name: test
    image: example.invalid/test:1
`, name, weight)
}

// podJudge ends the Pods it is told about, as a kubelet would (the
// control-plane test cluster has no node): each Pod of a name in phases
// gets that phase once created. It remembers the UID of every Pod it ended.
type podJudge struct {
	t      *testing.T
	ns     string
	mu     sync.Mutex
	phases map[string]corev1.PodPhase
	ended  map[string][]types.UID
}

// startPodJudge runs a podJudge until the test ends.
func startPodJudge(t *testing.T, ns string, phases map[string]corev1.PodPhase) *podJudge {
	j := &podJudge{t: t, ns: ns, phases: phases, ended: map[string][]types.UID{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			j.poll(ctx)
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return j
}

func (j *podJudge) poll(ctx context.Context) {
	pods, err := env.Client().CoreV1().Pods(j.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		j.mu.Lock()
		phase, ok := j.phases[p.Name]
		j.mu.Unlock()
		if !ok || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed || p.DeletionTimestamp != nil {
			continue
		}
		p.Status.Phase = phase
		if _, err := env.Client().CoreV1().Pods(j.ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			if ctx.Err() == nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
				j.t.Errorf("ending Pod %s: %v", p.Name, err)
			}
			continue
		}
		j.mu.Lock()
		j.ended[p.Name] = append(j.ended[p.Name], p.UID)
		j.mu.Unlock()
	}
}

// endedCount returns how many Pods of the name were ended so far.
func (j *podJudge) endedCount(name string) int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.ended[name])
}

// TestFluxHelmTests: a HelmRelease with spec.test.enable runs the chart's
// test hooks after its install, in weight order, without the one its
// filters exclude; a failed test fails the unit (its objects stay
// applied); with ignoreFailures the upgrade succeeds and its message names
// the failure; a run with nothing to do runs no test.
func TestFluxHelmTests(t *testing.T) {
	release := func(extra string) string {
		return `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: app, namespace: NS}
spec:
  interval: 5m
  timeout: 1m
  chart:
    spec:
      chart: ./charts/app
      sourceRef: {kind: GitRepository, name: NS}
  test:
    enable: true
    timeout: 30s
    filters: [{name: app-skipped, exclude: true}]
` + extra
	}
	files := map[string]string{
		"clusters/test/flux-system/gotk-sync.yaml": ownRepository,
		"clusters/test/release.yaml":               release(""),
		"charts/app/Chart.yaml":                    "apiVersion: v2\nname: app\nversion: 0.1.0\n",
		"charts/app/templates/cm.yaml":             cm("app-config", "1"),
		"charts/app/templates/tests/ok.yaml":       testPod("app-ok", "-1"),
		"charts/app/templates/tests/fails.yaml":    testPod("app-fails", "1"),
		"charts/app/templates/tests/skipped.yaml":  testPod("app-skipped", "0"),
	}
	f := newFluxSync(t, files)
	judge := startPodJudge(t, f.ns, map[string]corev1.PodPhase{
		"app-ok": corev1.PodSucceeded, "app-fails": corev1.PodFailed, "app-skipped": corev1.PodSucceeded,
	})
	hr := "HelmRelease/" + f.ns + "/app"
	pods := env.Client().CoreV1().Pods(f.ns)

	res := f.run()
	u := units(res)[hr]
	if u.Outcome != Failed || u.Err == nil || !strings.Contains(u.Err.Error(), "test: test hook Pod/"+f.ns+"/app-fails") ||
		!strings.Contains(u.Err.Error(), "pod failed") {
		t.Fatalf("install with a failing test: %s %v", u.Outcome, u.Err)
	}
	if _, err := f.configMap("app-config"); err != nil {
		t.Errorf("the release's objects are not applied: %v", err)
	}
	ok, err := pods.Get(t.Context(), "app-ok", metav1.GetOptions{})
	if err != nil || ok.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("test app-ok: %v %v", ok, err)
	}
	failed, err := pods.Get(t.Context(), "app-fails", metav1.GetOptions{})
	if err != nil || failed.CreationTimestamp.Before(&ok.CreationTimestamp) {
		t.Errorf("test app-fails ran before app-ok (by weight it runs after): %v", err)
	}
	if _, err := pods.Get(t.Context(), "app-skipped", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the excluded test ran: %v", err)
	}

	// ignoreFailures: the upgrade runs the tests again (before-hook-creation
	// replaces the Pods) and succeeds, naming the failure.
	f.commit(expandNS(map[string]string{"clusters/test/release.yaml": strings.Replace(release(""), "    enable: true\n", "    enable: true\n    ignoreFailures: true\n", 1)}, f.ns))
	res = f.run()
	mustUnitsSucceed(t, res)
	u = units(res)[hr]
	if !strings.Contains(u.Message, "Helm tests failed, ignored as the spec asks (ignoreFailures)") || !strings.Contains(u.Message, "app-fails") {
		t.Errorf("upgrade with an ignored failing test: message %q", u.Message)
	}
	if n := judge.endedCount("app-ok"); n != 2 {
		t.Errorf("test app-ok ran %d times, want 2", n)
	}

	// Nothing changed: no test runs.
	res = f.run()
	mustUnitsSucceed(t, res)
	if u := units(res)[hr]; u.Rendered {
		t.Errorf("rendered with nothing changed: %+v", u)
	}
	if n := judge.endedCount("app-ok"); n != 2 {
		t.Errorf("a run with nothing to do ran the tests: app-ok ended %d times", n)
	}

	// Only the tests the filters include run; with them passing, the
	// upgrade's message counts them.
	f.commit(expandNS(map[string]string{"clusters/test/release.yaml": strings.Replace(release(""),
		"filters: [{name: app-skipped, exclude: true}]", "filters: [{name: app-ok}, {name: app-skipped}]", 1)}, f.ns))
	res = f.run()
	mustUnitsSucceed(t, res)
	if u := units(res)[hr]; !strings.Contains(u.Message, "2 Helm tests passed") {
		t.Errorf("upgrade with passing tests: message %q", u.Message)
	}
	if n := judge.endedCount("app-fails"); n != 2 {
		t.Errorf("the test the filters leave out ran: app-fails ended %d times, want 2", n)
	}
	if n := judge.endedCount("app-skipped"); n != 1 {
		t.Errorf("app-skipped ended %d times, want 1", n)
	}
}

// TestSyncHelmTests: spec.helm.test of a Sync runs the chart's tests after
// the install; a run that only corrects drift runs none.
func TestSyncHelmTests(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	f.commit(map[string]string{
		"chart/Chart.yaml":             "apiVersion: v2\nname: app\nversion: 0.1.0\n",
		"chart/templates/config.yaml":  cm("app-config", "1"),
		"chart/templates/tests/t.yaml": testPod("app-test", "0"),
	})
	f.writeSpec(fmt.Sprintf(`apiVersion: gitsync.io/v1alpha1
kind: Sync
metadata: {name: app, namespace: %s}
spec:
  source:
    git: {url: %s, insecure: true, ref: {branch: main}}
  path: ./chart
  timeout: 20s
  helm:
    test: {enable: true, timeout: 20s}
`, f.ns, f.git.HTTPURL("app")))
	judge := startPodJudge(t, f.ns, map[string]corev1.PodPhase{"app-test": corev1.PodSucceeded})
	res := f.run()
	f.mustSucceed(res)
	if !strings.Contains(res.Message, "1 Helm test passed") || judge.endedCount("app-test") != 1 {
		t.Errorf("install: message %q, test ended %d times", res.Message, judge.endedCount("app-test"))
	}

	// Drift corrected: no test.
	if err := env.Client().CoreV1().ConfigMaps(f.ns).Delete(t.Context(), "app-config", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := env.WatchCacheCaughtUp(t.Context(), schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, f.ns); err != nil {
		t.Fatal(err)
	}
	res = f.run()
	f.mustSucceed(res)
	if _, err := f.configMap("app-config"); err != nil {
		t.Fatalf("drift not corrected: %v", err)
	}
	if n := judge.endedCount("app-test"); n != 1 || strings.Contains(res.Message, "Helm test") {
		t.Errorf("a drift correction ran the tests: ended %d times, message %q", n, res.Message)
	}
}
