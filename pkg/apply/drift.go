package apply

import (
	"context"
	"errors"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"

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
}

// Drift compares recorded targets with the live objects and returns the IDs
// of those that drifted: missing, not carrying the selector labels any more,
// or whose Fingerprint differs from the recorded one (someone changed a
// field gitsync owns, or the object was recreated). Targets with an empty
// Fingerprint are not checked. The result is sorted.
//
// It costs one metadata-only LIST per resource (per resource and namespace
// with PerNamespace) and no GET per object. An error means the check could
// not be completed; the caller should then apply everything.
func (e *Engine) Drift(ctx context.Context, recorded []Target, opts DriftOptions) ([]object.ID, error) {
	if opts.FieldManager == "" {
		opts.FieldManager = DefaultFieldManager
	}
	var check []Target
	for _, t := range recorded {
		if t.Fingerprint != "" {
			check = append(check, t)
		}
	}
	selector := labels.SelectorFromSet(opts.Selector).String()
	var (
		mu      sync.Mutex
		drifted []object.ID
		errs    []error
	)
	forEach(ctx, groupByResource(check), opts.Concurrency, func(ctx context.Context, g *resourceGroup) {
		live, err := e.listGroup(ctx, g, selector, opts.PerNamespace)
		mu.Lock()
		defer mu.Unlock()
		if err != nil && !apierrors.IsNotFound(err) { // NotFound: the resource itself is gone, so are its objects
			errs = append(errs, err)
			return
		}
		for _, t := range g.targets {
			m := live[t.ID]
			if m == nil || !stateMatches(m, opts.FieldManager, stateOfFingerprint(t.Fingerprint)) {
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
