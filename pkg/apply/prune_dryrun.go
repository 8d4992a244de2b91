package apply

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PreviewPrune reports what Prune would do to stale, without deleting
// anything: it is Prune with PruneOptions.DryRun, so every rule above
// decides exactly as in a run (labels, opt-out annotations, the UID and
// resourceVersion preconditions, stage order) and the API server answers
// each delete as a dry run (dryRun=All). A preview therefore needs the same
// rights as the prune itself.
//
// For every change that is Deleted, Before holds the live object in full
// (for a diff); it stays nil for an object that was already gone. A live
// object that cannot be read afterwards makes its change Failed.
func (e *Engine) PreviewPrune(ctx context.Context, stale []Target, opts PruneOptions) (*ChangeSet, error) {
	opts.DryRun = true
	cs, err := e.Prune(ctx, stale, opts)
	if err != nil {
		return cs, err
	}
	for i := range cs.Changes {
		c := &cs.Changes[i]
		if c.Action != Deleted {
			continue
		}
		live, err := e.dyn.Resource(c.GroupVersionResource()).Namespace(c.Namespace).Get(ctx, c.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			c.Action, c.Err = Failed, fmt.Errorf("%s: get: %w", c.ID, err)
		default:
			c.Before = live
		}
	}
	return cs, nil
}
