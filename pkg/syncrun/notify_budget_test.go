package syncrun

import (
	"context"
	"testing"
	"time"
)

// TestNotifyBudgetShared: spec.notify's providers and the Flux Alerts share
// one budget per run, so that their sends together stay within it.
func TestNotifyBudgetShared(t *testing.T) {
	clock := time.Date(2026, 12, 6, 6, 0, 0, 0, time.UTC)
	r := &runner{now: func() time.Time { return clock }}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the run's context ended (SIGTERM): notifications still go out

	first, stop := r.notifyContext(ctx)
	defer stop()
	if first.Err() != nil {
		t.Fatalf("notification context ended with the run's: %v", first.Err())
	}
	d1, _ := first.Deadline()
	clock = clock.Add(15 * time.Second) // the Flux Alerts start later
	second, stop2 := r.notifyContext(ctx)
	defer stop2()
	d2, ok := second.Deadline()
	if !ok || !d2.Equal(d1) || d1.Sub(time.Date(2026, 12, 6, 6, 0, 0, 0, time.UTC)) != maxNotifyBudget {
		t.Errorf("deadlines %v and %v; want both %v after the first notification", d1, d2, maxNotifyBudget)
	}
}
