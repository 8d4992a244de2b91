package cli

import (
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/lease"
	"github.com/gitsync/gitsync/pkg/syncrun"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// TestUninstallStopsRuns: uninstall while a real Job of the sync's CronJob
// exists and a run holding the Lease is blocked in the middle of apply. The
// Job is stopped and waited for, the Lease is taken from the run, and
// uninstall waits until that run can no longer write. Once uninstall
// returned, nothing of the sync is re-created: no spec, inventory, history,
// Lease, CronJob or Job, and no further applied object.
func TestUninstallStopsRuns(t *testing.T) {
	ctx := t.Context()
	c := env.Client()
	f := newPipelineFixture(t)
	f.commit(map[string]string{"deploy/a.yaml": configMapYAML("a", "1"), "deploy/b.yaml": configMapYAML("b", "1")})
	cj := f.installCronJob(f.installSpec(""))
	job, err := c.BatchV1().Jobs(f.ns).Create(ctx, install.JobFromCronJob(cj, "gitsync-app-manual-1"), metav1.CreateOptions{})
	must(t, err)

	// The run blocks at its first apply request until released.
	blocked, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	cfg := env.Config()
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			if req.Method == http.MethodPatch && strings.Contains(req.Header.Get("Content-Type"), "apply-patch") {
				once.Do(func() { close(blocked) })
				select {
				case <-release:
				case <-req.Context().Done():
				}
			}
			return rt.RoundTrip(req)
		})
	})
	runDone := make(chan *syncrun.Result, 1)
	go func() {
		res, err := syncrun.Run(ctx, syncrun.Options{Name: f.name, Namespace: f.ns, Config: cfg, Holder: "in-process-run",
			LeaseDuration: 6 * time.Second, Logger: slog.New(slog.NewTextHandler(testLogWriter{t}, nil))})
		if err != nil {
			t.Errorf("run: %v", err)
		}
		runDone <- res
	}()
	select {
	case <-blocked:
	case <-time.After(30 * time.Second):
		t.Fatal("the run did not reach apply")
	}

	// The blocked apply goes on once uninstall took the Lease and the run's
	// next renewal (every 2s) found it lost (or, should uninstall not take
	// it, once uninstall returned).
	uninstalled := make(chan struct{})
	go func() {
		defer close(release)
		for {
			select {
			case <-uninstalled:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if info, err := lease.Read(ctx, c, f.ns, lease.Name(f.name)); err == nil && info != nil && strings.HasPrefix(info.Holder, "kubectl-gitsync-uninstall-") {
				time.Sleep(2500 * time.Millisecond)
				return
			}
		}
	}()
	start := time.Now()
	out, errOut, err := f.cli(ctx, "uninstall", f.name, "--job-timeout", "30s")
	close(uninstalled)
	if err != nil {
		t.Fatalf("uninstall: %v\n%s%s", err, out, errOut)
	}
	t.Logf("uninstall took %s:\n%s%s", time.Since(start).Round(time.Millisecond), out, errOut)
	for _, want := range []string{"Job.batch/" + f.ns + "/" + job.Name + " deleted", "CronJob.batch/" + f.ns + "/gitsync-app deleted"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, `taken from run "in-process-run`) {
		t.Errorf("progress does not say the Lease was taken from the run:\n%s", errOut)
	}
	applied := appliedNow(t, f)

	var res *syncrun.Result
	select {
	case res = <-runDone:
	case <-time.After(30 * time.Second):
		t.Fatal("the run did not end")
	}
	if res != nil && res.Outcome == syncrun.Succeeded {
		t.Errorf("the run cut off by uninstall succeeded: %s", res.Message)
	}
	time.Sleep(time.Second) // anything the run still sends would land by now
	for _, name := range []string{"gitsync-app", "gitsync-app-inventory", "gitsync-app-rev-1"} {
		if _, err := c.CoreV1().ConfigMaps(f.ns).Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("ConfigMap %s after uninstall: %v, want NotFound", name, err)
		}
	}
	if _, err := c.CoordinationV1().Leases(f.ns).Get(ctx, lease.Name(f.name), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Lease after uninstall: %v, want NotFound", err)
	}
	if _, err := c.BatchV1().CronJobs(f.ns).Get(ctx, "gitsync-app", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("CronJob after uninstall: %v, want NotFound", err)
	}
	if _, err := c.BatchV1().Jobs(f.ns).Get(ctx, job.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Job after uninstall: %v, want NotFound", err)
	}
	if after := appliedNow(t, f); after != applied {
		t.Errorf("objects applied after uninstall returned: %q then %q", applied, after)
	}
}

// appliedNow lists the ConfigMaps labelled as the fixture sync's, with
// their resourceVersions.
func appliedNow(t *testing.T, f *pipelineFixture) string {
	t.Helper()
	l, err := env.Client().CoreV1().ConfigMaps(f.ns).List(t.Context(), metav1.ListOptions{LabelSelector: inventory.LabelSync + "=" + f.name})
	must(t, err)
	var b strings.Builder
	for _, cm := range l.Items {
		b.WriteString(cm.Name + "@" + cm.ResourceVersion + " ")
	}
	return b.String()
}

type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestUninstallUnits: a sync whose repository holds a Flux Kustomization
// runs it as a unit, with its own state ConfigMaps and the Secret of the
// units' Flux objects. uninstall --prune deletes the unit's objects and
// all of that state.
func TestUninstallUnits(t *testing.T) {
	ctx := t.Context()
	c := env.Client()
	f := newPipelineFixture(t)
	repo := strings.ReplaceAll(`apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: NS
  namespace: NS
spec:
  interval: 1m
  url: ssh://git@example.com/fleet
  ref: {branch: main}
`, "NS", f.ns)
	ks := strings.ReplaceAll(`apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: unit
  namespace: NS
spec:
  interval: 10m
  path: ./unit
  prune: true
  sourceRef:
    kind: GitRepository
    name: NS
`, "NS", f.ns)
	f.commit(map[string]string{
		"deploy/flux-system/gotk-sync.yaml": repo,
		"deploy/own.yaml":                   configMapYAML("own", "1"),
		"deploy/units.yaml":                 ks,
		"unit/cm.yaml":                      configMapYAML("of-unit", "1"),
	})
	f.installSpec("")
	res, err := syncrun.Run(ctx, syncrun.Options{Name: f.name, Namespace: f.ns, Config: env.Config(),
		Logger: slog.New(slog.NewTextHandler(testLogWriter{t}, nil))})
	if err != nil || res.Outcome != syncrun.Succeeded || len(res.Units) != 1 {
		t.Fatalf("run: %v %+v", err, res)
	}
	f.configMap("of-unit")
	state := res.Units[0].State
	units, err := c.CoreV1().ConfigMaps(f.ns).List(ctx, metav1.ListOptions{LabelSelector: inventory.LabelUnitOf + "=" + f.name})
	must(t, err)
	if len(units.Items) < 2 {
		t.Fatalf("fixture: %d unit state ConfigMaps, want the inventory and history", len(units.Items))
	}
	if _, err := c.CoreV1().Secrets(f.ns).Get(ctx, "gitsync-app-flux", metav1.GetOptions{}); err != nil {
		t.Fatalf("fixture: %v", err)
	}

	out, errOut, err := f.cli(ctx, "uninstall", f.name, "--prune")
	if err != nil {
		t.Fatalf("uninstall: %v\n%s%s", err, out, errOut)
	}
	for _, want := range []string{
		"ConfigMap/" + f.ns + "/of-unit deleted", "ConfigMap/" + f.ns + "/own deleted",
		"ConfigMap/" + f.ns + "/gitsync-" + state + "-inventory deleted",
		"ConfigMap/" + f.ns + "/gitsync-" + state + "-rev-1 deleted",
		"Secret/" + f.ns + "/gitsync-app-flux deleted",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	f.absent("of-unit")
	f.absent("own")
	left, err := c.CoreV1().ConfigMaps(f.ns).List(ctx, metav1.ListOptions{LabelSelector: inventory.LabelUnitOf + "=" + f.name})
	must(t, err)
	if len(left.Items) != 0 {
		t.Errorf("%d unit state ConfigMaps left after uninstall", len(left.Items))
	}
	if _, err := c.CoreV1().Secrets(f.ns).Get(ctx, "gitsync-app-flux", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Secret gitsync-app-flux after uninstall: %v, want NotFound", err)
	}
}
