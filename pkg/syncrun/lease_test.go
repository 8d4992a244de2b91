package syncrun

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/lease"
	"github.com/gitsync/gitsync/pkg/spec"
	"github.com/gitsync/gitsync/tests/gitserver"
)

// events returns the Events on the sync's spec ConfigMap with reason.
func (f *fixture) events(reason string) []corev1.Event {
	f.t.Helper()
	list, err := env.Client().CoreV1().Events(f.ns).List(f.t.Context(), metav1.ListOptions{
		FieldSelector: "involvedObject.kind=ConfigMap,involvedObject.name=" + spec.ConfigMapName(f.name) + ",reason=" + reason,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return list.Items
}

// failingLeaseRenewals returns a config whose Lease updates fail while the
// returned switch is on, as when the API server cannot be reached for a
// while by this run only.
func failingLeaseRenewals() (*atomic.Bool, func(http.RoundTripper) http.RoundTripper) {
	var on atomic.Bool
	return &on, func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(req *http.Request) (*http.Response, error) {
			if on.Load() && req.Method == http.MethodPut && strings.Contains(req.URL.Path, "/leases/") {
				return nil, errors.New("injected: Lease renewal failed")
			}
			return rt.RoundTrip(req)
		})
	}
}

// TestLostLeaseStopsRun: a run whose renewals fail for longer than its
// Lease lasts must not go on to prune (another run may hold the Lease by
// then): it stops before the next write, and records why.
func TestLostLeaseStopsRun(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	f.commit(map[string]string{"deploy/a.yaml": cm("a", "1"), "deploy/b.yaml": cm("b", "1")})
	f.install(f.git.HTTPURL("app"), "", "")
	f.mustSucceed(f.run())

	f.commit(map[string]string{"deploy/a.yaml": cm("a", "2")})
	f.remove("deploy/b.yaml")
	failing, wrap := failingLeaseRenewals()
	cfg := env.Config()
	cfg.Wrap(wrap)
	res := f.runWith(Options{Config: cfg, LeaseDuration: 2 * time.Second, beforeStage: func(ctx context.Context, stage string) {
		if stage == "prune" {
			failing.Store(true)
			time.Sleep(2500 * time.Millisecond) // renewals fail for longer than the Lease lasts
			failing.Store(false)
		}
	}})
	if res.Outcome != Failed || !errors.Is(res.Err, lease.ErrLost) || !strings.Contains(res.Message, "before prune") {
		t.Fatalf("outcome %s, err %v; want Failed with a lost Lease before prune", res.Outcome, res.Err)
	}
	f.mustHave("a", "b") // not pruned
	if a, _ := f.configMap("a"); a.Data["value"] != "2" {
		t.Errorf("a = %v; apply ran while the Lease was held, it should have applied", a.Data)
	}
	rec := f.inventory().Record
	if rec.LastRun.Result != inventory.ResultFailed || !strings.Contains(rec.LastRun.Message, "lease lost") {
		t.Errorf("record %+v; want Failed saying the lease was lost", rec.LastRun)
	}
	// The record was written under the Lease taken again, and released.
	if info, err := lease.Read(t.Context(), env.Client(), f.ns, lease.Name(f.name)); err != nil || info != nil {
		t.Errorf("Lease after the run: %+v, %v; want none", info, err)
	}

	// The next run finishes the job.
	f.mustSucceed(f.run())
	f.mustNotHave("b")
}

// TestLostLeaseTakenByAnotherRun: when another run took the Lease over
// meanwhile, the stopped run leaves the record to it and says why in an
// Event.
func TestLostLeaseTakenByAnotherRun(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	f.commit(map[string]string{"deploy/a.yaml": cm("a", "1")})
	f.install(f.git.HTTPURL("app"), "", "")
	failing, wrap := failingLeaseRenewals()
	cfg := env.Config()
	cfg.Wrap(wrap)
	var other *lease.Lease
	res := f.runWith(Options{Config: cfg, LeaseDuration: 2 * time.Second, beforeStage: func(ctx context.Context, stage string) {
		if stage == "apply" {
			failing.Store(true)
			time.Sleep(2500 * time.Millisecond)
			var err error
			if other, err = lease.Acquire(ctx, env.Client(), f.ns, lease.Name(f.name), lease.Options{Holder: "other-run"}); err != nil {
				t.Errorf("the other run could not take the expired Lease: %v", err)
			}
			failing.Store(false)
		}
	}})
	if other != nil {
		defer func() { _ = other.Release(t.Context()) }()
	}
	if res.Outcome != Failed || !errors.Is(res.Err, lease.ErrLost) {
		t.Fatalf("outcome %s, err %v; want Failed with a lost Lease", res.Outcome, res.Err)
	}
	f.mustNotHave("a")
	if rec := f.inventory().Record; rec.LastRun.Result != "" {
		t.Errorf("the stopped run wrote the record under another run's Lease: %+v", rec.LastRun)
	}
	if evs := f.events("LeaseLost"); len(evs) != 1 || !strings.Contains(evs[0].Message, "other-run") {
		t.Errorf("LeaseLost Events: %+v; want one naming the new holder", evs)
	}
}

// TestBusyRunLeavesEvent: a run that finds the Lease held does nothing, but
// says so with one Event (one write), naming the holder and when the Lease
// expires.
func TestBusyRunLeavesEvent(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	f.commit(map[string]string{"deploy/a.yaml": cm("a", "1")})
	f.install(f.git.HTTPURL("app"), "", "")
	l := holdLease(t, f, time.Minute)
	defer func() { _ = l.Release(t.Context()) }()
	res := f.run()
	if res.Outcome != Busy {
		t.Fatalf("outcome %s, want Busy", res.Outcome)
	}
	evs := f.events("Busy")
	if len(evs) != 1 || !strings.Contains(evs[0].Message, `"other-run"`) || !strings.Contains(evs[0].Message, "expires") {
		t.Fatalf("Busy Events: %+v; want one naming the holder and the expiry", evs)
	}
	if rec := f.inventory().Record; rec.LastRun.Result != "" {
		t.Errorf("a Busy run wrote the record: %+v", rec.LastRun)
	}
}
