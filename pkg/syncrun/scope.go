package syncrun

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/gitsync/gitsync/pkg/apply"
	"github.com/gitsync/gitsync/pkg/object"
)

// A sync's scope can be narrowed between two runs: install again with
// another target namespace, or with --rbac=namespace after --rbac=cluster.
// The inventory then holds objects the sync can no longer read or delete,
// and a prune of them would be refused on every run (the revision would
// never advance). So prune looks only within the run's current scope
// (apply.PruneOptions.InScope); a stale object outside it is orphaned:
// dropped from the inventory, left in the cluster, and named in the run's
// record (Run.Orphaned), its message and an Orphaned Event. The scope is
// part of the spec digest (specDigest), so a change of scope makes the
// next run render, not only check drift.

// pruneScope returns PruneOptions.InScope for the run: nil (everything) for
// a cluster-scoped run; for a namespaced one, the namespaced objects of the
// release namespace, exactly what checkScope lets apply touch.
func (r *runner) pruneScope() func(apply.Target) bool {
	if !r.opts.NamespaceScoped {
		return nil
	}
	ns := r.releaseNamespace()
	return func(t apply.Target) bool { return t.Namespaced && t.Namespace == ns }
}

// orphanedIDs returns the stale objects prune left alone because they lie
// outside the run's scope.
func orphanedIDs(cs *apply.ChangeSet) []object.ID {
	if cs == nil {
		return nil
	}
	var ids []object.ID
	for _, c := range cs.Changes {
		if c.Action == apply.Skipped && errors.Is(c.Err, apply.ErrOutOfScope) {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// orphanedSummary is the part of a run's message naming the objects it
// orphaned; "" when none.
func orphanedSummary(ids []object.ID) string {
	if len(ids) == 0 {
		return ""
	}
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = id.String()
	}
	return fmt.Sprintf("%d stale %s outside the sync's current scope orphaned (left in place, no longer tracked): %s",
		len(ids), plural(len(ids), "object"), listSome(names, 10))
}

// emitOrphaned leaves an Orphaned Event when the run dropped objects of
// state (the sync's, or a unit's) from its inventory without deleting them.
func (r *runner) emitOrphaned(ctx context.Context, state string, ids []object.ID, res *Result) {
	if len(ids) == 0 {
		return
	}
	r.emit(ctx, corev1.EventTypeWarning, "Orphaned", fmt.Sprintf("%s: %s", state, orphanedSummary(ids)), res.End)
}
