package syncrun

import (
	"context"
	"testing"
	"time"
)

// TestNotifyBudgetShared: spec.notify's providers and the Flux Alerts share
// one budget per run, so that their sends together stay within it.
func TestNotifyBudgetShared(t *testing.T) {
	r := &runner{now: time.Now}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the run's context ended (SIGTERM): notifications still go out

	before := time.Now()
	first, stop := r.notifyContext(ctx)
	defer stop()
	if first.Err() != nil {
		t.Fatalf("notification context ended with the run's: %v", first.Err())
	}
	d1, _ := first.Deadline()
	time.Sleep(20 * time.Millisecond) // the Flux Alerts start later
	second, stop2 := r.notifyContext(ctx)
	defer stop2()
	d2, ok := second.Deadline()
	if !ok || !d2.Equal(d1) || d1.Before(before.Add(maxNotifyBudget)) || d1.After(time.Now().Add(maxNotifyBudget)) {
		t.Errorf("deadlines %v and %v; want both %v after the first notification (%v)", d1, d2, maxNotifyBudget, before)
	}
}
