package apply

import (
	"context"
	"errors"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/gitsync/gitsync/pkg/object"
)

// PruneOptions tunes Prune.
type PruneOptions struct {
	// Selector is the set of labels that makes a live object this sync's:
	// the ApplySet part-of label at least. Required: Prune refuses to run
	// without it.
	Selector map[string]string
	// DryRun sends the deletes with dryRun=All. Default false.
	DryRun bool
	// PerNamespace lists one namespace at a time, for a caller with only
	// namespaced rights. Default false; a forbidden cluster-wide list falls
	// back to it anyway.
	PerNamespace bool
	// Concurrency bounds the requests in flight. Default DefaultConcurrency.
	Concurrency int
}

// ErrNoSelector is returned by Prune when PruneOptions.Selector is empty.
var ErrNoSelector = errors.New("prune: no selector: refusing to delete objects that cannot be proven ours")

// Prune deletes stale objects: those of the previous inventory that are no
// longer in the rendered set (the caller computes that difference). It is a
// safety policy first; each rule errs on the side of keeping an object:
//
//  1. Only a live object carrying every label of PruneOptions.Selector is
//     ours. A same-named object without them (created by someone else, or
//     released by removing the label) is kept and reported Skipped.
//  2. A live object that opts out is kept (Skipped): AnnotationPrune
//     disabled, AnnotationReconcile disabled (annotation or label), or
//     AnnotationSSA Ignore — or their Flux twins. The live object's
//     annotations count, not the last rendered ones: removing an object from
//     Git removes its annotations from view, and a user may annotate the
//     live object to keep it.
//  3. The delete is preconditioned on the UID and resourceVersion that rules
//     1 and 2 were checked against, so an object recreated or relabelled in
//     between is not deleted; on such a conflict the rules are checked again
//     on a fresh read (up to three times).
//  4. Objects are deleted in reverse stage order (admission webhooks first;
//     Namespaces, CRDs and ClusterRoles last), and a stage runs only when
//     every earlier one succeeded, so a failed delete of a custom resource
//     keeps its CRD and a failed delete inside a Namespace keeps the
//     Namespace. Deleting a Namespace still deletes everything in it, ours
//     or not: mark Namespaces with AnnotationPrune disabled to keep them.
//  5. Deletion propagation is background: the object goes at once and the
//     garbage collector removes its dependents (a Deployment's ReplicaSets
//     and Pods) after; Prune does not wait.
//  6. An object already gone (NotFound, or its resource no longer served)
//     or already being deleted is reported Deleted, so the caller drops it
//     from the inventory. Any other failure is Failed, per object, and the
//     caller keeps it in the inventory to retry next run.
//
// Changes come in deletion order. The error result is for the call as a
// whole (no selector, cancelled context); per-object failures are in
// ChangeSet.Err.
func (e *Engine) Prune(ctx context.Context, stale []Target, opts PruneOptions) (*ChangeSet, error) {
	if len(opts.Selector) == 0 {
		return nil, ErrNoSelector
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	selector := labels.SelectorFromSet(opts.Selector).String()
	var byStage [numStages][]Target
	for _, t := range stale {
		st := StageOf(t.GroupKind())
		byStage[st] = append(byStage[st], t)
	}
	cs := &ChangeSet{}
	failed := false
	for st := numStages - 1; st >= 0; st-- {
		targets := byStage[st]
		if len(targets) == 0 {
			continue
		}
		changes := make([]Change, len(targets))
		for i, t := range targets {
			changes[i].Target = t
		}
		if failed {
			for i := range changes {
				changes[i].Action = Skipped
				changes[i].Err = fmt.Errorf("%s: %w", changes[i].ID, ErrNotAttempted)
			}
			cs.Changes = append(cs.Changes, changes...)
			continue
		}
		e.pruneStage(ctx, changes, selector, opts)
		if err := ctx.Err(); err != nil {
			cs.Changes = append(cs.Changes, changes...)
			return cs, interrupted(cs, err)
		}
		for _, c := range changes {
			failed = failed || c.Action == Failed
		}
		cs.Changes = append(cs.Changes, changes...)
	}
	return cs, nil
}

// pruneStage lists the live objects of the stage's targets and deletes the
// ones the rules allow.
func (e *Engine) pruneStage(ctx context.Context, changes []Change, selector string, opts PruneOptions) {
	targets := make([]Target, 0, len(changes))
	index := map[object.ID]*Change{}
	for i := range changes {
		c := &changes[i]
		switch {
		case c.Resource == "" || c.Version == "":
			c.Action, c.Err = Failed, fmt.Errorf("%s: no resource recorded; cannot prune", c.ID)
		case c.Namespaced && c.Namespace == "":
			c.Action, c.Err = Failed, fmt.Errorf("%s: namespaced without a namespace; cannot prune", c.ID)
		default:
			targets = append(targets, c.Target)
			index[c.ID] = c
		}
	}
	var mu sync.Mutex
	live := map[object.ID]*metav1.PartialObjectMetadata{}
	forEach(ctx, groupByResource(targets), opts.Concurrency, func(ctx context.Context, g *resourceGroup) {
		items, err := e.listGroup(ctx, g, selector, opts.PerNamespace)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case apierrors.IsNotFound(err): // the resource is not served any more: its objects are gone
			for _, t := range g.targets {
				index[t.ID].Action = Deleted
			}
		case err != nil:
			for _, t := range g.targets {
				index[t.ID].Action, index[t.ID].Err = Failed, fmt.Errorf("%s: %w", t.ID, err)
			}
		default:
			for id, m := range items {
				live[id] = m
			}
		}
	})
	forEach(ctx, targets, opts.Concurrency, func(ctx context.Context, t Target) {
		c := index[t.ID]
		if c.Action != "" {
			return
		}
		c.Action, c.Err = e.pruneOne(ctx, t, live[t.ID], opts)
	})
}

// pruneOne applies the rules to one object and deletes it if they allow.
// m is the object's metadata from the listing, nil when the listing did not
// have it (gone, or not carrying our labels).
func (e *Engine) pruneOne(ctx context.Context, t Target, m *metav1.PartialObjectMetadata, opts PruneOptions) (Action, error) {
	client := e.meta.Resource(t.GroupVersionResource()).Namespace(t.Namespace)
	for attempt := 0; ; attempt++ {
		if m == nil {
			got, err := client.Get(ctx, t.Name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
				return Deleted, nil
			case err != nil:
				return Failed, fmt.Errorf("%s: get: %w", t.ID, err)
			}
			m = got
		}
		if !hasLabels(m.Labels, opts.Selector) {
			e.log.Debug("prune: kept, not ours", "object", t.ID.String())
			return Skipped, nil
		}
		if out, why := livePruneOptOut(m.Annotations, m.Labels); out {
			e.log.Debug("prune: kept, opted out", "object", t.ID.String(), "reason", why)
			return Skipped, nil
		}
		if m.DeletionTimestamp != nil {
			return Deleted, nil
		}
		bg := metav1.DeletePropagationBackground
		do := metav1.DeleteOptions{
			PropagationPolicy: &bg,
			Preconditions:     &metav1.Preconditions{UID: &m.UID, ResourceVersion: &m.ResourceVersion},
		}
		if opts.DryRun {
			do.DryRun = []string{metav1.DryRunAll}
		}
		err := client.Delete(ctx, t.Name, do)
		switch {
		case err == nil, apierrors.IsNotFound(err):
			return Deleted, nil
		case apierrors.IsConflict(err) && attempt < 3:
			m = nil // changed since we looked: look again
		default:
			return Failed, fmt.Errorf("%s: delete: %w", t.ID, err)
		}
	}
}
