package syncrun

import (
	"context"

	"github.com/gitsync/gitsync/pkg/helm"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/source"
)

// A run that finds nothing to do writes nothing (docs/architecture.md,
// "One run"). Most scheduled runs are such runs: the same revision, spec
// and inputs as the last successful run, and no drift. So a sync whose last
// run succeeded is checked before the run takes its Lease:
//
//  1. The spec and the inventory are read, and the sync's own unit is
//     checked (unitCheck: inputs, resolve, drift), all without writing.
//  2. Nothing to do: the run ends Succeeded without a Lease, without
//     rewriting the record and without an Event. `status` says when the
//     sync was last checked from the Job's completion; the metrics pushed
//     are those of this run.
//  3. Anything else (a new revision, a spec or input change, drift, a
//     failure to record, a notification to record) needs writes: the run
//     takes the Lease, as every writing run always did, then reads the
//     spec and the inventory again. If neither changed since the check
//     (same resourceVersions: no run wrote in between, no uninstall, no
//     new spec), the run goes on from what the check decided; otherwise
//     it starts over under the Lease, from a fresh resolution of its
//     sources, exactly as a run that took the Lease first.
//
// Two runs that check at the same moment and both find work race for the
// Lease; the loser is Busy, or, coming after the winner released it, finds
// the inventory changed and starts over. Writes stay behind the Lease:
// guard refuses every write of a run that holds none.
//
// Syncs with units (Flux objects) and syncs with spec.imageUpdate (which
// pushes to Git while it resolves) take the Lease first, as before.

// checkFirst checks the sync's own unit without the Lease when the sync
// may be found unchanged, and returns it; nil when the run is to take the
// Lease first.
func (r *runner) checkFirst(ctx context.Context, inv *inventory.Inventory, res *Result) *unit {
	rec := &inv.Record
	if rec.LastRun.Result != inventory.ResultSucceeded || len(rec.Units) > 0 || r.sync.Spec.ImageUpdate != nil {
		return nil
	}
	root := r.rootUnit(inv, res)
	cctx, cancel := context.WithTimeout(ctx, root.timeout)
	defer cancel()
	r.unitCheck(cctx, root)
	return root
}

// finishIdle ends a run whose check found nothing to do, without the Lease,
// and reports whether it did. It notifies the providers that want every
// run; when one did get a notification, what became of it is recorded, so
// the run goes on to take the Lease (and finishIdle returns false).
func (r *runner) finishIdle(ctx context.Context, inv *inventory.Inventory, res *Result) bool {
	if !nothingToRecord(&inv.Record, res) {
		return false
	}
	res.End = r.now()
	r.notify(ctx, inv, res)
	r.notified = true
	if len(res.Notify) > 0 {
		return false
	}
	// The record stays as the last run that wrote it left it; the metrics
	// say that this run checked the sync.
	noteResult(inv, res)
	r.pushMetrics(ctx, inv, res)
	return true
}

// nothingToRecord tells whether a run's result would change nothing in the
// record but the run's times: it succeeded as the last run did, at the
// same revision and spec digest, without rendering, drift, units or
// notifications, with the same signer, target and identity.
func nothingToRecord(rec *inventory.Record, res *Result) bool {
	return res.Outcome == Succeeded && !res.Rendered && len(res.Drifted) == 0 &&
		res.Applied == nil && res.Pruned == nil && len(res.Units) == 0 && len(rec.Units) == 0 && len(res.Notify) == 0 &&
		rec.LastRun.Result == inventory.ResultSucceeded && rec.LastRun.FailedUnits == 0 &&
		rec.LastAppliedRevision == res.Revision && rec.LastAppliedSpecDigest == res.specDigest &&
		rec.LastRun.VerifiedBy == res.VerifiedBy && rec.LastRun.Target == res.Target &&
		rec.LastRun.ServiceAccount == res.ServiceAccount
}

// startOver forgets what the check before the Lease resolved and fetched,
// when another run wrote (or the spec changed) in between: the run then
// resolves its sources again, under the Lease. It returns ctx with the new
// Helm index cache.
func (r *runner) startOver(ctx context.Context) context.Context {
	r.log.Info("the spec or the inventory changed while the run took its Lease; checking again")
	r.close(ctx)
	r.sources = source.NewCache(r.opts.WorkDir)
	r.indexes = helm.NewIndexCache(r.opts.WorkDir)
	r.tree = newTree()
	r.rootSource = nil
	r.notified = false
	return helm.WithIndexCache(ctx, r.indexes)
}
