package syncrun

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gitsync/gitsync/pkg/apply"
	"github.com/gitsync/gitsync/pkg/flux"
	"github.com/gitsync/gitsync/pkg/helm"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/object"
	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/spec"
)

// A unit is one part of a run with its own source, render, state and
// apply: the sync itself (the root unit), or a Flux Kustomization or
// HelmRelease that a render held (units.go). Every unit goes through the
// same pass, unitPass: inputs → resolve → (fetch → render) → apply →
// (prune) → health → hooks, or only the drift check when nothing changed.
// What a kind of unit contributes (its inputs, its source, its render) is
// behind unitKind; how it applies, prunes and waits is in unitSettings.
type unit struct {
	// id is the Flux object; zero for the sync itself. parent is the unit
	// whose render held it; zero for the sync's own render.
	id, parent flux.ID
	// store keeps the unit's inventory, record and history; inv is what it
	// held when the unit started, and what the pass updates.
	store *inventory.Store
	inv   *inventory.Inventory
	// labels are set on every object the unit applies: the ApplySet of
	// its store, the sync's labels and, for a Flux unit, LabelUnit.
	labels map[string]string
	kind   unitKind
	unitSettings

	// res is what the pass did.
	res *Result
	// current are the unit's objects after the pass; stale the objects of
	// its previous inventory it no longer renders, left for the prune
	// phase when deferPrune (see units.go).
	current, stale []inventory.Entry
	// applied is set once apply succeeded: only then may its stale objects
	// be pruned.
	applied bool
	// children are the Flux objects the unit's render held, lifted out of
	// what it applies; from the stored tree when it did not render.
	// childrenKnown is false when neither is available (the pass failed
	// before rendering).
	children      []*unstructured.Unstructured
	childrenKnown bool
	// childFiles names the file of the source each child was read from,
	// when the render said (not for children of the stored tree), so that
	// an object that cannot be decoded is reported with its file.
	childFiles map[*unstructured.Unstructured]string
	// installation is Flux's own installation found in the render (of its
	// gotk-sync.yaml only, when restored); installationSummary says what
	// it held.
	installation        flux.Installation
	installationSummary string
	// suspendedUnit is set for a suspended unit, which did not run.
	suspendedUnit bool
	// inputs and inputsDigest are the directories its last render looked
	// into and their digest (render.InputsDigest), kept in the stored tree.
	inputs       []string
	inputsDigest string
	// to is where its objects go, bound from dest when its pass starts.
	to *destination
	// check is what the first half of its pass decided (unitCheck); nil
	// until then.
	check *decision
}

// unitSettings say how a unit applies, prunes and waits: a Sync spec's
// fields, or their Flux equivalents.
type unitSettings struct {
	// namespace receives namespaced objects rendered without a namespace:
	// targetNamespace, else the sync's namespace (a HelmRelease's own
	// namespace for its release).
	namespace string
	// prune deletes objects no longer rendered; allowEmpty lets an empty
	// render prune everything.
	prune, allowEmpty bool
	// force recreates objects on immutable-field changes; adopt takes
	// objects of other owners.
	force, adopt bool
	// wait waits for every applied object, healthChecks for the named
	// ones; waitForJobs includes Jobs in wait.
	wait, waitForJobs bool
	healthChecks      []spec.HealthCheck
	// healthExprs judge the kinds they name by CEL instead of kstatus
	// (health.go).
	healthExprs []spec.CustomHealthCheck
	// timeout bounds the unit's pass.
	timeout time.Duration
	// hooks runs a chart's hooks around apply.
	hooks bool
	// test runs the chart's tests after an install or upgrade; nil when
	// its spec.test does not enable them.
	test *unitTest
	// deferPrune leaves the stale objects to the run's prune phase,
	// after every unit applied (units.go); false for a sync without
	// units, which prunes right after apply, as it always did.
	deferPrune bool
	// healthWhenUnchanged checks health also when the unit only checked
	// drift: other units depend on it being ready.
	healthWhenUnchanged bool
	// ignore names fields of existing objects that apply leaves to other
	// writers once gitsync no longer owns them, and that the drift check
	// does not compare (apply.IgnoreRule): a Kustomization's spec.ignore;
	// a HelmRelease's driftDetection.ignore with ignoreOnlyDrift, whose
	// upgrade applies every field as helm-controller's does
	// (apply.Options.ApplyIgnored).
	ignore          []apply.IgnoreRule
	ignoreOnlyDrift bool
	// driftMode is what a run where nothing of the unit changed does about
	// drift: flux.DriftEnabled and "" (a sync's own unit, a Kustomization)
	// correct it, flux.DriftWarn reports it and leaves it,
	// flux.DriftDisabled does not look for it (a HelmRelease's
	// driftDetection.mode, disabled when not set, as in helm-controller).
	driftMode string
	// dest says which cluster and identity the unit's objects are read
	// and written with: serviceAccountName and kubeConfig (target.go).
	dest destinationRef
}

// unitTest says how a unit's chart tests run: spec.helm.test of a Sync, a
// HelmRelease's spec.test.
type unitTest struct {
	// timeout bounds the tests together, beyond the unit's timeout.
	timeout time.Duration
	// ignoreFailures leaves the unit succeeded when a test fails.
	ignoreFailures bool
	filters        spec.HelmTestFilters
}

// unitKind is what one kind of unit (the sync itself, a Kustomization, a
// HelmRelease) contributes to the pass. A new Flux kind becomes a unit by
// implementing it (and registering in unitKinds, fluxunits.go); the pass
// never asks which kind it runs.
type unitKind interface {
	// inputs reads what the render depends on from the cluster:
	// substitution variables, Helm values.
	inputs(ctx context.Context) (*inputs, error)
	// resolve returns the revision of the unit's source without
	// fetching it; last is the unit's record.
	resolve(ctx context.Context, last *inventory.Record) (*resolvedSource, error)
	// render fetches the resolved source and renders the unit's objects.
	render(ctx context.Context, src *resolvedSource, in *inputs, isUpgrade bool) (*rendering, error)
	// specDigest returns the digest of what the unit renders and applies
	// besides its source: its spec, and inputsDigest (the digest of what
	// inputs read and of the source's content).
	specDigest(inputsDigest string) string
}

// resolvedSource is a unit's source as resolved for this run.
type resolvedSource struct {
	// res is what the run's source cache resolved, and fetches.
	res *source.Resolved
	// revision is the unit's revision, recorded and compared with the
	// last one: the source's, or for a chart from Git its version and
	// the commit ("1.2.0@sha1:…").
	revision string
	// contentDigest joins the spec digest (source.ContentDigester).
	contentDigest string
	// versionOnly compares revisions by their name only: a chart from Git
	// whose reconcileStrategy is ChartVersion is rendered again only when
	// its version changes, as Flux does.
	versionOnly bool
}

// same reports whether the recorded revision is the one resolved now.
func (s *resolvedSource) same(recorded string) bool {
	if s.versionOnly {
		return recorded != "" && source.Revision(recorded).Name() == source.Revision(s.revision).Name()
	}
	return recorded == s.revision
}

// rootKind is the sync itself as a unit: its spec's source and render.
type rootKind struct{ r *runner }

func (k rootKind) inputs(ctx context.Context) (*inputs, error) { return k.r.gatherInputs(ctx) }

func (k rootKind) resolve(ctx context.Context, last *inventory.Record) (*resolvedSource, error) {
	if err := k.r.imageUpdate(ctx, last); err != nil {
		return nil, fmt.Errorf("image update: %w", err)
	}
	res, err := k.r.resolve(ctx)
	if err != nil {
		return nil, err
	}
	k.r.rootSource = res
	return &resolvedSource{res: res, revision: string(res.Revision), contentDigest: res.ContentDigest}, nil
}

func (k rootKind) render(ctx context.Context, src *resolvedSource, in *inputs, isUpgrade bool) (*rendering, error) {
	return k.r.fetchAndRender(ctx, src.res, in, isUpgrade)
}

func (k rootKind) specDigest(inputsDigest string) string { return k.r.specDigest(inputsDigest) }

// rootUnit returns the sync itself as a unit, with inv its state.
func (r *runner) rootUnit(inv *inventory.Inventory, res *Result) *unit {
	s := &r.sync.Spec
	return &unit{
		store:  r.store,
		inv:    inv,
		labels: r.objectLabels(),
		kind:   rootKind{r},
		res:    res,
		unitSettings: unitSettings{
			namespace:    r.releaseNamespace(),
			prune:        s.PruneEnabled(),
			allowEmpty:   s.AllowEmpty,
			force:        s.Force,
			adopt:        s.Adopt,
			wait:         s.Wait,
			waitForJobs:  true,
			healthChecks: s.HealthChecks,
			healthExprs:  s.HealthCheckExprs,
			timeout:      s.Timeout.Duration,
			hooks:        true,
			test:         syncTest(s),
			dest: destinationRef{namespace: r.opts.Namespace, serviceAccount: s.ServiceAccountName,
				kubeConfig: s.KubeConfig, field: "spec"},
		},
	}
}

// syncTest is how a Sync's chart tests run: spec.helm.test; nil when it
// enables none.
func syncTest(s *spec.SyncSpec) *unitTest {
	if !s.IsHelm() || s.Helm == nil || !s.Helm.Test.Enabled() {
		return nil
	}
	return &unitTest{timeout: s.HelmTestTimeout(), ignoreFailures: s.Helm.Test.IgnoreFailures, filters: s.Helm.Test.Filters}
}

// ownerLabels are the labels every object of the sync carries, whichever
// unit applied it: apply.Options.Owner, so that an object moves between
// units of the sync without adopt.
func (r *runner) ownerLabels() map[string]string {
	return map[string]string{inventory.LabelSync: r.opts.Name, names.LabelSyncNamespace: r.opts.Namespace}
}

// unitPass runs u: resolve → (fetch → render) → apply → prune → wait,
// filling u.res. A unit whose revision, spec and inputs are those of its
// last successful run only has its drift checked. The pass is two halves:
// unitCheck, which reads only and decides, and unitWrite; a unit checked
// already (the sync's own, checked before the run took its Lease, see
// noop.go) goes on with the second half, unless its check ended the pass.
func (r *runner) unitPass(ctx context.Context, u *unit) {
	timeout := u.timeout
	if u.test != nil {
		timeout += u.test.timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if u.check == nil {
		r.unitCheck(ctx, u)
	}
	if u.check.over {
		return
	}
	r.unitWrite(ctx, u)
}

// unitCheck is the first half of unitPass: it reads the unit's inputs,
// resolves its source and, when nothing changed, checks drift; it writes
// nothing. It sets u.check: the pass is over (failed, or nothing to do), or
// what unitWrite is to do.
func (r *runner) unitCheck(ctx context.Context, u *unit) {
	res, inv := u.res, u.inv
	u.check = &decision{over: true}
	fail := func(stage string, err error) {
		res.Outcome, res.Err = Failed, fmt.Errorf("%s: %w", stage, err)
		res.Message = res.Err.Error()
	}

	to, err := r.destinationFor(ctx, u.dest)
	if err != nil {
		fail("target", err)
		return
	}
	u.to = to
	if to.remote {
		res.Target = to.server
	}
	res.ServiceAccount = to.user
	// A unit whose last run succeeded needs the drift check's LISTs
	// whatever its source says: to find drift when the revision is the
	// same, for the apply's live metadata when it is not. They read only
	// the cluster, so they run while the inputs and the source are read
	// (a round trip to the forge at least).
	var drift *driftCheck
	if rec := &inv.Record; rec.SelfSucceeded() && len(inv.Entries) > 0 && u.driftMode != flux.DriftDisabled {
		drift = r.startDrift(ctx, u)
		defer func() { _, _ = drift.wait() }() // not left running past the check
	}
	start := time.Now()
	in, err := u.kind.inputs(ctx)
	if err != nil {
		fail("inputs", err)
		return
	}
	src, err := u.kind.resolve(ctx, &inv.Record)
	if err != nil {
		fail("source", err)
		return
	}
	r.log.Debug("resolved", "unit", u.name(), "revision", src.revision, "duration", time.Since(start).String())
	res.Revision = src.revision
	specDigest := u.kind.specDigest(in.digest + src.contentDigest)
	res.specDigest = specDigest

	rec := inv.Record
	sameSpec := rec.SelfSucceeded() && rec.LastAppliedSpecDigest == specDigest
	upToDate := sameSpec && src.same(rec.LastAppliedRevision) && r.restoreChildren(ctx, u)
	if !upToDate && sameSpec && !src.same(rec.LastAppliedRevision) && r.inputsUnchanged(ctx, u, src) {
		// The source moved, but not in the directories the last render
		// looked into: rendering again would give the same objects.
		upToDate = r.restoreChildren(ctx, u)
	}
	var only map[object.ID]bool
	var listed *apply.Listed
	if upToDate {
		// The revision was verified when it was fetched and applied, or,
		// when the source moved without touching what the unit renders,
		// just now by the fetch that compared its inputs (the Cache's).
		res.VerifiedBy = rec.LastRun.VerifiedBy
		if !src.same(rec.LastAppliedRevision) {
			if art, err := r.sources.Fetch(ctx, src.res); err == nil {
				res.VerifiedBy = art.VerifiedBy
			}
		}
		res.Objects = len(inv.Entries)
		var drifted []object.ID
		if u.driftMode != flux.DriftDisabled {
			if drift == nil {
				drift = r.startDrift(ctx, u)
			}
			drifted, err = drift.wait()
			listed = drift.listed
			r.log.Debug("drift checked", "unit", u.name(), "objects", len(inv.Entries), "drifted", len(drifted), "duration", time.Since(start).String())
			if err != nil {
				fail("drift", err)
				return
			}
		}
		if len(drifted) == 0 || u.driftMode == flux.DriftWarn {
			u.current = inv.Entries
			if err := r.claim(u, inv.Entries); err != nil {
				fail("render", err)
				return
			}
			if u.healthWhenUnchanged {
				if err := r.health(ctx, u, u.current); err != nil {
					fail("health", err)
					return
				}
			}
			res.Outcome = Succeeded
			switch {
			case u.driftMode == flux.DriftDisabled:
				res.Message = fmt.Sprintf("revision %s is applied; drift detection is disabled", res.Revision)
			case len(drifted) > 0:
				res.Drifted = drifted
				res.Message = fmt.Sprintf("revision %s is applied; drift in %d of %d objects left as it is (driftDetection.mode: warn): %s",
					res.Revision, len(drifted), len(inv.Entries), listSome(idStrings(drifted), 10))
				r.log.Warn("drift found and left (driftDetection.mode: warn)", "unit", u.name(), "revision", res.Revision, "objects", len(drifted))
			default:
				res.Message = fmt.Sprintf("revision %s is applied; no drift in %d objects", res.Revision, len(inv.Entries))
			}
			return
		}
		res.Drifted = drifted
		only = make(map[object.ID]bool, len(drifted))
		for _, id := range drifted {
			only[id] = true
		}
		r.log.Info("drift found", "unit", u.name(), "revision", res.Revision, "objects", len(drifted))
	} else if drift != nil {
		// A new revision or spec: the apply takes the live metadata of
		// the resources listed, as it would list them now (nothing of
		// ours wrote since). A failed check only costs it those LISTs.
		if _, err := drift.wait(); err == nil {
			listed = drift.listed
		}
	}
	u.check = &decision{in: in, src: src, upToDate: upToDate, only: only, listed: listed}
}

// driftCheck is a unit's drift check (apply.Engine.Drift) running in the
// background.
type driftCheck struct {
	// wait waits for the check to end and returns what it found. It ends
	// with the context startDrift was given.
	wait func() ([]object.ID, error)
	// listed is what it listed (apply.DriftOptions.Listed), once wait
	// returned.
	listed *apply.Listed
}

// startDrift starts the drift check of the objects u's inventory records.
func (r *runner) startDrift(ctx context.Context, u *unit) *driftCheck {
	d := &driftCheck{listed: &apply.Listed{}}
	opts := apply.DriftOptions{Selector: u.labels, Concurrency: r.opts.Concurrency, Listed: d.listed, Ignore: u.ignore, Shared: r.shared}
	recorded := targets(u.inv.Entries)
	d.wait = async(func() ([]object.ID, error) { return u.to.engine.Drift(ctx, recorded, opts) })
	return d
}

// decision is what unitCheck (the first half of a unit's pass) decided.
type decision struct {
	// over: the pass ended in its check (failed, or nothing to do).
	over bool
	// in and src are the unit's inputs and resolved source; upToDate is
	// set when the revision, spec and inputs are the last run's, and only
	// then lists the drifted objects to apply again.
	in       *inputs
	src      *resolvedSource
	upToDate bool
	only     map[object.ID]bool
	// listed is what the drift check listed, for the apply of the drifted
	// objects, or of a new revision or spec.
	listed *apply.Listed
}

// unitWrite is the second half of unitPass: render, apply, prune, health
// and hooks, as unitCheck decided.
func (r *runner) unitWrite(ctx context.Context, u *unit) {
	res, inv := u.res, u.inv
	fail := func(stage string, err error) {
		res.Outcome, res.Err = Failed, fmt.Errorf("%s: %w", stage, err)
		res.Message = res.Err.Error()
	}
	in, src, upToDate, only := u.check.in, u.check.src, u.check.upToDate, u.check.only
	rec := inv.Record

	// The objects' kinds are resolved right after the render: discovery
	// is read meanwhile (at once when the Engine read it already).
	defer discoverAsync(ctx, u.to.engine)()

	// A chart renders as an upgrade once a previous apply succeeded.
	isUpgrade := rec.LastAppliedRevision != ""
	// A drift correction applies the last render again: from the stored
	// render when it holds it (rendercache.go), without a fetch.
	var rnd *rendering
	if only != nil {
		if rnd = r.storedRendering(ctx, u); rnd != nil {
			res.RenderStored = true
			r.log.Info("correcting drift from the stored render", "unit", u.name(), "objects", len(rnd.objects))
		}
	}
	if rnd == nil {
		var err error
		if rnd, err = u.kind.render(ctx, src, in, isUpgrade); err != nil {
			res.Rendered = true
			fail("render", err)
			return
		}
		r.keepRender(u, rnd)
		defer func() {
			if res.Outcome != Succeeded {
				r.forgetRender(u)
			}
		}()
	}
	res.Rendered = true
	res.VerifiedBy = rnd.verifiedBy
	objs, setDigest := r.lift(u, rnd), rnd.digest
	u.inputs, u.inputsDigest = rnd.inputs, rnd.inputsDigest
	res.Objects = len(objs)
	// A render of Flux objects only is not empty: its objects moved into
	// units.
	if len(objs) == 0 && len(u.children) == 0 && len(inv.Entries) > 0 && !u.allowEmpty {
		fail("render", errEmptyRender(len(inv.Entries)))
		return
	}
	// Resolve every object's resource, then write the union of the old and
	// the new set before touching anything: an interrupted run leaves every
	// object it may have created tracked.
	resolved, err := u.to.engine.Targets(objs)
	if err != nil {
		fail("render", err)
		return
	}
	if err := r.checkUnitRendered(u, objs, resolved); err != nil {
		fail("render", err)
		return
	}
	if err := r.refuseReserved(objs, resolved, renderedFiles(rnd), false); err != nil {
		fail("render", err)
		return
	}
	if err := u.to.preflight(ctx, resolved, inventoryIDs(inv.Entries)); err != nil {
		fail("apply", err)
		return
	}
	pre, post := helm.HookPreInstall, helm.HookPostInstall
	if isUpgrade {
		pre, post = helm.HookPreUpgrade, helm.HookPostUpgrade
	}
	runHooks := rnd.chart != nil && u.hooks
	if runHooks || rnd.chart != nil && u.test != nil {
		var events []helm.HookEvent
		if runHooks {
			events = append(events, pre, post)
		}
		if u.test != nil {
			events = append(events, helm.HookTest)
		}
		if err := r.checkUnitHooks(u, rnd.chart, events...); err != nil {
			fail("render", err)
			return
		}
	}
	current := entriesOf(resolved, inv.Entries)
	if err := r.claim(u, current); err != nil {
		fail("render", err)
		return
	}
	stale := inventory.Diff(inv.Entries, current)
	union := inventory.Union(inv.Entries, current)
	grows := len(union) != len(inv.Entries)
	inv.Entries = union
	if err := r.guard(ctx, "inventory"); err != nil {
		fail("lease", err)
		return
	}
	// An apply that can create nothing untracked (a drift correction, a
	// commit that changes only objects the inventory holds) needs no
	// write before it: the record at the end writes the inventory.
	if grows {
		if err := u.store.Save(ctx, inv); err != nil {
			fail("inventory", err)
			return
		}
	}

	toApply := objs
	var fingerprints map[object.ID]string
	// What the drift check listed is as recent as a LIST now would be for
	// the run holding the Lease since: nothing of ours wrote.
	listed := u.check.listed
	if only != nil {
		toApply = nil
		for i, o := range objs {
			if only[resolved[i].ID] {
				toApply = append(toApply, o)
			}
		}
	} else if !upToDate {
		// Objects whose rendered form and live state are what the last run
		// left need no request: a commit touching 3 objects of 1,000 costs
		// 3 applies.
		fingerprints = make(map[object.ID]string, len(inv.Entries))
		for _, e := range inv.Entries {
			if e.Fingerprint != "" {
				fingerprints[e.ID] = e.Fingerprint
			}
		}
	}
	runHooks = runHooks && only == nil
	if runHooks {
		if err := r.guard(ctx, string(pre)+" hooks"); err != nil {
			fail("lease", err)
			return
		}
		if err := r.runUnitHooks(ctx, u, rnd.chart, pre); err != nil {
			fail("hooks", err)
			return
		}
	}
	if err := r.guard(ctx, "apply"); err != nil {
		fail("lease", err)
		return
	}
	applied, err := u.to.engine.Apply(ctx, toApply, apply.Options{
		Ignore:       u.ignore,
		ApplyIgnored: u.ignoreOnlyDrift && only == nil,
		Concurrency:  r.opts.Concurrency,
		Force:        u.force,
		Adopt:        u.adopt,
		Labels:       u.labels,
		Owner:        r.ownerLabels(),
		Fingerprints: fingerprints,
		Listed:       listed,
	})
	r.nameOwners(applied)
	res.Applied = applied
	if err == nil {
		err = applied.Err()
	}
	current = mergeFingerprints(current, applied)
	inv.Entries = inventory.Union(inv.Entries, current)
	if err != nil {
		fail("apply", err)
		return
	}
	u.applied = true
	if r.opts.stopAfterApply {
		return
	}

	switch {
	case !u.prune || len(stale) == 0:
		// Without prune the stale objects are left in place and forgotten.
		inv.Entries = current
	case u.deferPrune || len(u.children) > 0:
		// Pruned once every unit of the run applied (units.go): one of
		// them may have taken an object over.
		u.stale = stale
	default:
		if err := r.guard(ctx, "prune"); err != nil {
			fail("lease", err)
			return
		}
		pruned, err := u.to.engine.Prune(ctx, targets(stale), apply.PruneOptions{Selector: u.labels, Concurrency: r.opts.Concurrency, InScope: r.pruneScope()})
		res.Pruned = pruned
		if err == nil {
			err = pruned.Err()
		}
		inv.Entries = inventory.Narrow(current, stale, deletedIDs(pruned))
		if err != nil {
			fail("prune", err)
			return
		}
	}
	u.current = current

	if err := r.health(ctx, u, current); err != nil {
		fail("health", err)
		return
	}
	if runHooks {
		if err := r.guard(ctx, string(post)+" hooks"); err != nil {
			fail("lease", err)
			return
		}
		if err := r.runUnitHooks(ctx, u, rnd.chart, post); err != nil {
			fail("hooks", err)
			return
		}
	}
	var tested string
	if rnd.chart != nil && u.test != nil && only == nil {
		// After an install or upgrade, not after a drift correction.
		if err := r.guard(ctx, "Helm tests"); err != nil {
			fail("lease", err)
			return
		}
		var err error
		if tested, err = r.runUnitTests(ctx, u, rnd.chart); err != nil {
			fail("test", err)
			return
		}
	}
	res.Outcome = Succeeded
	res.Message = summary(res) + tested + undefinedVarsNote(rnd.undefinedVars)
	res.setDigest = setDigest
}

// undefinedVarsNote is the part of a unit's message naming the postBuild
// variables its lenient substitution made ""; "" when none.
func undefinedVarsNote(vars []string) string {
	if len(vars) == 0 {
		return ""
	}
	return fmt.Sprintf("; undefined postBuild %s substituted empty, as Flux does (spec.flux.strictSubstitution: true refuses them): %s",
		plural(len(vars), "variable"), listSome(vars, 10))
}

// name returns the unit's name for logs and messages: Kind/namespace/name,
// or "the sync" for the root.
func (u *unit) name() string {
	if u.id == (flux.ID{}) {
		return "the sync"
	}
	return u.id.String()
}

// lift takes Flux's objects out of what a unit rendered: Flux's own
// installation (left out unless spec.flux.installation is Apply) and the
// Flux objects, which become the unit's children. It returns the objects
// to apply.
func (r *runner) lift(u *unit, rnd *rendering) []*unstructured.Unstructured {
	r.noteRenderedSecrets(rnd)
	in, rest := flux.FindInstallation(rnd.objects, rnd.sources)
	children, rest := flux.Split(rest)
	u.installation, u.children, u.childrenKnown = in, children, true
	u.childFiles = map[*unstructured.Unstructured]string{}
	for i, o := range rnd.objects {
		if i < len(rnd.sources) && rnd.sources[i] != "" {
			u.childFiles[o] = rnd.sources[i]
		}
	}
	u.installationSummary = in.Summary()
	if r.sync.Spec.Flux.ApplyInstallation() && !in.Empty() {
		rest = append(append(append([]*unstructured.Unstructured(nil), in.Components...), in.Sync...), rest...)
	}
	return rest
}

// checkUnitRendered puts namespaced objects without a namespace into the
// unit's namespace, and for a namespaced install refuses anything outside
// the sync's scope: every unit of a namespaced sync is held to the sync's.
func (r *runner) checkUnitRendered(u *unit, objs []*unstructured.Unstructured, resolved []apply.Target) error {
	if err := defaultNamespace(objs, resolved, u.namespace); err != nil {
		return err
	}
	if r.opts.NamespaceScoped {
		return checkScope(resolved, []string{r.releaseNamespace()})
	}
	return nil
}

// checkUnitHooks is checkHooks for unit u's release namespace and scope.
func (r *runner) checkUnitHooks(u *unit, chart *helm.Rendered, events ...helm.HookEvent) error {
	var objs []*unstructured.Unstructured
	files := map[*unstructured.Unstructured]string{}
	for _, e := range events {
		for _, h := range chart.HooksFor(e) {
			obj := h.Object.DeepCopy()
			if obj.GetNamespace() == "" {
				obj.SetNamespace(u.namespace)
			}
			objs = append(objs, obj)
			files[obj] = h.Source
		}
	}
	if len(objs) == 0 {
		return nil
	}
	resolved, err := u.to.engine.Targets(objs)
	if err != nil {
		return fmt.Errorf("hooks: %w", err)
	}
	if r.opts.NamespaceScoped {
		if err := checkScope(resolved, []string{r.releaseNamespace()}); err != nil {
			return fmt.Errorf("hooks: %w", err)
		}
	}
	return r.refuseReserved(objs, resolved, files, true)
}

// health waits for what the unit asks: every applied object with wait
// (without Jobs unless waitForJobs), the named objects with healthChecks.
func (r *runner) health(ctx context.Context, u *unit, current []inventory.Entry) error {
	var want []apply.Target
	switch {
	case u.wait:
		for _, e := range current {
			if !u.waitForJobs && e.Group == "batch" && e.Kind == "Job" {
				continue
			}
			want = append(want, target(e))
		}
	case len(u.healthChecks) > 0:
		byID := make(map[object.ID]inventory.Entry, len(current))
		for _, e := range current {
			byID[e.ID] = e
		}
		for i, hc := range u.healthChecks {
			group, _ := splitAPIVersion(hc.APIVersion)
			if u.id != (flux.ID{}) && flux.IsUnitKind(group, hc.Kind) {
				// A Kustomization or HelmRelease is a unit of the run, not
				// an object in the cluster: the units depending on this one
				// wait for it (flux.Graph.Dependencies).
				continue
			}
			ns := hc.Namespace
			id := object.ID{Group: group, Kind: hc.Kind, Namespace: ns, Name: hc.Name}
			e, ok := byID[id]
			if !ok && ns == "" {
				id.Namespace = u.namespace
				e, ok = byID[id]
			}
			if ok {
				want = append(want, target(e))
				continue
			}
			if u.id == (flux.ID{}) {
				return fmt.Errorf("spec.healthChecks[%d]: %s is not in the rendered set", i, id)
			}
			// An object another unit renders, or one made outside the
			// run: read from the cluster, as Flux does, until it is
			// healthy or the unit's timeout.
			t, err := clusterTarget(u, hc)
			if err != nil {
				return fmt.Errorf("spec.healthChecks[%d]: %w", i, err)
			}
			want = append(want, t)
		}
	}
	if len(want) == 0 {
		return nil
	}
	judge, err := healthJudge(u.healthExprs)
	if err != nil {
		return err
	}
	return u.to.engine.Wait(ctx, want, apply.WaitOptions{Timeout: u.timeout, Selector: u.labels, Judge: judge})
}

// clusterTarget resolves a health check's object that unit u did not
// render, to read it from the cluster.
func clusterTarget(u *unit, hc spec.HealthCheck) (apply.Target, error) {
	obj := &unstructured.Unstructured{}
	obj.SetAPIVersion(hc.APIVersion)
	obj.SetKind(hc.Kind)
	obj.SetName(hc.Name)
	obj.SetNamespace(hc.Namespace)
	id := object.IDOf(obj)
	if hc.APIVersion == "" {
		return apply.Target{}, fmt.Errorf("%s: apiVersion is required to read an object the unit does not render", id)
	}
	ts, err := u.to.engine.Targets([]*unstructured.Unstructured{obj})
	if err != nil {
		return apply.Target{}, err
	}
	t := ts[0]
	if t.Namespaced && t.Namespace == "" {
		t.Namespace = u.namespace
	}
	return t, nil
}

// runUnitHooks runs a chart's hooks of one event for unit u.
func (r *runner) runUnitHooks(ctx context.Context, u *unit, chart *helm.Rendered, event helm.HookEvent) error {
	return r.runHooksIn(ctx, u.to, chart.HooksFor(event), event, u.namespace, u.adopt)
}

// runUnitTests runs the chart's tests after an install or upgrade of unit
// u, as `helm test` does: the test hooks u.test's filters let through, one
// after the other (a Pod must succeed, a Job complete), each with its
// delete policies, within u.test.timeout; the first that fails ends them.
// It returns what the unit's message says of them: failures u.test
// ignores are said there instead of failing the unit.
func (r *runner) runUnitTests(ctx context.Context, u *unit, chart *helm.Rendered) (string, error) {
	var tests []helm.Hook
	for _, h := range chart.HooksFor(helm.HookTest) {
		if u.test.filters.Runs(h.Object.GetName()) {
			tests = append(tests, h)
		}
	}
	if len(tests) == 0 {
		return "; no Helm tests to run", nil
	}
	ctx, cancel := context.WithTimeout(ctx, u.test.timeout)
	defer cancel()
	err := r.runHooksIn(ctx, u.to, tests, helm.HookTest, u.namespace, u.adopt)
	switch {
	case err == nil:
		r.log.Info("Helm tests passed", "unit", u.name(), "tests", len(tests))
		return fmt.Sprintf("; %d %s passed", len(tests), plural(len(tests), "Helm test")), nil
	case u.test.ignoreFailures:
		r.log.Warn("Helm tests failed; the failure is ignored", "unit", u.name(), "error", err)
		return "; Helm tests failed, ignored as the spec asks (ignoreFailures): " + err.Error(), nil
	}
	return "", err
}

// idStrings returns the IDs as strings, for messages.
func idStrings(ids []object.ID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}
