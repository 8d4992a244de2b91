package apply

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// WaitOptions tunes Wait.
type WaitOptions struct {
	// Timeout bounds the whole wait. Default 5 minutes.
	Timeout time.Duration
	// Interval is the longest pause between two polls; polling starts at
	// 100ms and doubles up to it, so quick objects are seen quickly. Default
	// 2 seconds.
	Interval time.Duration
	// Selector, when set, lets Wait read several pending objects of one
	// resource and namespace with one LIST filtered by it (the labels Apply
	// was given) instead of one GET each. Default none: GETs.
	Selector map[string]string
	// Concurrency bounds the requests in flight. Default DefaultConcurrency.
	Concurrency int
	// Judge, when set, computes the status of the objects it covers
	// instead of kstatus (a sync's healthCheckExprs). Default none:
	// kstatus judges every object.
	Judge StatusJudge
}

// StatusJudge computes an object's status in place of kstatus. ok is false
// for an object it does not cover; an error leaves the object not Current
// (the wait goes on, and reports the error if it times out).
type StatusJudge interface {
	Judge(ctx context.Context, u *unstructured.Unstructured) (res *status.Result, ok bool, err error)
}

func (o WaitOptions) withDefaults() WaitOptions {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	if o.Interval <= 0 {
		o.Interval = 2 * time.Second
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	return o
}

// errWaitTimeout is the cause of a wait's context ending at its own
// timeout (WaitOptions.Timeout).
var errWaitTimeout = errors.New("wait timeout")

// Wait polls the targets until kstatus (or opts.Judge for the objects it
// covers) computes Current for all of them. It fails as soon as one is
// Failed (kstatus' Failed is terminal until the object changes again), and
// at the timeout with every object that is not Current, its status and
// kstatus' (or the judge's) message, one line each starting with the
// object's ID. A target that does not exist is not Current.
func (e *Engine) Wait(ctx context.Context, targets []Target, opts WaitOptions) error {
	return errors.Join(e.waitAll(ctx, targets, opts)...)
}

// waitAll is Wait with one result per target (nil when Current), so Apply
// can attach failures to the CRDs it waited for.
func (e *Engine) waitAll(ctx context.Context, targets []Target, opts WaitOptions) []error {
	opts = opts.withDefaults()
	results := make([]error, len(targets))
	start := time.Now()
	ctx, cancel := context.WithTimeoutCause(ctx, opts.Timeout, errWaitTimeout)
	defer cancel()
	type state struct {
		result *status.Result
		err    error
	}
	states := make([]state, len(targets))
	var pending []int
	for i, t := range targets {
		if t.Resource == "" || t.Version == "" {
			results[i] = fmt.Errorf("%s: no resource known; cannot check its status", t.ID)
			continue
		}
		pending = append(pending, i)
	}
	delay := 100 * time.Millisecond
	for {
		var mu sync.Mutex
		objs := e.fetch(ctx, targets, pending, opts)
		forEach(ctx, pending, opts.Concurrency, func(ctx context.Context, i int) {
			u, err := objs[i], error(nil)
			if u == nil {
				u, err = e.dyn.Resource(targets[i].GroupVersionResource()).Namespace(targets[i].Namespace).
					Get(ctx, targets[i].Name, metav1.GetOptions{})
			}
			var s state
			switch {
			case apierrors.IsNotFound(err):
				s.result = &status.Result{Status: status.NotFoundStatus, Message: "not found"}
			case err != nil:
				s.err = err
			default:
				s.result, s.err = judge(ctx, opts.Judge, u)
			}
			if s.err != nil && ctx.Err() != nil && (states[i].result != nil || states[i].err != nil) {
				return // the wait ended mid-poll: keep what the last poll saw
			}
			mu.Lock()
			states[i] = s
			mu.Unlock()
		})
		var still []int
		failed := false
		for _, i := range pending {
			s := states[i]
			switch {
			case s.err == nil && s.result == nil:
				// Not polled: the wait ended before its read started.
				still = append(still, i)
			case s.err == nil && s.result.Status == status.CurrentStatus:
			case s.err == nil && s.result.Status == status.FailedStatus:
				failed = true
				still = append(still, i)
			default:
				still = append(still, i)
			}
		}
		pending = still
		if len(pending) == 0 {
			return results
		}
		if failed || sleep(ctx, delay) != nil {
			for _, i := range pending {
				s := states[i]
				switch {
				case s.result == nil && s.err == nil:
					results[i] = fmt.Errorf("%s: not Current: %w", targets[i].ID, cmp.Or(ctx.Err(), errors.New("not read")))
				case s.err != nil:
					results[i] = fmt.Errorf("%s: not Current: %w", targets[i].ID, s.err)
				case s.result.Status == status.FailedStatus:
					results[i] = fmt.Errorf("%s: %s: %s", targets[i].ID, s.result.Status, s.result.Message)
				case ctx.Err() != nil && !errors.Is(context.Cause(ctx), errWaitTimeout) && context.Cause(ctx) != ctx.Err():
					// The caller's context ended first, with a reason of
					// its own (a plain deadline of the caller is the
					// timeout it gave the wait, and reads as one).
					results[i] = fmt.Errorf("%s: not Current when the wait ended after %s (%v): %s: %s",
						targets[i].ID, time.Since(start).Round(time.Second), context.Cause(ctx), s.result.Status, s.result.Message)
				default:
					results[i] = fmt.Errorf("%s: not Current after %s: %s: %s", targets[i].ID, opts.Timeout, s.result.Status, s.result.Message)
				}
			}
			return results
		}
		delay = min(2*delay, opts.Interval)
	}
}

// judge computes u's status with j when it covers u, else with kstatus.
func judge(ctx context.Context, j StatusJudge, u *unstructured.Unstructured) (*status.Result, error) {
	if j != nil {
		if res, ok, err := j.Judge(ctx, u); ok {
			if res == nil && err == nil {
				res = &status.Result{Status: status.UnknownStatus, Message: "no status computed"}
			}
			return res, err
		}
	}
	return status.Compute(u)
}

// fetch reads, with one LIST per resource and namespace, the pending
// targets that share both with another pending target, when a selector is
// set. Others are left nil for a GET.
func (e *Engine) fetch(ctx context.Context, targets []Target, pending []int, opts WaitOptions) map[int]*unstructured.Unstructured {
	out := map[int]*unstructured.Unstructured{}
	if len(opts.Selector) == 0 {
		return out
	}
	type key struct {
		gvr string
		ns  string
	}
	groups := map[key][]int{}
	var keys []key
	for _, i := range pending {
		t := targets[i]
		if !t.Namespaced {
			continue
		}
		k := key{t.GroupVersionResource().String(), t.Namespace}
		if groups[k] == nil {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], i)
	}
	selector := labels.SelectorFromSet(opts.Selector).String()
	var mu sync.Mutex
	forEach(ctx, keys, opts.Concurrency, func(ctx context.Context, k key) {
		idx := groups[k]
		if len(idx) < 2 {
			return
		}
		t := targets[idx[0]]
		l, err := e.dyn.Resource(t.GroupVersionResource()).Namespace(t.Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return // fall back to GETs
		}
		byName := map[string]*unstructured.Unstructured{}
		for j := range l.Items {
			byName[l.Items[j].GetName()] = &l.Items[j]
		}
		mu.Lock()
		defer mu.Unlock()
		for _, i := range idx {
			if u := byName[targets[i].Name]; u != nil {
				out[i] = u
			}
		}
	})
	return out
}
