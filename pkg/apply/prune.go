package apply

import (
	"context"
	"errors"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

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
	// InScope tells whether a stale object lies within the caller's current
	// scope: where it may still read and delete (rule 0 of Prune). Default
	// nil: every object is.
	InScope func(Target) bool
}

// ErrNoSelector is returned by Prune when PruneOptions.Selector is empty.
var ErrNoSelector = errors.New("prune: no selector: refusing to delete objects that cannot be proven ours")

// Prune deletes stale objects: those of the previous inventory that are no
// longer in the rendered set (the caller computes that difference). It is a
// safety policy first; each rule errs on the side of keeping an object:
//
//  0. An object outside PruneOptions.InScope is not looked at: the sync's
//     scope was narrowed (its target namespace changed, or its rights went
//     from cluster to namespace) and requests there would be refused on
//     every run. It is kept, Skipped with ErrOutOfScope, for the caller to
//     drop from the inventory and report as orphaned.
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
//  6. An object already gone (NotFound) or already being deleted is
//     reported Deleted, so the caller drops it from the inventory. A
//     resource that is no longer served at the recorded version is looked
//     up again: served at another version, its objects are pruned through
//     that one; served at none, they count as gone only when its API
//     (CustomResourceDefinition and APIService) was removed, which took its
//     objects along; otherwise they are kept, Skipped with ErrNotServed,
//     for the caller to keep in the inventory and report. Any other failure
//     is Failed, per object, and the caller keeps it in the inventory to
//     retry next run.
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
		case opts.InScope != nil && !opts.InScope(c.Target):
			c.Action, c.Err = Skipped, fmt.Errorf("%s: %w", c.ID, ErrOutOfScope)
		default:
			targets = append(targets, c.Target)
			index[c.ID] = c
		}
	}
	var mu sync.Mutex
	live := map[object.ID]*metav1.PartialObjectMetadata{}
	forEach(ctx, groupByResource(targets), opts.Concurrency, func(ctx context.Context, g *resourceGroup) {
		items, err := e.listGroup(ctx, g, selector, opts.PerNamespace)
		if apierrors.IsNotFound(err) {
			items, err = e.listUnserved(ctx, g, selector, opts.PerNamespace)
		}
		mu.Lock()
		defer mu.Unlock()
		var gone *resourceGoneError
		switch {
		case errors.As(err, &gone):
			for _, t := range g.targets {
				c := index[t.ID]
				if gone.alive {
					c.Action, c.Err = Skipped, fmt.Errorf("%s: %s: %w", t.ID, gone.why, ErrNotServed)
				} else {
					c.Action = Deleted
				}
			}
		case err != nil:
			for _, t := range g.targets {
				index[t.ID].Action, index[t.ID].Err = Failed, fmt.Errorf("%s: %w", t.ID, err)
			}
		default:
			for id, m := range items {
				live[id] = m
			}
			if g.served != nil {
				// Deleted through the version served now, and recorded so.
				for _, t := range g.targets {
					c := index[t.ID]
					c.Version, c.Resource = g.served.Version, g.served.Resource
				}
			}
		}
	})
	forEach(ctx, targets, opts.Concurrency, func(ctx context.Context, t Target) {
		c := index[t.ID]
		if c.Action != "" {
			return
		}
		c.Action, c.Err = e.pruneOne(ctx, c.Target, live[t.ID], opts)
	})
}

// resourceGoneError says that a resource group's LIST answered 404 and the
// kind is served at no version. alive tells whether its objects may still
// exist (kept, ErrNotServed) or are known gone with their API (Deleted).
type resourceGoneError struct {
	alive bool
	why   string
}

func (e *resourceGoneError) Error() string { return e.why }

// listUnserved handles a LIST that answered 404: the resource is not served
// at the version recorded (rule 6 of Prune). When discovery serves the kind
// at another version (a CRD or a Kubernetes upgrade dropped the old one),
// the group is listed there and g.served set, so its objects are deleted
// through that version. Otherwise a *resourceGoneError tells whether the
// objects are provably gone: only when neither a CustomResourceDefinition
// nor an APIService for the group and version exists any more, since
// deleting a CRD deletes its objects. Anything else (the CRD exists but
// serves no version, the check is forbidden) keeps them.
func (e *Engine) listUnserved(ctx context.Context, g *resourceGroup, selector string, perNamespace bool) (map[object.ID]*metav1.PartialObjectMetadata, error) {
	e.mapper.forget() // discovery as of now, not as of the start of the run
	if m, err := e.mapper.mapping(ctx, g.gk, "", false); err == nil && m.Resource != g.gvr {
		e.log.Info("prune: listing through the served version", "resource", g.gvr.GroupResource().String(),
			"recorded", g.gvr.Version, "served", m.Resource.Version)
		alt := *g
		alt.gvr = m.Resource
		items, err := e.listGroup(ctx, &alt, selector, perNamespace)
		if err == nil {
			g.served = &m.Resource
		}
		return items, err
	}
	gone, err := e.apiGone(ctx, g.gvr)
	switch {
	case err != nil:
		return nil, &resourceGoneError{alive: true, why: fmt.Sprintf("%s is not served, and whether its API was removed is unknown (%v)", g.gvr.GroupResource(), err)}
	case !gone:
		return nil, &resourceGoneError{alive: true, why: fmt.Sprintf("%s is not served at version %s nor at any other, but its API still exists", g.gvr.GroupResource(), g.gvr.Version)}
	}
	return nil, &resourceGoneError{why: fmt.Sprintf("%s: its API (CustomResourceDefinition and APIService) was removed, and its objects with it", g.gvr)}
}

// apiGone tells whether neither a CustomResourceDefinition for gvr's
// resource nor an APIService for its group and version exists.
func (e *Engine) apiGone(ctx context.Context, gvr schema.GroupVersionResource) (bool, error) {
	if gvr.Group == "" {
		return false, nil // the core group is always there
	}
	checks := []struct {
		res  schema.GroupVersionResource
		name string
	}{
		{schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}, gvr.Resource + "." + gvr.Group},
		{schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}, gvr.Version + "." + gvr.Group},
	}
	for _, c := range checks {
		_, err := e.meta.Resource(c.res).Get(ctx, c.name, metav1.GetOptions{})
		switch {
		case err == nil:
			return false, nil
		case !apierrors.IsNotFound(err):
			return false, fmt.Errorf("%s %s: %w", c.res.GroupResource(), c.name, err)
		}
	}
	return true, nil
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
