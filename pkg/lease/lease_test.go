package lease

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/gitsync/gitsync/tests/cluster"
)

var env *cluster.Cluster

func TestMain(m *testing.M) { os.Exit(cluster.Run(m, cluster.Options{}, &env)) }

func TestExpiry(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mt := func(d time.Duration) *metav1.MicroTime { v := metav1.NewMicroTime(at.Add(d)); return &v }
	tests := []struct {
		name   string
		spec   coordinationv1.LeaseSpec
		want   time.Time
		wantOK bool
	}{
		{"renewed", coordinationv1.LeaseSpec{AcquireTime: mt(0), RenewTime: mt(time.Minute), LeaseDurationSeconds: ptr.To[int32](30)}, at.Add(90 * time.Second), true},
		{"never renewed", coordinationv1.LeaseSpec{AcquireTime: mt(0), LeaseDurationSeconds: ptr.To[int32](30)}, at.Add(30 * time.Second), true},
		{"no duration", coordinationv1.LeaseSpec{RenewTime: mt(0)}, time.Time{}, false},
		{"no times", coordinationv1.LeaseSpec{LeaseDurationSeconds: ptr.To[int32](30)}, time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Expiry(&coordinationv1.Lease{Spec: tt.spec})
			if !got.Equal(tt.want) || ok != tt.wantOK {
				t.Errorf("Expiry = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestDefaultHolder(t *testing.T) {
	t.Setenv("HOSTNAME", "gitsync-web-29000000-abcde")
	a, b := DefaultHolder(), DefaultHolder()
	if !strings.HasPrefix(a, "gitsync-web-29000000-abcde-") || len(a) != len("gitsync-web-29000000-abcde-")+8 {
		t.Errorf("DefaultHolder = %q, want the pod name, a dash and 8 hex digits", a)
	}
	if a == b {
		t.Errorf("two DefaultHolder calls both gave %q", a)
	}
}

func TestHeldError(t *testing.T) {
	var err error = &HeldError{Lease: "ns/gitsync-web", Holder: "pod-1", Expires: time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC)}
	err = fmt.Errorf("run: %w", err)
	if !errors.Is(err, ErrHeld) {
		t.Error("errors.Is(HeldError, ErrHeld) is false")
	}
	var held *HeldError
	if !errors.As(err, &held) || held.Holder != "pod-1" {
		t.Errorf("errors.As gave %+v", held)
	}
	if want := `run: Lease/ns/gitsync-web: held by "pod-1" until 2026-01-01T00:00:30Z`; err.Error() != want {
		t.Errorf("message %q, want %q", err.Error(), want)
	}
	if errors.Is(errors.New("x"), ErrHeld) {
		t.Error("an unrelated error matches ErrHeld")
	}
}

func getLease(t *testing.T, ns, name string) *coordinationv1.Lease {
	t.Helper()
	l, err := env.Client().CoordinationV1().Leases(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestSecondAcquireIsHeld(t *testing.T) {
	ctx := t.Context()
	ns := env.NewNamespace(t)
	first, err := Acquire(ctx, env.Client(), ns, Name("web"), Options{Holder: "run-1"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := first.Release(ctx); err != nil {
			t.Errorf("Release: %v", err)
		}
	}()

	live := getLease(t, ns, "gitsync-web")
	if got := *live.Spec.HolderIdentity; got != "run-1" {
		t.Errorf("holder %q, want run-1", got)
	}
	if got := *live.Spec.LeaseDurationSeconds; got != int32(DefaultDuration/time.Second) {
		t.Errorf("leaseDurationSeconds %d, want %d", got, int32(DefaultDuration/time.Second))
	}

	_, err = Acquire(ctx, env.Client(), ns, Name("web"), Options{Holder: "run-2"})
	var held *HeldError
	if !errors.Is(err, ErrHeld) || !errors.As(err, &held) {
		t.Fatalf("second Acquire: err = %v, want ErrHeld", err)
	}
	if held.Holder != "run-1" || held.Lease != ns+"/gitsync-web" {
		t.Errorf("HeldError = %+v, want holder run-1 of %s/gitsync-web", held, ns)
	}
	if until := time.Until(held.Expires); until < DefaultDuration-30*time.Second || until > DefaultDuration+5*time.Second {
		t.Errorf("HeldError expires in %v, want about %v", until, DefaultDuration)
	}

	// Another sync's lease is independent.
	other, err := Acquire(ctx, env.Client(), ns, Name("api"), Options{})
	if err != nil {
		t.Fatalf("lease of another sync: %v", err)
	}
	if err := other.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestReleaseThenAcquire(t *testing.T) {
	ctx := t.Context()
	ns := env.NewNamespace(t)
	l, err := Acquire(ctx, env.Client(), ns, "gitsync-web", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(ctx); err != nil {
		t.Errorf("second Release: %v", err)
	}
	_, err = env.Client().CoordinationV1().Leases(ns).Get(ctx, "gitsync-web", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("Lease after Release: err = %v, want NotFound", err)
	}
	again, err := Acquire(ctx, env.Client(), ns, "gitsync-web", Options{})
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	if err := again.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// expiredLease acquires a one-second lease without renewal and waits until
// it has expired. It returns the stale holder's Lease.
func expiredLease(t *testing.T, ns, name string) *Lease {
	t.Helper()
	stale, err := Acquire(t.Context(), env.Client(), ns, name, Options{Holder: "dead-run", Duration: time.Second, RenewInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	live := getLease(t, ns, name)
	expires, _ := Expiry(live)
	time.Sleep(time.Until(expires) + 100*time.Millisecond)
	return stale
}

func TestExpiredLeaseIsTakenOver(t *testing.T) {
	ctx := t.Context()
	ns := env.NewNamespace(t)
	stale := expiredLease(t, ns, "gitsync-web")

	l, err := Acquire(ctx, env.Client(), ns, "gitsync-web", Options{Holder: "new-run"})
	if err != nil {
		t.Fatalf("Acquire of an expired lease: %v", err)
	}
	live := getLease(t, ns, "gitsync-web")
	if *live.Spec.HolderIdentity != "new-run" || live.Spec.LeaseTransitions == nil || *live.Spec.LeaseTransitions != 1 {
		t.Errorf("after takeover: holder %q, transitions %v; want new-run, 1", *live.Spec.HolderIdentity, live.Spec.LeaseTransitions)
	}

	// The dead run comes back: its Release must not delete the new lease.
	if err := stale.Release(ctx); !errors.Is(err, ErrLost) {
		t.Errorf("stale Release: err = %v, want ErrLost", err)
	}
	if got := *getLease(t, ns, "gitsync-web").Spec.HolderIdentity; got != "new-run" {
		t.Errorf("holder after stale Release = %q, want new-run", got)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentTakeoverHasOneWinner(t *testing.T) {
	ctx := t.Context()
	ns := env.NewNamespace(t)
	const rounds, takers = 3, 6
	for round := range rounds {
		name := fmt.Sprintf("gitsync-race-%d", round)
		expiredLease(t, ns, name)

		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			mu      sync.Mutex
			winners []*Lease
			helds   int
			others  []error
		)
		for i := range takers {
			wg.Go(func() {
				<-start
				l, err := Acquire(ctx, env.Client(), ns, name, Options{Holder: fmt.Sprintf("taker-%d", i)})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					winners = append(winners, l)
				case errors.Is(err, ErrHeld):
					helds++
				default:
					others = append(others, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if len(winners) != 1 || helds != takers-1 || len(others) != 0 {
			t.Fatalf("round %d: %d winners, %d ErrHeld, other errors %v; want 1 winner and %d ErrHeld", round, len(winners), helds, others, takers-1)
		}
		if got := *getLease(t, ns, name).Spec.HolderIdentity; got != winners[0].Holder() {
			t.Errorf("round %d: lease holder %q, winner %q", round, got, winners[0].Holder())
		}
		if err := winners[0].Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRenewKeepsLease(t *testing.T) {
	ctx := t.Context()
	ns := env.NewNamespace(t)
	l, err := Acquire(ctx, env.Client(), ns, "gitsync-web", Options{Holder: "runner", Duration: 2 * time.Second, RenewInterval: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := l.Release(ctx); err != nil {
			t.Errorf("Release: %v", err)
		}
	}()
	first := getLease(t, ns, "gitsync-web").Spec.RenewTime.Time

	time.Sleep(3 * time.Second) // longer than the lease lasts without renewal
	_, err = Acquire(ctx, env.Client(), ns, "gitsync-web", Options{Holder: "intruder"})
	if !errors.Is(err, ErrHeld) {
		t.Fatalf("Acquire while renewed: err = %v, want ErrHeld", err)
	}
	if renewed := getLease(t, ns, "gitsync-web").Spec.RenewTime.Time; !renewed.After(first.Add(2 * time.Second)) {
		t.Errorf("renewTime %v, want more than 2s after the first %v", renewed, first)
	}
	select {
	case <-l.Lost():
		t.Errorf("lease reported lost: %v", l.Err())
	default:
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestLostWhenDeleted(t *testing.T) {
	ctx := t.Context()
	ns := env.NewNamespace(t)
	l, err := Acquire(ctx, env.Client(), ns, "gitsync-web", Options{Duration: 5 * time.Second, RenewInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Client().CoordinationV1().Leases(ns).Delete(ctx, "gitsync-web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("Lost not closed 5s after the Lease was deleted")
	}
	if !errors.Is(l.Err(), ErrLost) {
		t.Errorf("Err = %v, want ErrLost", l.Err())
	}
	if err := l.Release(ctx); !errors.Is(err, ErrLost) {
		t.Errorf("Release of a lost lease: err = %v, want ErrLost", err)
	}
}

func TestReleaseAfterContextCancelled(t *testing.T) {
	ns := env.NewNamespace(t)
	runCtx, cancel := context.WithCancel(t.Context())
	l, err := Acquire(runCtx, env.Client(), ns, "gitsync-web", Options{RenewInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cancel() // SIGTERM: the run's context ends, renewal stops
	if err := l.Release(t.Context()); err != nil {
		t.Fatalf("Release after the run's context ended: %v", err)
	}
	if _, err := env.Client().CoordinationV1().Leases(ns).Get(t.Context(), "gitsync-web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Lease after Release: err = %v, want NotFound", err)
	}
}
