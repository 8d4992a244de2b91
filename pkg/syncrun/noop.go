package syncrun

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/gitsync/gitsync/pkg/apply"
	"github.com/gitsync/gitsync/pkg/flux"
	"github.com/gitsync/gitsync/pkg/helm"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/names"
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
// A sync with units (Flux objects) is checked the same way, unit by unit
// (checkUnit): when every unit is idle, no unit left Git, no automation is
// to run and the stored unit tree is unchanged, the run writes nothing;
// the first unit that needs a write stops the check, and the run takes the
// Lease and starts over (a unit's check is not reused: the tree is checked
// again under the Lease). The check does not wait for dependsOn
// (flux.ScheduleOptions.Unordered): a unit found idle would be idle in any
// order, and the first unit that is not ends the check anyway. Syncs with
// spec.imageUpdate (which pushes to Git while it resolves) take the Lease
// first, as before.

// checkFirst checks the sync's own unit without the Lease when the sync
// may be found unchanged, and returns it; nil when the run is to take the
// Lease first.
func (r *runner) checkFirst(ctx context.Context, inv *inventory.Inventory, res *Result) *unit {
	rec := &inv.Record
	if rec.LastRun.Result != inventory.ResultSucceeded || r.sync.Spec.ImageUpdate != nil {
		return nil
	}
	// The sync's objects and its units' all carry the sync's labels: the
	// drift checks of the sync and of its units share one LIST per
	// resource (apply.SharedLists), which nothing writes meanwhile. Not
	// for a namespaced install, whose cluster-wide LISTs are refused.
	if len(rec.Units) > 0 && !r.opts.NamespaceScoped {
		r.shared = apply.NewSharedLists(r.engine, map[string]string{inventory.LabelSync: r.opts.Name, names.LabelSyncNamespace: r.opts.Namespace})
		defer func() { r.shared = nil }()
	}
	root := r.rootUnit(inv, res)
	root.deferPrune = len(rec.Units) > 0
	cctx, cancel := context.WithTimeout(ctx, root.timeout)
	r.unitCheck(cctx, root)
	cancel()
	if len(rec.Units) == 0 && !root.check.over {
		r.readAhead(ctx, root)
	}
	if len(rec.Units) == 0 || !root.check.over || res.Outcome != Succeeded {
		return root
	}
	// The units, each checked only; the first that needs a write ends the
	// check (its context is cancelled).
	uctx, stop := context.WithCancel(ctx)
	defer stop()
	r.check.stop = stop
	r.check.on.Store(true)
	r.checkedUnits = rec.Units
	r.runUnits(uctx, root)
	r.check.on.Store(false)
	rec.Units = r.checkedUnits // the record stays as it was read
	if why := r.check.why(); why != "" {
		r.log.Info("a unit needs writes; taking the Lease", "reason", why)
		if res.Outcome == Succeeded {
			res.Outcome = Failed // not to be taken for a run with nothing to do
		}
	}
	return root
}

// readAhead starts, in the background, the first reads of the write the
// check of the sync's own unit u decided on: the fetch of the revision it
// is to apply (for a drift correction, the stored render, and the fetch
// only when that does not hold the last render) and the cluster's API
// discovery. Neither writes, so they need
// no Lease, and the run takes its Lease and reads its state again
// meanwhile; the write then finds them in the source cache and the Engine.
// Should the run start over (another run wrote in between), close stops
// them and forgets what they read.
func (r *runner) readAhead(ctx context.Context, u *unit) {
	ctx, cancel := context.WithTimeout(ctx, u.timeout)
	src, engine := u.check.src.res, u.to.engine
	fetched := async(func() (*source.Artifact, error) {
		// A drift correction needs no fetch when the stored render holds
		// the last render.
		if u.check.only != nil && r.storedRendering(ctx, u) != nil {
			return nil, nil
		}
		return r.sources.Fetch(ctx, src)
	})
	discovered := discoverAsync(ctx, engine)
	r.stopReadAhead = func() {
		cancel()
		_, _ = fetched()
		discovered()
	}
}

// discoverAsync reads e's API discovery in the background (Engine.Discover)
// and returns a function that waits for the read. A failed read is not
// kept: the first lookup reads again and reports it.
func discoverAsync(ctx context.Context, e *apply.Engine) (wait func()) {
	done := async(func() (struct{}, error) { return struct{}{}, e.Discover(ctx) })
	return func() { _, _ = done() }
}

// unitsCheck is the state of the check of a sync's units before the run
// takes its Lease.
type unitsCheck struct {
	on   atomic.Bool
	stop context.CancelFunc
	mu   sync.Mutex
	// reason is why the run needs the Lease; "" while none was found.
	reason string
}

func (c *unitsCheck) why() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason
}

// checking tells whether the run is checking its units without the Lease.
func (r *runner) checking() bool { return r.check.on.Load() }

// needLease records that the checked run needs writes, for reason, ends
// the check and returns the error the unit ends with.
func (r *runner) needLease(reason string) error {
	c := &r.check
	c.mu.Lock()
	if c.reason == "" {
		c.reason = reason
	}
	c.mu.Unlock()
	c.stop()
	return fmt.Errorf("%s: needs writes, left to the run under the Lease", reason)
}

// checkUnit is a unit's pass while the run checks without the Lease: its
// check only. A unit that would write, or failed (its failure is to be
// recorded), or is not idle ends the check.
func (r *runner) checkUnit(ctx context.Context, u *unit) error {
	ctx, cancel := context.WithTimeout(ctx, u.timeout)
	defer cancel()
	r.unitCheck(ctx, u)
	switch {
	case !u.check.over:
		return r.needLease(u.name() + " changed")
	case u.res.Outcome != Succeeded:
		return r.needLease(u.name() + " failed")
	case !idle(u):
		return r.needLease(u.name() + " has a new record")
	}
	return nil
}

// finishIdle ends a run whose check found nothing to do, without the Lease,
// and reports whether it did. It notifies the providers that want every
// run; when one did get a notification, what became of it is recorded, so
// the run goes on to take the Lease (and finishIdle returns false).
func (r *runner) finishIdle(ctx context.Context, inv *inventory.Inventory, res *Result) bool {
	if !nothingToRecord(&inv.Record, inv.Record.Units, res) {
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
// same revision and spec digest, without rendering, drift or
// notifications, with the same signer, target and identity, and its units
// are those of the record as read (units), unchanged.
func nothingToRecord(rec *inventory.Record, units []inventory.UnitRecord, res *Result) bool {
	return res.Outcome == Succeeded && !res.Rendered && len(res.Drifted) == 0 &&
		res.Applied == nil && res.Pruned == nil && unitsUnchanged(units, res.Units) && len(res.Notify) == 0 &&
		rec.LastRun.Result == inventory.ResultSucceeded && rec.LastRun.FailedUnits == 0 &&
		rec.LastAppliedRevision == res.Revision && rec.LastAppliedSpecDigest == res.specDigest &&
		rec.LastRun.VerifiedBy == res.VerifiedBy && rec.LastRun.Target == res.Target &&
		rec.LastRun.ServiceAccount == res.ServiceAccount
}

// unitsUnchanged tells whether the run's units are the recorded ones, each
// succeeded without rendering, drift or removal, at its recorded revision.
// Their times, messages and order (units run concurrently) are not
// compared: the record keeps those of the run that last wrote it.
func unitsUnchanged(recorded []inventory.UnitRecord, units []UnitResult) bool {
	if len(recorded) != len(units) {
		return false
	}
	byID := make(map[flux.ID]inventory.UnitRecord, len(recorded))
	for _, rec := range recorded {
		byID[recordID(rec)] = rec
	}
	for _, u := range units {
		rec, ok := byID[u.ID]
		if !ok || u.Outcome != Succeeded || u.Rendered || len(u.Drifted) > 0 || u.Removed || u.Pruned != nil ||
			recordID(rec) != u.ID || rec.Result != inventory.ResultSucceeded || rec.Revision != u.Revision ||
			rec.Suspended != u.Suspended || rec.Objects != u.Objects || rec.State != u.State {
			return false
		}
		// Where it sits in the tree.
		if want := unitRecord(rec, u); u.Parent != parseID(rec.Parent) || want.Source != rec.Source ||
			!slices.Equal(want.DependsOn, rec.DependsOn) || want.BlockedBy != rec.BlockedBy {
			return false
		}
	}
	return true
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
	r.renders = renderStore{}
	r.rootSource = nil
	r.check = unitsCheck{}
	return helm.WithIndexCache(ctx, r.indexes)
}
