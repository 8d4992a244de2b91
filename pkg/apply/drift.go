package apply

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gitsync/gitsync/pkg/object"
)

// DriftOptions tunes Drift.
type DriftOptions struct {
	// FieldManager is the manager the fingerprints were computed for.
	// Default DefaultFieldManager.
	FieldManager string
	// Selector selects this sync's live objects (the labels Apply was given
	// in Options.Labels). Default none: every object of the resource is
	// listed, which is correct but costs more.
	Selector map[string]string
	// PerNamespace lists one namespace at a time, for a caller with only
	// namespaced rights. Default false; a forbidden cluster-wide list falls
	// back to it anyway.
	PerNamespace bool
	// Concurrency bounds the LISTs in flight. Default DefaultConcurrency.
	Concurrency int
	// Listed, when set, keeps what the check listed, for an Apply of the
	// drifted objects that follows (Options.Listed). Default none.
	Listed *Listed
	// Ignore are the ignore rules the objects were applied with
	// (Options.Ignore): the fields they name are left out of the
	// comparison, as of the fingerprints. Default none.
	Ignore []IgnoreRule
	// Shared, when set, answers the LISTs from LISTs shared with other
	// checks (SharedLists); what it cannot answer is listed as without
	// it. Not with PerNamespace. Default none.
	Shared *SharedLists
}

// Listed is what a drift check listed: the live metadata of the objects
// carrying the selector labels, per resource, and the server's time of
// the earliest answer. An Apply given it (Options.Listed) lists only the
// resources it does not hold, so a drift correction costs no second LIST.
type Listed struct {
	mu   sync.Mutex
	at   time.Time
	gvrs map[schema.GroupVersionResource]map[object.ID]*metav1.PartialObjectMetadata
}

func (l *Listed) add(gvr schema.GroupVersionResource, items map[object.ID]*metav1.PartialObjectMetadata, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gvrs == nil {
		l.gvrs = map[schema.GroupVersionResource]map[object.ID]*metav1.PartialObjectMetadata{}
	}
	l.gvrs[gvr] = items
	if l.at.IsZero() || (!at.IsZero() && at.Before(l.at)) {
		l.at = at
	}
}

// resource returns the listed objects of gvr, and whether it was listed.
func (l *Listed) resource(gvr schema.GroupVersionResource) (map[object.ID]*metav1.PartialObjectMetadata, bool) {
	if l == nil {
		return nil, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	items, ok := l.gvrs[gvr]
	return items, ok
}

// confirmByGet is how many objects of one resource a drift check found
// drifted in the watch cache that it reads again one by one; with more, it
// lists the resource again, consistently.
const confirmByGet = 8

// Drift compares recorded targets with the live objects and returns the IDs
// of those that drifted: missing, not carrying the selector labels any more,
// or whose Fingerprint differs from the recorded one (someone changed a
// field gitsync owns, or the object was recreated). Targets with an empty
// Fingerprint are not checked. The result is sorted.
//
// It costs one metadata-only LIST per resource (per resource and namespace
// with PerNamespace) and no GET per object when nothing drifted. The LISTs
// are answered by the API server's watch cache as it is (resourceVersion
// 0): a consistent LIST waits for the cache to catch up with etcd, up to
// 100 ms when nothing of its resource changed lately, which was most of a
// run with nothing to do. The cache may lag etcd by moments, so what it
// shows drifted is read again consistently before it counts: each object
// by a GET (from etcd), or, past confirmByGet objects of one resource, the
// resource by a consistent LIST. A change the cache has not seen yet is
// found by the next run. An error means the check could not be completed;
// the caller should then apply everything.
func (e *Engine) Drift(ctx context.Context, recorded []Target, opts DriftOptions) ([]object.ID, error) {
	if opts.FieldManager == "" {
		opts.FieldManager = DefaultFieldManager
	}
	rules, err := compileIgnore(opts.Ignore)
	if err != nil {
		return nil, fmt.Errorf("drift check: %w", err)
	}
	var check []Target
	for _, t := range recorded {
		if t.Fingerprint != "" {
			check = append(check, t)
		}
	}
	parsed := labels.SelectorFromSet(opts.Selector)
	selector := parsed.String()
	var (
		mu      sync.Mutex
		drifted []object.ID
		errs    []error
	)
	differs := func(t Target, live map[object.ID]*metav1.PartialObjectMetadata) bool {
		m := live[t.ID]
		return m == nil || !stateMatchesIgnoring(m, opts.FieldManager, stateOfFingerprint(t.Fingerprint),
			ignoredPointers(rules, schema.GroupVersionKind{Group: t.Group, Version: t.Version, Kind: t.Kind}, m, t.Namespace))
	}
	forEach(ctx, groupByResource(check), opts.Concurrency, func(ctx context.Context, g *resourceGroup) {
		lctx, st := withServerTime(ctx)
		var live map[object.ID]*metav1.PartialObjectMetadata
		var err error
		at, shared := time.Time{}, false
		if !opts.PerNamespace {
			live, at, shared = opts.Shared.get(ctx, e, g, parsed)
		}
		if !shared {
			live, err = e.listGroupAt(lctx, g, selector, opts.PerNamespace, "0")
		}
		// Only the suspects can differ once they were read again: the
		// comparison is not made twice for the others.
		var suspects []Target
		switch {
		case err == nil:
			for _, t := range g.targets {
				if differs(t, live) {
					suspects = append(suspects, t)
				}
			}
			if len(suspects) > 0 {
				live, err = e.readAgain(lctx, g, live, suspects, parsed, opts)
			}
		case apierrors.IsNotFound(err):
			suspects = g.targets // the resource itself is gone, so are its objects
		}
		if err == nil && opts.Listed != nil {
			if t := st.get(); at.IsZero() || (!t.IsZero() && t.Before(at)) {
				at = t
			}
			opts.Listed.add(g.gvr, live, at)
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
			return
		}
		for _, t := range suspects {
			if differs(t, live) {
				drifted = append(drifted, t.ID)
			}
		}
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("drift check: %w", errors.Join(errs...))
	}
	object.Sort(drifted)
	return drifted, nil
}

// readAgain reads consistently the suspects, objects of g that the watch
// cache's LIST (live) showed drifted, and returns live with what was read
// instead: one GET each (an object gone, or without selector's labels any
// more, is left out), or a consistent LIST of g past confirmByGet objects.
func (e *Engine) readAgain(ctx context.Context, g *resourceGroup, live map[object.ID]*metav1.PartialObjectMetadata, suspects []Target, selector labels.Selector, opts DriftOptions) (map[object.ID]*metav1.PartialObjectMetadata, error) {
	if len(suspects) > confirmByGet {
		return e.listGroup(ctx, g, selector.String(), opts.PerNamespace)
	}
	client := e.meta.Resource(g.gvr)
	var (
		mu   sync.Mutex
		errs []error
	)
	forEach(ctx, suspects, opts.Concurrency, func(ctx context.Context, t Target) {
		m, err := client.Namespace(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
		mu.Lock()
		defer mu.Unlock()
		switch {
		case apierrors.IsNotFound(err):
			delete(live, t.ID)
		case err != nil:
			errs = append(errs, fmt.Errorf("reading %s again: %w", t.ID, err))
		case !selector.Matches(labels.Set(m.Labels)):
			delete(live, t.ID)
		default:
			live[t.ID] = m
		}
	})
	return live, errors.Join(errs...)
}

// time returns the server's time of the earliest LIST; zero for none.
func (l *Listed) time() time.Time {
	if l == nil {
		return time.Time{}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.at
}
