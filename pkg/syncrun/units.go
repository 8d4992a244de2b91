package syncrun

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/gitsync/gitsync/pkg/apply"
	"github.com/gitsync/gitsync/pkg/flux"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/names"
)

// How a run executes the Flux objects its render holds (docs/architecture.md,
// "Units"):
//
//  1. The sync itself is the root unit. Its render is split: Flux's own
//     installation is left out (unless spec.flux.installation: Apply),
//     Flux's objects become the root's children, the rest is applied.
//  2. The children are decoded (a Flux object gitsync cannot read becomes
//     a unit that fails, naming the object and the field) and added to a
//     flux.Graph; flux.Schedule runs each Kustomization and HelmRelease
//     with runFluxUnit, a bounded number at once, each after the units it
//     depends on succeeded. A unit's render may hold more Flux objects:
//     they join the graph as its children.
//  3. Prune waits for every unit: the stale objects of every unit (the
//     sync's own included) are pruned once all units applied, except the
//     objects another unit of the run now renders — an object moved from
//     one unit to another in one commit is relabelled by its new unit and
//     never deleted, whichever unit ran first.
//  4. Units that left Git (in the last run's list, not in this run's,
//     while the unit whose render held them rendered in this run) have
//     their objects deleted as their deletion policy says, then their
//     state.
//  5. Each unit that ran records its own state; the sync's record lists
//     every unit; the Flux objects of each render are stored for the next
//     run (tree.go).

// LabelUnit is set on every object a unit applies, to the unit's state
// name (flux.StateName): the unit's inventory ConfigMap is
// gitsync-<value>-inventory, and the sync's record lists the unit under
// that state name.
const LabelUnit = "gitsync.io/unit"

// UnitResult is what a run did with one unit: a Flux Kustomization or
// HelmRelease (or another Flux object that could not be read as one).
type UnitResult struct {
	// ID is the Flux object; Parent the unit whose render held it, zero
	// for the sync's own render.
	ID, Parent flux.ID
	// State is the unit's state name (flux.StateName); "" for an object
	// that could not be read as a unit.
	State string
	// Source is what the unit reads; DependsOn the units it waited for.
	Source    flux.ID
	DependsOn []flux.ID
	// BlockedBy names the dependency, or the unit whose render held it,
	// that did not succeed, for a unit that was Skipped.
	BlockedBy string
	// Suspended is the unit's spec.suspend: it did not run.
	Suspended bool
	// Removed is set for a unit that left Git: its objects were deleted
	// as its deletion policy says (Pruned), then its state.
	Removed bool
	// Result is what the unit's pass did; Outcome is Succeeded, Failed or
	// Skipped. Its Units are empty.
	Result
}

// runUnits runs the units the root's render holds (or held, when the root
// did not render), prunes, collects units that left Git and records them
// all. A sync whose render never held a Flux object returns at once.
func (r *runner) runUnits(ctx context.Context, root *unit) {
	res := root.res
	prev := root.inv.Record.Units
	if len(prev) == 0 && len(root.children) == 0 {
		return
	}
	// Said once per run: from the render, or as the last render found it.
	res.FluxInstallation = root.installationSummary
	if res.FluxInstallation != "" && !r.sync.Spec.Flux.ApplyInstallation() {
		r.log.Info(res.FluxInstallation)
	}

	rootOK := res.Outcome == Succeeded && root.childrenKnown
	deadline := ""
	g := flux.NewGraph(r.graphOptions())
	var results []flux.Result
	if rootOK {
		if err := g.Add(flux.ID{}, r.decodeChildren(root)...); err != nil {
			res.Outcome, res.Err = Failed, fmt.Errorf("flux: %w", err)
			res.Message = res.Err.Error()
			rootOK = false
		} else {
			uctx, cancel := r.unitsContext(ctx, res.Start)
			defer cancel()
			// The check before the Lease only reads: its units need not
			// wait for their dependencies (noop.go).
			results = flux.Schedule(uctx, g, flux.ScheduleOptions{Run: r.runFluxUnit, Concurrency: r.sync.Spec.Flux.UnitConcurrency(),
				Unordered: r.checking(), DependencyReady: r.dependencyReady})
			deadline = r.deadlineNote(uctx, r.runBudget(g))
		}
	}
	r.prunePhase(ctx, root)
	budget := r.runBudget(g)
	records, out := r.collectUnits(ctx, g, results, prev, rootOK)
	r.fluxNotify(ctx, g, prev, out, res)
	r.recordUnits(ctx)

	root.inv.Record.Units = records
	root.inv.Record.RunBudget = metav1.Duration{Duration: budget}
	root.inv.Record.Images = r.tree.images.imageRecords(root.inv.Record.Images, records)
	res.Units = out
	keep := map[string]*unit{r.opts.Name: root}
	ran := map[string]*unit{}
	for _, u := range r.tree.ran() {
		ran[u.store.Sync] = u
	}
	for _, rec := range records {
		if rec.State != "" {
			keep[rec.State] = ran[rec.State]
		}
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishBudget)
	defer cancel()
	r.saveTree(fctx, keep)
	r.summarizeUnits(res, out)
	if note := receiversNote(g); note != "" {
		r.log.Info(note)
		res.Message += "; " + note
	}
	if deadline != "" {
		res.Message += "; " + deadline
	}
}

// runFluxUnit is the flux.RunFunc of a run: it runs one unit and returns
// the Flux objects its render held.
func (r *runner) runFluxUnit(ctx context.Context, fu flux.Unit, sources []flux.Object) ([]flux.Object, error) {
	if b, ok := fu.(*brokenObject); ok {
		return nil, b.err
	}
	for _, s := range sources {
		if b, ok := s.(*brokenObject); ok {
			return nil, fmt.Errorf("source %s: %w", b.meta.ID, b.err)
		}
	}
	id := fu.Metadata().ID
	if act := unitActions[id.Kind]; act != nil {
		if r.checking() {
			return nil, r.needLease(id.String() + " acts on its own (it may push to Git)")
		}
		return nil, r.runAction(ctx, act, fu, sources)
	}
	build := unitKinds[id.Kind]
	if build == nil {
		return nil, fmt.Errorf("kind %s is not run as a unit", id.Kind)
	}
	state := flux.StateName(r.opts.Name, id)
	store := r.unitStore(state)
	res := &Result{Start: r.now()}
	u := &unit{id: id, parent: r.tree.parentOf(id), store: store, res: res, labels: r.unitLabels(store)}
	inv, err := store.Load(ctx)
	if err != nil {
		return nil, err
	}
	u.inv = inv
	kind, settings, err := build(ctx, r, fu, sources, inv)
	if err != nil {
		res.Outcome, res.Err, res.End = Failed, fmt.Errorf("source: %w", err), r.now()
		res.Message = res.Err.Error()
		r.tree.add(u)
		return nil, res.Err
	}
	u.kind, u.unitSettings = kind, settings
	u.deferPrune = true
	u.healthWhenUnchanged = r.tree.isDependedOn(id) && (u.wait || len(u.healthChecks) > 0)
	r.tree.add(u)
	switch {
	case fu.Suspended():
		r.suspended(ctx, u)
	case r.checking():
		if err := r.checkUnit(ctx, u); err != nil {
			return nil, err
		}
	default:
		r.unitPass(ctx, u)
	}
	res.End = r.now()
	attrs := []any{"unit", id.String(), "result", string(res.Outcome), "revision", res.Revision, "rendered", res.Rendered,
		"objects", res.Objects, "duration", res.End.Sub(res.Start).String()}
	if res.Outcome != Succeeded {
		r.log.Warn("unit failed", append(attrs, "error", res.Message)...)
		return nil, res.Err
	}
	r.log.Info("unit", attrs...)
	return r.decodeChildren(u), nil
}

// suspended handles a suspended unit: it does not run, its objects stay as
// they are (and are still this unit's: nothing prunes them), and the Flux
// objects its last render held still run.
func (r *runner) suspended(ctx context.Context, u *unit) {
	res, inv := u.res, u.inv
	u.suspendedUnit = true
	res.Revision, res.Objects = inv.Record.LastAppliedRevision, len(inv.Entries)
	u.current = inv.Entries
	if err := r.claim(u, inv.Entries); err != nil {
		res.Outcome, res.Err = Failed, err
		res.Message = err.Error()
		return
	}
	r.restoreChildren(ctx, u)
	res.Outcome = Succeeded
	res.Message = fmt.Sprintf("suspended: not run; its %d objects stay as revision %s left them", len(inv.Entries), res.Revision)
}

// unitStore returns the store of the unit with state name state.
func (r *runner) unitStore(state string) *inventory.Store {
	return &inventory.Store{Client: r.client, Namespace: r.opts.Namespace, Sync: state,
		Labels: map[string]string{inventory.LabelUnitOf: r.opts.Name}}
}

// unitLabels are the labels a unit sets on the objects it applies: its
// own ApplySet, the sync's labels, and LabelUnit.
func (r *runner) unitLabels(store *inventory.Store) map[string]string {
	return map[string]string{
		inventory.LabelApplySetPartOf: store.ParentID(),
		inventory.LabelSync:           r.opts.Name,
		names.LabelSyncNamespace:      r.opts.Namespace,
		LabelUnit:                     store.Sync,
	}
}

// brokenObject stands for a Flux object of the run that could not be
// decoded: an unsupported field, kind or version, or an invalid value. It
// is a unit that fails with the decoder's errors, so that the object is
// never dropped silently, nothing of it is applied, units that depend on
// it are skipped, and units that read it as a source fail naming it.
type brokenObject struct {
	meta flux.Meta
	err  error
}

func (b *brokenObject) Metadata() *flux.Meta    { return &b.meta }
func (b *brokenObject) Dependencies() []flux.ID { return nil }
func (b *brokenObject) SourceRef() flux.ID      { return b.meta.ID } // itself: it runs, and fails, at once
func (b *brokenObject) Suspended() bool         { return false }
func (b *brokenObject) String() string          { return b.meta.ID.String() }
func newBroken(id flux.ID, err error) *brokenObject {
	return &brokenObject{meta: flux.Meta{ID: id}, err: withoutPrefix(err, id)}
}

// withoutPrefix drops "Kind/namespace/name: " from the start of each line
// of err's message (the scheduler names the unit already), keeping err for
// errors.Is and As.
func withoutPrefix(err error, id flux.ID) error {
	prefix := id.String() + ": "
	lines := strings.Split(err.Error(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, prefix)
	}
	return &wrapped{err: err, msg: strings.Join(lines, "\n")}
}

// decodeChildren decodes the Flux objects unit u's render held (and, for
// the sync itself, the GitRepository of Flux's gotk-sync.yaml, which is
// the sync's own repository), and remembers them as rendered.
func (r *runner) decodeChildren(u *unit) []flux.Object {
	var out []flux.Object
	add := func(raw *unstructured.Unstructured, own bool) {
		id := flux.ID{Kind: raw.GetKind(), Namespace: raw.GetNamespace(), Name: raw.GetName()}
		if id.Namespace == "" {
			id.Namespace = u.namespace
		}
		obj, err := flux.Decode(raw, flux.DecodeOptions{DefaultNamespace: u.namespace})
		if err != nil {
			if file := u.childFiles[raw]; file != "" {
				err = errors.Join(err, fmt.Errorf("%s: read from %s", id, file))
			}
			obj = newBroken(id, err)
		}
		t := r.tree
		t.mu.Lock()
		t.raw[id] = raw
		t.parents[id] = u.id
		if own {
			t.own[id] = true
		}
		if fu, ok := obj.(flux.Unit); ok {
			for _, dep := range fu.Dependencies() {
				t.dependedOn[dep] = true
			}
		}
		out = append(out, obj)
		if g, ok := obj.(*flux.ArtifactGenerator); ok {
			// Its artifacts are sources of the graph; the generator's
			// manifest is part of the digest of each unit reading one.
			for _, a := range g.ExternalArtifacts() {
				aid := a.Metadata().ID
				t.raw[aid] = raw
				t.parents[aid] = u.id
				out = append(out, a)
			}
		}
		t.mu.Unlock()
	}
	for _, c := range u.children {
		add(c, false)
	}
	for _, o := range u.installation.Sync {
		if o.GroupVersionKind().Group == flux.SourceGroup && o.GetKind() == flux.KindGitRepository {
			add(o, true)
		}
	}
	return out
}

// prunePhase prunes the stale objects of every unit that applied, the
// units last first and the sync's own last, leaving out the objects
// another unit of the run renders now: they moved, and their new unit
// relabelled them.
func (r *runner) prunePhase(ctx context.Context, root *unit) {
	ran := r.tree.ran()
	var todo []*unit
	for i := len(ran) - 1; i >= 0; i-- {
		todo = append(todo, ran[i])
	}
	todo = append(todo, root)
	for _, u := range todo {
		if !u.applied || len(u.stale) == 0 {
			continue
		}
		r.pruneUnit(ctx, u)
	}
}

func (r *runner) pruneUnit(ctx context.Context, u *unit) {
	res := u.res
	moved := r.tree.claimedByOthers(u.name(), u.stale)
	var stale []inventory.Entry
	for _, e := range u.stale {
		if !moved[e.ID] {
			stale = append(stale, e)
		}
	}
	if len(moved) > 0 {
		r.log.Info("objects moved to other units of the sync", "unit", u.name(), "objects", len(moved))
	}
	ctx, cancel := context.WithTimeout(ctx, u.timeout)
	defer cancel()
	fail := func(err error) {
		res.Outcome, res.Err = Failed, err
		res.Message = err.Error()
	}
	if err := r.guard(ctx, "prune"); err != nil {
		fail(fmt.Errorf("lease: %w", err))
		return
	}
	pruned, err := u.to.engine.Prune(ctx, targets(stale), apply.PruneOptions{Selector: u.labels, Concurrency: r.opts.Concurrency, InScope: r.pruneScope()})
	res.Pruned = pruned
	if err == nil {
		err = pruned.Err()
	}
	u.inv.Entries = inventory.Narrow(u.current, stale, deletedIDs(pruned))
	if err != nil {
		fail(fmt.Errorf("prune: %w", err))
		return
	}
	if res.Outcome == Succeeded {
		res.Message = summary(res)
	}
}

// recordUnits writes the state of every unit that ran, on a context
// detached from the run's (a terminated run still says what its units
// did), within finishBudget.
func (r *runner) recordUnits(ctx context.Context) {
	if r.checking() {
		return // every unit that ran was idle, or the run takes the Lease and starts over
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishBudget)
	defer cancel()
	if err := r.guard(ctx, "record"); err != nil {
		r.log.Error("the units' results are not recorded", "error", err)
		return
	}
	units := r.tree.ran()
	forEachUnit(units, r.sync.Spec.Flux.UnitConcurrency(), func(u *unit) {
		if u.suspendedUnit || u.inv == nil || idle(u) {
			return
		}
		u.res.Retries = 0
		r.saveState(ctx, u.store, u.inv, u.res, nil)
	})
}

// idle reports whether unit u found nothing to do: it succeeded as it did
// last time, at the same revision and spec, without rendering or drift. It
// writes nothing then (the sync's record says when it ran): a tree of
// units that did not change costs reads only.
func idle(u *unit) bool {
	rec, res := &u.inv.Record, u.res
	return res.Outcome == Succeeded && !res.Rendered && len(res.Drifted) == 0 && res.Pruned == nil &&
		rec.LastRun.Result == inventory.ResultSucceeded && rec.LastAppliedRevision == res.Revision &&
		rec.LastAppliedSpecDigest == res.specDigest
}

// forEachUnit calls fn for every unit, n at a time.
func forEachUnit(units []*unit, n int, fn func(*unit)) {
	sem := make(chan struct{}, max(n, 1))
	done := make(chan struct{})
	for _, u := range units {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; done <- struct{}{} }()
			fn(u)
		}()
	}
	for range units {
		<-done
	}
}

// collectUnits turns the schedule's results into the sync's unit list and
// the run's UnitResults, deletes what units that left Git applied (when
// the unit whose render held them rendered in this run) and keeps the
// others' entries as they were.
func (r *runner) collectUnits(ctx context.Context, g *flux.Graph, results []flux.Result, prev []inventory.UnitRecord, rootOK bool) ([]inventory.UnitRecord, []UnitResult) {
	ran := map[flux.ID]*unit{}
	for _, u := range r.tree.ran() {
		ran[u.id] = u
	}
	prevByID := map[flux.ID]inventory.UnitRecord{}
	for _, p := range prev {
		prevByID[recordID(p)] = p
	}
	status := map[flux.ID]flux.Status{}
	for _, sr := range results {
		status[sr.Unit] = sr.Status
	}

	var records []inventory.UnitRecord
	var out []UnitResult
	for _, sr := range results {
		ur := UnitResult{ID: sr.Unit, Parent: sr.Parent}
		rec := inventory.UnitRecord{Kind: sr.Unit.Kind, Namespace: sr.Unit.Namespace, Name: sr.Unit.Name}
		if sr.Parent != (flux.ID{}) {
			rec.Parent = sr.Parent.String()
		}
		old := prevByID[sr.Unit]
		rec.Revision, rec.DeletionPolicy = old.Revision, old.DeletionPolicy
		if fu, ok := g.Object(sr.Unit).(flux.Unit); ok {
			if _, broken := fu.(*brokenObject); !broken {
				if unitActions[sr.Unit.Kind] == nil {
					ur.State = flux.StateName(r.opts.Name, sr.Unit)
				}
				ur.Source, ur.DependsOn, ur.Suspended = fu.SourceRef(), g.Dependencies(fu), fu.Suspended()
				rec.DeletionPolicy = deletionPolicy(fu)
			}
		}
		if u := ran[sr.Unit]; u != nil {
			ur.Result = *u.res
			if sr.Status == flux.Failed && u.res.Outcome == Succeeded {
				// It ran, but what it rendered could not join the run
				// (an object defined twice).
				msg := strings.TrimPrefix(sr.Err.Error(), sr.Unit.String()+": ")
				ur.Outcome, ur.Err, ur.Message = Failed, sr.Err, msg
				u.res.Outcome, u.res.Err, u.res.Message = Failed, sr.Err, msg
			}
		} else if ar := r.tree.images.result(sr.Unit); ar != nil {
			// An action (an ImageUpdateAutomation) ran.
			ur.Result = *ar
		} else {
			ur.Outcome = Failed
			if sr.Status == flux.Skipped {
				ur.Outcome = Skipped
				ur.BlockedBy = blockedBy(ur.DependsOn, status)
			}
			ur.Err, ur.Start, ur.End = sr.Err, sr.Start, sr.End
			if sr.Err != nil {
				// The unit is named by its record already.
				ur.Message = strings.TrimPrefix(sr.Err.Error(), sr.Unit.String()+": ")
			}
		}
		records = append(records, unitRecord(rec, ur))
		out = append(out, ur)
	}

	// Units of the last run that are not in this one.
	present := map[flux.ID]bool{}
	for _, sr := range results {
		present[sr.Unit] = true
	}
	memo := map[string]bool{}
	var authoritative func(parent string, depth int) bool
	authoritative = func(parent string, depth int) bool {
		if parent == "" {
			return rootOK
		}
		if v, ok := memo[parent]; ok {
			return v
		}
		id := parseID(parent)
		v := true
		switch p, known := prevByID[id]; {
		case present[id]:
			u := ran[id]
			v = status[id] == flux.Succeeded && u != nil && u.childrenKnown
		case known && depth < 64:
			// The parent left too: its children go with it.
			v = authoritative(p.Parent, depth+1)
		}
		memo[parent] = v
		return v
	}
	var gone []inventory.UnitRecord
	for _, p := range prev {
		if present[recordID(p)] {
			continue
		}
		if authoritative(p.Parent, 0) {
			gone = append(gone, p)
			continue
		}
		ur := UnitResult{ID: recordID(p), Parent: parseID(p.Parent), State: p.State, BlockedBy: p.Parent}
		if p.Parent == "" {
			ur.BlockedBy = "the sync"
		}
		ur.Outcome = Skipped
		ur.Revision = p.Revision
		ur.Message = fmt.Sprintf("not run: %s did not succeed, so this run does not know whether it is still in Git; its objects and state are kept", ur.BlockedBy)
		records = append(records, unitRecord(p, ur))
		out = append(out, ur)
	}
	// Children before parents: the last run listed parents first.
	for i := len(gone) - 1; i >= 0; i-- {
		p := gone[i]
		ur := r.removeUnit(ctx, p)
		out = append(out, ur)
		if ur.Outcome != Succeeded {
			records = append(records, unitRecord(p, ur))
		}
	}
	return records, out
}

// unitRecord returns rec updated with what ur says.
func unitRecord(rec inventory.UnitRecord, ur UnitResult) inventory.UnitRecord {
	rec.State = ur.State
	if ur.Source != (flux.ID{}) {
		rec.Source = ur.Source.String()
	}
	rec.DependsOn = nil
	for _, d := range ur.DependsOn {
		rec.DependsOn = append(rec.DependsOn, d.String())
	}
	rec.BlockedBy = ur.BlockedBy
	switch ur.Outcome {
	case Succeeded:
		rec.Result = inventory.ResultSucceeded
	case Skipped:
		rec.Result = inventory.ResultSkipped
	default:
		rec.Result = inventory.ResultFailed
	}
	rec.Message = ur.Message
	if ur.Revision != "" {
		rec.Revision = ur.Revision
	}
	rec.Start, rec.End = ur.Start, ur.End
	rec.Rendered, rec.Objects, rec.Suspended = ur.Rendered, ur.Objects, ur.Suspended
	return rec
}

// blockedBy returns the first dependency that did not succeed.
func blockedBy(deps []flux.ID, status map[flux.ID]flux.Status) string {
	for _, d := range deps {
		if status[d] != flux.Succeeded {
			return d.String()
		}
	}
	return ""
}

func recordID(p inventory.UnitRecord) flux.ID {
	return flux.ID{Kind: p.Kind, Namespace: p.Namespace, Name: p.Name}
}

// parseID reads Kind/namespace/name; the zero ID for "".
func parseID(s string) flux.ID {
	kind, rest, _ := strings.Cut(s, "/")
	ns, name, _ := strings.Cut(rest, "/")
	return flux.ID{Kind: kind, Namespace: ns, Name: name}
}

// removeUnit deletes what a unit that left Git applied, as its deletion
// policy (recorded while it was there) says, then its state. Objects
// another unit of the run renders now moved there and are kept. When a
// deletion fails, the unit's state keeps what is left and the next run
// tries again.
func (r *runner) removeUnit(ctx context.Context, p inventory.UnitRecord) UnitResult {
	ur := UnitResult{ID: recordID(p), Parent: parseID(p.Parent), State: p.State, Removed: true}
	ur.Start, ur.Revision = r.now(), p.Revision
	if r.checking() {
		ur.Outcome, ur.Err = Failed, r.needLease(ur.ID.String()+" left Git")
		ur.Message = ur.Err.Error()
		return ur
	}
	defer func() { ur.End = r.now() }()
	fail := func(err error) UnitResult {
		ur.Outcome, ur.Err = Failed, fmt.Errorf("removed from Git: %w", err)
		ur.Message = ur.Err.Error()
		r.log.Warn("unit removed from Git: deleting its objects failed", "unit", ur.ID.String(), "error", err)
		return ur
	}
	if p.State == "" {
		ur.Outcome, ur.Message = Succeeded, "removed from Git; it had no state"
		return ur
	}
	ctx, cancel := context.WithTimeout(ctx, r.sync.Spec.Timeout.Duration)
	defer cancel()
	if err := r.guard(ctx, "prune"); err != nil {
		return fail(fmt.Errorf("lease: %w", err))
	}
	store := r.unitStore(p.State)
	inv, err := store.Load(ctx)
	if err != nil {
		return fail(err)
	}
	ur.Objects = len(inv.Entries)
	// The unit's own serviceAccountName and kubeConfig went with it: its
	// objects are deleted where, and as whom, the sync's own go.
	to, err := r.rootDestination(ctx)
	if err != nil {
		return fail(fmt.Errorf("target: %w", err))
	}
	policy := p.DeletionPolicy
	if policy == "" {
		policy = inventory.DeletionDelete
	}
	if policy != inventory.DeletionOrphan && len(inv.Entries) > 0 {
		moved := r.tree.claimedByOthers(ur.ID.String(), inv.Entries)
		var stale []inventory.Entry
		for _, e := range inv.Entries {
			if !moved[e.ID] {
				stale = append(stale, e)
			}
		}
		pruned, err := to.engine.Prune(ctx, targets(stale), apply.PruneOptions{Selector: r.unitLabels(store), Concurrency: r.opts.Concurrency, InScope: r.pruneScope()})
		ur.Pruned = pruned
		if err == nil {
			err = pruned.Err()
		}
		left := inventory.Narrow(nil, stale, deletedIDs(pruned))
		if err == nil && len(left) > 0 {
			err = fmt.Errorf("%d objects were not deleted", len(left))
		}
		if err != nil {
			inv.Entries = left
			if serr := store.Save(ctx, inv); serr != nil {
				r.log.Warn("saving the state of a removed unit failed", "unit", ur.ID.String(), "error", serr)
			}
			return fail(err)
		}
		if policy == inventory.DeletionWait {
			// Orphaned objects (outside the scope) are not waited for.
			if err := r.waitGone(ctx, to, inventory.Narrow(nil, stale, orphanedIDs(pruned))); err != nil {
				return fail(err)
			}
		}
	}
	if err := store.Delete(ctx); err != nil {
		return fail(fmt.Errorf("deleting its state: %w", err))
	}
	ur.Outcome = Succeeded
	ur.Message = fmt.Sprintf("removed from Git: %d objects %s", ur.Objects, map[bool]string{true: "left in place (deletion policy Orphan)", false: "deleted"}[policy == inventory.DeletionOrphan])
	if s := orphanedSummary(orphanedIDs(ur.Pruned)); s != "" {
		ur.Message += "; " + s
		r.emitOrphaned(ctx, store.Sync, orphanedIDs(ur.Pruned), &Result{End: r.now()})
	}
	r.log.Info("unit removed from Git", "unit", ur.ID.String(), "objects", ur.Objects, "deletionPolicy", policy)
	return ur
}

// waitGone waits until every object of entries is gone (Flux's
// WaitForTermination), polling.
func (r *runner) waitGone(ctx context.Context, to *destination, entries []inventory.Entry) error {
	dyn, err := dynamic.NewForConfig(to.cfg)
	if err != nil {
		return err
	}
	for _, e := range entries {
		for {
			_, err := dyn.Resource(e.GroupVersionResource()).Namespace(e.Namespace).Get(ctx, e.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				break
			}
			if err != nil {
				return fmt.Errorf("%s: waiting for its deletion: %w", e.ID, err)
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s: still there: %w", e.ID, ctx.Err())
			case <-time.After(hookPollInterval):
			}
		}
	}
	return nil
}

// summarizeUnits adds what the units did to the run's message, and fails
// the run when one of them failed or was skipped; the sync's own objects
// stay applied and recorded as such.
func (r *runner) summarizeUnits(res *Result, units []UnitResult) {
	counts := map[Outcome]int{}
	removed := 0
	var problems []string
	for _, u := range units {
		if u.Removed && u.Outcome == Succeeded {
			removed++
			continue
		}
		counts[u.Outcome]++
		if u.Outcome != Succeeded {
			problems = append(problems, fmt.Sprintf("%s %s: %s", u.ID, strings.ToLower(string(u.Outcome)), firstLine(u.Message)))
		}
	}
	var parts []string
	for _, o := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%d %s", counts[o], strings.ToLower(string(o))))
	}
	if removed > 0 {
		parts = append(parts, fmt.Sprintf("%d removed", removed))
	}
	line := fmt.Sprintf("%d %s", len(units), plural(len(units), "unit"))
	if len(parts) > 0 {
		line += " (" + strings.Join(parts, ", ") + ")"
	}
	res.Message += "; " + line
	if res.FluxInstallation != "" && !r.sync.Spec.Flux.ApplyInstallation() {
		res.Message += "; " + res.FluxInstallation
	}
	if len(problems) == 0 {
		return
	}
	failed := len(problems)
	if res.Outcome == Succeeded {
		res.selfSucceeded, res.failedUnits = true, failed
		res.Outcome = Failed
		res.Err = fmt.Errorf("units: %d of %d did not succeed: %s", failed, len(units), strings.Join(problems, "; "))
	}
	res.Message += "; " + strings.Join(problems, "; ")
}

// receiversNote says which Receivers of the tree are not run, and why;
// "" when it has none. They are read (a mistake in one fails it, named) but
// never fail the run: the schedule does what they would.
func receiversNote(g *flux.Graph) string {
	rs := g.Objects(flux.KindReceiver)
	if len(rs) == 0 {
		return ""
	}
	ids := make([]string, len(rs))
	for i, o := range rs {
		ids[i] = o.Metadata().ID.String()
	}
	return listSome(ids, 10) + ": " + flux.NoteReceiver
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
