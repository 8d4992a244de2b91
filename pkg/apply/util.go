package apply

import (
	"context"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
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

// retry calls fn until it succeeds, fails with an error that is not
// transient, or has failed four times. Transient: the API server is
// overloaded, timed out, or lost an optimistic-concurrency race; a webhook
// call failed (InternalError). client-go already honours Retry-After.
func retry(ctx context.Context, fn func() error) error {
	delay := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := fn()
		if err == nil || attempt >= 3 || !transient(err) {
			return err
		}
		if sleep(ctx, delay) != nil {
			return err
		}
		delay *= 2
	}
}

func transient(err error) bool {
	return apierrors.IsConflict(err) || apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) ||
		apierrors.IsTooManyRequests(err) || apierrors.IsServiceUnavailable(err) || apierrors.IsInternalError(err)
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
