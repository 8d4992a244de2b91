package lease

import (
	"errors"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// TestLeaseWithoutRenewTimeIsTakenOver: a Lease written without renewTime,
// acquireTime or leaseDurationSeconds (by hand, or by another tool) used to
// count as held forever, wedging the sync. It is held for a bounded time
// since its last write, then taken over.
func TestLeaseWithoutRenewTimeIsTakenOver(t *testing.T) {
	ctx := t.Context()
	ns := env.NewNamespace(t)
	bare := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "gitsync-web", Namespace: ns},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To("kubectl-user")},
	}
	if _, err := env.Client().CoordinationV1().Leases(ns).Create(ctx, bare, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Freshly written, it is held: for as long as a Lease of ours lasts.
	_, err := Acquire(ctx, env.Client(), ns, "gitsync-web", Options{Holder: "run-1", Duration: time.Minute})
	var held *HeldError
	if !errors.As(err, &held) || held.Holder != "kubectl-user" || held.Expires.IsZero() {
		t.Fatalf("Acquire of a fresh bare Lease: %v (%+v), want ErrHeld by kubectl-user with an expiry", err, held)
	}
	if d := time.Until(held.Expires); d <= 0 || d > time.Minute+time.Second {
		t.Errorf("bare Lease expires in %v, want within a minute", d)
	}

	// Past that, it is taken over.
	time.Sleep(2500 * time.Millisecond) // creationTimestamp has a one-second resolution
	l, err := Acquire(ctx, env.Client(), ns, "gitsync-web", Options{Holder: "run-2", Duration: time.Second})
	if err != nil {
		t.Fatalf("Acquire of a bare Lease written 2.5s ago with a 1s duration: %v", err)
	}
	if got := *getLease(t, ns, "gitsync-web").Spec.HolderIdentity; got != "run-2" {
		t.Errorf("holder %q, want run-2", got)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestLeaseWithHugeDurationIsBounded: leaseDurationSeconds beyond
// MaxDuration counts as MaxDuration.
func TestLeaseWithHugeDurationIsBounded(t *testing.T) {
	ctx := t.Context()
	ns := env.NewNamespace(t)
	past := metav1.NewMicroTime(time.Now().Add(-MaxDuration - time.Minute))
	l := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "gitsync-web", Namespace: ns},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("forever"), RenewTime: &past, AcquireTime: &past,
			LeaseDurationSeconds: ptr.To[int32](1 << 30)},
	}
	if _, err := env.Client().CoordinationV1().Leases(ns).Create(ctx, l, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := Acquire(ctx, env.Client(), ns, "gitsync-web", Options{Holder: "run"})
	if err != nil {
		t.Fatalf("Acquire of a Lease renewed more than MaxDuration ago: %v", err)
	}
	if err := got.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestRead: Read says who holds a Lease, since when and until when, for
// `kubectl gitsync status`; no Lease is nil.
func TestRead(t *testing.T) {
	ctx := t.Context()
	ns := env.NewNamespace(t)
	info, err := Read(ctx, env.Client(), ns, Name("web"))
	if err != nil || info != nil {
		t.Fatalf("Read without a Lease = %+v, %v; want nil, nil", info, err)
	}
	before := time.Now()
	l, err := Acquire(ctx, env.Client(), ns, Name("web"), Options{Holder: "pod-1", Duration: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Release(ctx) }()
	info, err = Read(ctx, env.Client(), ns, Name("web"))
	if err != nil || info == nil {
		t.Fatalf("Read = %+v, %v", info, err)
	}
	now := time.Now()
	if info.Holder != "pod-1" || !info.Held(now) {
		t.Errorf("Read = %+v, want held by pod-1", info)
	}
	if age := info.Age(now); age < 0 || age > now.Sub(before)+time.Second {
		t.Errorf("age %v, want at most %v", age, now.Sub(before))
	}
	if d := info.Expires.Sub(now); d < 25*time.Second || d > 31*time.Second {
		t.Errorf("expires in %v, want about 30s", d)
	}
	if info.Held(info.Expires.Add(time.Millisecond)) {
		t.Error("Held after Expires")
	}
}

// TestCheckAfterLocalExpiry: a run whose renewals fail must learn, before
// its next write, that its Lease may have been taken over: Check reports
// the loss once the Lease's duration has passed since the last renewal the
// API server accepted, without a request.
func TestCheckAfterLocalExpiry(t *testing.T) {
	ctx := t.Context()
	ns := env.NewNamespace(t)
	l, err := Acquire(ctx, env.Client(), ns, "gitsync-web", Options{Duration: time.Second, RenewInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Check(); err != nil {
		t.Fatalf("Check right after Acquire: %v", err)
	}
	time.Sleep(1100 * time.Millisecond)
	err = l.Check()
	if !errors.Is(err, ErrLost) {
		t.Fatalf("Check after the duration passed without renewal = %v, want ErrLost", err)
	}
	t.Log(err)
	if !errors.Is(l.Err(), ErrLost) {
		t.Errorf("Err = %v, want the loss to stick", l.Err())
	}
	select {
	case <-l.Lost():
	default:
		t.Error("Lost not closed")
	}
}
