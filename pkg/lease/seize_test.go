package lease

import (
	"errors"
	"testing"
	"time"
)

// TestSeize: Seize takes a Lease a live run holds, at once; the run's next
// renewal reports the loss, its Check fails from then on, a run cannot
// acquire the Lease while it is seized, and Until says how long the old
// holder may have gone on writing — also to a second Seize.
func TestSeize(t *testing.T) {
	ctx := t.Context()
	ns := env.NewNamespace(t)
	run, err := Acquire(ctx, env.Client(), ns, "gitsync-app", Options{Holder: "run-1", Duration: 30 * time.Second, RenewInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	seized, err := Seize(ctx, env.Client(), ns, "gitsync-app", "uninstall-1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if seized.Previous != "run-1" || seized.Until.Before(before.Add(25*time.Second)) || seized.Until.After(before.Add(35*time.Second)) {
		t.Errorf("Seize = %+v; want previous run-1 until about 30s from now", seized)
	}
	if err := run.Renew(ctx); !errors.Is(err, ErrLost) {
		t.Errorf("renewal after Seize: %v, want ErrLost", err)
	}
	if err := run.Check(); !errors.Is(err, ErrLost) {
		t.Errorf("Check after Seize: %v, want ErrLost", err)
	}
	if _, err := Acquire(ctx, env.Client(), ns, "gitsync-app", Options{Holder: "run-2"}); !errors.Is(err, ErrHeld) {
		t.Errorf("Acquire of a seized Lease: %v, want ErrHeld", err)
	}
	again, err := Seize(ctx, env.Client(), ns, "gitsync-app", "uninstall-2", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// The first uninstall is no run to wait for (its Lease lasts an hour),
	// but run-1 may still be writing until its own expiry.
	if again.Previous != "uninstall-1" || again.Until.Before(seized.Until) || again.Until.After(seized.Until.Add(2*time.Second)) {
		t.Errorf("second Seize = %+v; want previous uninstall-1 until %s", again, seized.Until)
	}
	if err := run.Release(ctx); !errors.Is(err, ErrLost) {
		t.Errorf("Release by the run after Seize: %v, want ErrLost (and the Lease kept)", err)
	}
	if info, err := Read(ctx, env.Client(), ns, "gitsync-app"); err != nil || info == nil || info.Holder != "uninstall-2" {
		t.Errorf("Lease after the run's Release: %+v, %v; want held by uninstall-2", info, err)
	}

	// No Lease: Seize creates one, with no previous holder.
	fresh, err := Seize(ctx, env.Client(), ns, "gitsync-other", "uninstall-3", time.Hour)
	if err != nil || fresh.Previous != "" || !fresh.Until.IsZero() {
		t.Errorf("Seize of a missing Lease = %+v, %v", fresh, err)
	}
}
