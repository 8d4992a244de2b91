package apply

import (
	"context"
	"sync"
	"time"
)

// forEach calls fn for every item with at most limit calls in flight. It
// stops starting new calls when ctx is done and returns when the started
// ones have returned.
func forEach[T any](ctx context.Context, items []T, limit int, fn func(context.Context, T)) {
	if limit <= 0 {
		limit = DefaultConcurrency
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, limit)
loop:
	for _, it := range items {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break loop
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			fn(ctx, it)
		}()
	}
	wg.Wait()
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
