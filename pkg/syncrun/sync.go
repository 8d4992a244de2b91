package syncrun

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/gitsync/gitsync/pkg/apply"
	"github.com/gitsync/gitsync/pkg/helm"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/kube"
	"github.com/gitsync/gitsync/pkg/lease"
	"github.com/gitsync/gitsync/pkg/lockdown"
	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/notify"
	"github.com/gitsync/gitsync/pkg/object"
	"github.com/gitsync/gitsync/pkg/redact"
	"github.com/gitsync/gitsync/pkg/retry"
	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/spec"
)

// Options configure one run. The zero values of optional fields select
// their defaults.
type Options struct {
	// Name and Namespace name the sync. Required.
	Name, Namespace string
	// Config reaches the cluster. Required. Run raises its QPS and Burst
	// (client-go's default of 5 requests/s would make a run of 1,000
	// objects take minutes).
	Config *rest.Config
	// Logger receives the run's log. Default: discard.
	Logger *slog.Logger
	// Concurrency is the number of API requests in flight within an apply
	// stage. Default apply's default.
	Concurrency int
	// Holder is the Lease holder identity. Default lease.DefaultHolder():
	// the host name (the Pod name in a Job) and a random suffix.
	Holder string
	// LeaseDuration is how long the Lease stays valid without renewal.
	// Default lease.DefaultDuration; the Lease is renewed while the run
	// lasts.
	LeaseDuration time.Duration
	// WorkDir is where the source is fetched, in a private temp dir removed
	// at the end. Default os.TempDir().
	WorkDir string
	// Revision pins the run to a recorded commit (rollback): the source is
	// fetched at that commit instead of the spec's ref. Default: follow the
	// spec's ref.
	Revision string
	// NamespaceScoped restricts the run to namespaced objects in the
	// targetNamespace (or, without one, the sync's namespace), for syncs
	// installed with
	// namespaced RBAC: a render with anything else fails before anything
	// is applied. Default false (cluster scope).
	NamespaceScoped bool
	// StartTimeout bounds what a run does before its spec's timeout
	// applies: reading the spec, taking the Lease and reading the
	// inventory, so that an API server that accepts requests and never
	// answers ends the run. Default DefaultStartTimeout.
	StartTimeout time.Duration
	// Now returns the current time. Default time.Now.
	Now func() time.Time

	// stopAfterApply makes the run return right after apply, without
	// prune, record or releasing the Lease: what a run killed at that
	// point leaves behind. Tests only.
	stopAfterApply bool
	// beforeStage is called before each stage that writes to the cluster
	// (see runner.guard). Tests only.
	beforeStage func(ctx context.Context, stage string)
}

// DefaultStartTimeout is the default Options.StartTimeout.
const DefaultStartTimeout = time.Minute

// finishBudget bounds what a run does after its last stage, on a context
// detached from the run's (which may have ended: SIGTERM, the timeout):
// taking a lost Lease back, recording, emitting the Event and releasing the
// Lease, all together.
const finishBudget = 10 * time.Second

// Outcome says how a run ended.
type Outcome string

// The outcomes of a run.
const (
	// Succeeded: the cluster matches the source.
	Succeeded Outcome = "Succeeded"
	// Failed: some stage failed; see Result.Err.
	Failed Outcome = "Failed"
	// Busy: another run holds the Lease; nothing was done.
	Busy Outcome = "Busy"
	// Skipped: a unit that did not run, because a unit it depends on (or
	// the unit whose render held it) did not succeed. Only units have it.
	Skipped Outcome = "Skipped"
)

// Result is what one run did.
type Result struct {
	// Outcome says how the run ended.
	Outcome Outcome
	// Revision is the source revision the run worked on.
	Revision string
	// Rendered tells whether the run fetched and rendered the source, or
	// took its last render from the stored render (RenderStored) to
	// correct drift; false when the revision and spec were unchanged and
	// only drift was checked.
	Rendered, RenderStored bool
	// Drifted lists the objects the drift check found changed or missing.
	Drifted []object.ID
	// Applied and Pruned are the change sets of apply and prune.
	Applied, Pruned *apply.ChangeSet
	// Objects is the number of objects in the rendered (or recorded) set.
	Objects int
	// Start and End bound the run.
	Start, End time.Time
	// Message says what happened in one line.
	Message string
	// Err is why the run failed; nil unless Outcome is Failed.
	Err error
	// Retries is how many API requests of the run were sent again after a
	// transient fault (see pkg/retry); the record holds the count up to
	// the record's own writes.
	Retries int64
	// VerifiedBy is the id of the key that signed the revision, when the
	// source verifies signatures (source.Artifact.VerifiedBy); for a run
	// that did not fetch, the one the run that applied the revision
	// recorded.
	VerifiedBy string
	// Units are the Flux Kustomizations and HelmReleases the sync's render
	// held and the run executed (see units.go), in the order they were
	// found; empty for a sync without Flux objects. The run is Failed when
	// one of them failed or was skipped, and Message says which.
	Units []UnitResult
	// FluxInstallation says what of Flux's own installation the render
	// held and the run left out (flux.Installation.Summary); "" when none.
	FluxInstallation string
	// Notify is what became of the run's notifications (notify.go); the
	// record keeps it as lastRun.notify.
	Notify []notify.Delivery
	// Target is the API server the objects went to when spec.kubeConfig
	// selects another cluster; "" for the sync's own.
	Target string
	// ServiceAccount is the user impersonated for the objects
	// (spec.serviceAccountName); "" for the job's own identity.
	ServiceAccount string

	specDigest, setDigest string
	// selfSucceeded is set when the sync's own objects were applied but
	// failedUnits of its units failed or were skipped.
	selfSucceeded bool
	failedUnits   int
}

// SpecError reports a missing or invalid Sync spec: a problem for whoever
// wrote the spec, not one a later run fixes by itself.
type SpecError struct{ Err error }

func (e *SpecError) Error() string { return e.Err.Error() }
func (e *SpecError) Unwrap() error { return e.Err }

// runner holds what one run shares between its stages.
type runner struct {
	// secrets are the secret values the run read or revealed, masked in
	// its log, messages, record, history and Events (secrets.go).
	secrets *redact.Secrets

	opts   Options
	lease  *lease.Lease
	cfg    *rest.Config
	log    *slog.Logger
	client kube.Interface
	engine *apply.Engine
	store  *inventory.Store
	sync   *spec.Sync
	now    func() time.Time
	// sources resolves and fetches each source once per run; close
	// removes what it fetched.
	sources *source.Cache
	// rootSource is the sync's own source as resolved by this run: a unit
	// whose sourceRef is the GitRepository the sync came from reads it.
	rootSource *source.Resolved
	// localArtifact, when set (Render of a local directory), is the tree
	// units reading the sync's own repository render.
	localArtifact *source.Artifact
	// tree is the state of the run's units (units.go).
	tree *tree
	// renders is the stored render, read and written (rendercache.go).
	renders renderStore
	// retries counts the retried requests of all of the run's clients.
	retries *retry.Counter
	// indexes holds the Helm repository indexes the run read, so that the
	// charts of one repository cost one download (helm.IndexCache); it
	// travels in the run's context.
	indexes *helm.IndexCache
	// imageUpdated and imagePin: spec.imageUpdate ran, and the commit it
	// pushed that the run applies (imageupdate.go).
	imageUpdated bool
	imagePin     source.Revision
	// dests are the clusters and identities the units' objects are
	// written with (target.go).
	dests destinations
	// lockdown is the namespace's lockdown the run holds itself and its
	// units to (lockdown.go).
	lockdown lockdown.Policy
	// specVersion is the resourceVersion of the spec ConfigMap as last
	// read; notified is set once the run's notifications went out.
	specVersion string
	notified    bool
	// notifyBy ends the run's notifications (notifyContext).
	notifyBy time.Time
	// check is the check of the units before the Lease (noop.go);
	// checkedUnits the units of the record as the run read it.
	check        unitsCheck
	checkedUnits []inventory.UnitRecord
	// shared are the drift checks' shared LISTs while the run checks
	// before its Lease (noop.go); nil otherwise.
	shared *apply.SharedLists
	// stopReadAhead ends the reads started before the Lease for the write
	// the check decided on, and waits for them (readAhead); nil when none.
	stopReadAhead func()
}

// Run performs one run of the sync named in opts. It returns an error only
// when it could not even start (bad options, spec missing or invalid, the
// cluster unreachable); a run that started and failed returns a Result with
// Outcome Failed and Err set, after recording the failure.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if opts.Name == "" || opts.Namespace == "" || opts.Config == nil {
		return nil, errors.New("sync: Name, Namespace and Config are required")
	}
	r, err := newRunner(opts)
	if err != nil {
		return nil, err
	}
	defer r.close(ctx)
	res, err := r.run(helm.WithIndexCache(ctx, r.indexes))
	return res, r.secrets.Error(err)
}

// newRunner builds the clients a run (or a render) needs.
func newRunner(opts Options) (*runner, error) {
	r := &runner{opts: opts, log: opts.Logger, now: opts.Now, secrets: &redact.Secrets{}}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	// Every line the run logs, its libraries' included, masks the secret
	// values the run has read so far (secrets.go).
	r.log = slog.New(r.secrets.Handler(r.log.Handler()))
	if r.now == nil {
		r.now = time.Now
	}
	r.log = r.log.With("sync", opts.Namespace+"/"+opts.Name)
	r.cfg = rest.CopyConfig(opts.Config)
	r.cfg.QPS, r.cfg.Burst = 1000, 2000
	// Every client of the run is built from r.cfg, so every request gets
	// the same retries of transient faults.
	r.retries = retry.Wrap(r.cfg, retry.Options{})
	var err error
	if r.client, err = kube.NewForConfig(r.cfg); err != nil {
		return nil, err
	}
	if r.engine, err = apply.New(r.cfg, r.log); err != nil {
		return nil, err
	}
	r.store = &inventory.Store{Client: r.client, Namespace: opts.Namespace, Sync: opts.Name}
	r.sources = source.NewCache(opts.WorkDir)
	r.indexes = helm.NewIndexCache(opts.WorkDir)
	r.tree = newTree()
	return r, nil
}

// close removes what the run fetched. Failing to does not change the
// run's outcome (the Pod's filesystem goes with it), so it is logged.
func (r *runner) close(ctx context.Context) {
	if r.stopReadAhead != nil {
		r.stopReadAhead()
		r.stopReadAhead = nil
	}
	if err := r.sources.Close(); err != nil {
		r.log.WarnContext(ctx, "removing the fetched sources failed", "error", err)
	}
	if err := r.indexes.Close(); err != nil {
		r.log.WarnContext(ctx, "removing the Helm repository indexes failed", "error", err)
	}
}

func (r *runner) run(ctx context.Context) (*Result, error) {
	start := r.now()
	res := &Result{Start: start}
	defer func() {
		res.Retries = r.retries.Retries() + r.dests.retried()
		r.maskResult(res)
	}()

	// Until the spec's timeout applies, StartTimeout bounds the run: an
	// API server that accepts requests and never answers must not keep
	// the run until the Job's deadline kills it.
	startCtx, cancelStart := context.WithTimeout(ctx, r.startTimeout())
	defer cancelStart()
	// The spec and the inventory are read first without the Lease, and a
	// sync whose last run succeeded is checked without it (noop.go): a run
	// that finds nothing to do takes no Lease and writes nothing. A run
	// that is to write takes the Lease first and reads both again.
	// spec.suspend is not checked here: it suspends the schedule (the
	// CronJob), and a run that was started anyway — `kubectl gitsync run`, a
	// rollback — is one somebody asked for.
	inv, err := r.load(startCtx)
	if err != nil {
		return nil, err
	}
	root := r.checkFirst(ctx, inv, res)
	if root != nil && r.finishIdle(ctx, inv, res) {
		return res, nil
	}

	// The Lease is renewed until leaseCtx ends, with the run. Taking it is
	// bounded by StartTimeout too, without bounding its renewal.
	leaseCtx, stopRenewing := context.WithCancel(ctx)
	defer stopRenewing()
	acquireCtx, stopAcquiring := context.WithCancel(leaseCtx)
	timer := time.AfterFunc(r.startTimeout(), stopAcquiring)
	l, err := lease.Acquire(acquireCtx, r.client, r.opts.Namespace, lease.Name(r.opts.Name), r.leaseOptions())
	if !timer.Stop() && err == nil {
		// Taken just as StartTimeout passed, which also ended its renewal:
		// the guards stop the run once the Lease's duration has passed.
		r.log.Warn("the lease was taken as the start timeout passed; it is not renewed")
	}
	var held *lease.HeldError
	if errors.As(err, &held) {
		// What the check found is left to the run holding the Lease.
		*res = Result{Start: start}
		res.Outcome, res.End = Busy, r.now()
		res.Message = fmt.Sprintf("another run holds Lease %s/%s (holder %q, expires %s); this run did nothing",
			r.opts.Namespace, lease.Name(r.opts.Name), held.Holder, held.Expires.UTC().Format(time.RFC3339))
		// One Event, no record: a Busy run writes once, and the record
		// stays the running run's to write.
		r.emit(startCtx, corev1.EventTypeNormal, "Busy", res.Message, res.End)
		return res, nil
	}
	if err != nil {
		return nil, err
	}
	r.lease = l
	// The spec and the inventory are read again under the Lease: uninstall
	// takes the Lease before it deletes the spec (and the Lease only after
	// it), so a run that reads the spec now cannot be cut off by an
	// uninstall that finished between the two (it would re-create the
	// state of a sync that is gone); and a run that wrote since the check
	// changed the inventory.
	specVersion, checked := r.specVersion, inv
	if inv, err = r.load(startCtx); err != nil {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishBudget)
		defer cancel()
		r.releaseLease(fctx)
		return nil, err
	}
	if r.waitOnDependencies(ctx, inv, res) {
		return res, nil
	}
	if root != nil {
		if r.specVersion == specVersion && inv.ResourceVersion == checked.ResourceVersion && len(checked.Record.Units) == 0 {
			inv = checked // what the check decided on is still so
		} else {
			// Notifications already sent are not sent again; the record
			// keeps them.
			notified := res.Notify
			ctx = r.startOver(ctx)
			res = &Result{Start: start, Notify: notified}
			root = nil
		}
	}
	r.checkedUnits = inv.Record.Units
	r.pass(ctx, inv, res, root)
	if r.opts.stopAfterApply {
		return res, nil // a killed run records and releases nothing
	}
	res.End = r.now()
	// Before the record, so that one write records the deliveries too.
	if !r.notified {
		r.notify(ctx, inv, res)
	}

	// Record and release even when ctx ended (SIGTERM, the Job's
	// deadline), so that the run says why it stopped and the next one need
	// not wait for the Lease to expire; within finishBudget, so that a
	// hung API server does not keep the run.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishBudget)
	defer cancel()
	switch {
	case nothingToRecord(&inv.Record, r.checkedUnits, res):
		// Checked again under the Lease, nothing to do after all: there
		// is nothing new to record.
		noteResult(inv, res)
	case r.guard(fctx, "record") == nil:
		res.Retries = r.retries.Retries()
		r.record(fctx, inv, res)
	case r.uninstalled(fctx):
		// Lost to uninstall: taking the Lease back would re-create it, and
		// recording would write history of a sync that is gone.
		markUninstalled(res)
	case r.retakeLease(fctx, res):
		res.Retries = r.retries.Retries()
		r.record(fctx, inv, res)
	}
	// With the record written the Lease guards nothing more: it is
	// released beside the metrics push and the start of dependents, which
	// only read the record.
	var wg sync.WaitGroup
	wg.Go(func() { r.releaseLease(fctx) })
	wg.Go(func() { r.pushMetrics(ctx, inv, res) })
	r.startDependents(ctx, res)
	wg.Wait()
	return res, nil
}

func (r *runner) startTimeout() time.Duration {
	if r.opts.StartTimeout > 0 {
		return r.opts.StartTimeout
	}
	return DefaultStartTimeout
}

func (r *runner) releaseLease(ctx context.Context) {
	if r.lease == nil {
		return
	}
	if err := r.lease.Release(ctx); err != nil {
		r.log.Warn("releasing the lease failed; it expires by itself", "error", err)
	}
}

func (r *runner) leaseOptions() lease.Options {
	return lease.Options{Holder: r.opts.Holder, Duration: r.opts.LeaseDuration, Logger: r.log}
}

// guard is called before each stage that writes to the cluster: a run that
// lost its Lease must not write, since another run may hold it now. The
// check is local (see lease.Lease.Check).
func (r *runner) guard(ctx context.Context, stage string) error {
	if r.opts.beforeStage != nil {
		r.opts.beforeStage(ctx, stage)
	}
	if r.lease == nil {
		// A run writes only under its Lease (noop.go).
		return fmt.Errorf("stopped before %s: %w: this run holds no Lease", stage, lease.ErrLost)
	}
	if err := r.lease.Check(); err != nil {
		return fmt.Errorf("stopped before %s: %w", stage, err)
	}
	return nil
}

// retakeLease is called when the Lease was lost by the time the run is to
// be recorded. The run is Failed whatever it did. If no other run holds the
// Lease, the run takes it again and returns true: the record (which says
// why the run stopped) is then written under the Lease, and the inventory's
// resourceVersion precondition refuses it should another run have written
// since. If another run holds it, the record is that run's to write: the
// stopped run says why in an Event and returns false.
func (r *runner) retakeLease(ctx context.Context, res *Result) bool {
	lost := r.lease.Check()
	if res.Outcome != Failed {
		res.Outcome, res.Err = Failed, fmt.Errorf("lease: stopped before record: %w", lost)
		res.Message = res.Err.Error()
	}
	l, err := lease.Acquire(ctx, r.client, r.opts.Namespace, lease.Name(r.opts.Name), r.leaseOptions())
	if err == nil {
		r.lease = l
		return true
	}
	msg := fmt.Sprintf("%s; the record is left to the run holding the Lease now", res.Message)
	var held *lease.HeldError
	if errors.As(err, &held) {
		msg = fmt.Sprintf("%s; the record is left to the run holding the Lease now (holder %q)", res.Message, held.Holder)
	} else {
		r.log.Error("taking the lost Lease back to record the run failed", "error", err)
	}
	r.emit(ctx, corev1.EventTypeWarning, "LeaseLost", msg, res.End)
	return false
}

// pass runs the sync's own unit (unit.go) and then, when its render holds
// Flux objects or it had units before, the units (units.go), filling res.
// root is the sync's own unit when it was checked before the run took its
// Lease (noop.go); nil makes a new one.
func (r *runner) pass(ctx context.Context, inv *inventory.Inventory, res *Result, root *unit) {
	if root == nil {
		root = r.rootUnit(inv, res)
	}
	// With units, the sync's stale objects wait for the prune phase like
	// every unit's: one of its units may take an object over.
	root.deferPrune = len(inv.Record.Units) > 0
	r.unitPass(ctx, root)
	if r.opts.stopAfterApply {
		return
	}
	r.runUnits(ctx, root)
}

func errEmptyRender(applied int) error {
	return fmt.Errorf("the render is empty but the sync applied %d objects before; refusing to prune them all (set allowEmpty: true to allow it)", applied)
}

// checkRendered puts namespaced objects without a namespace into the
// release namespace (targetNamespace, else the sync's), and for a
// namespaced install refuses anything outside it.
func (r *runner) checkRendered(objs []*unstructured.Unstructured, resolved []apply.Target) error {
	if err := defaultNamespace(objs, resolved, r.releaseNamespace()); err != nil {
		return err
	}
	if r.opts.NamespaceScoped {
		// Exactly where a namespaced install grants apply rights.
		return checkScope(resolved, []string{r.releaseNamespace()})
	}
	return nil
}

// load reads the spec (loadSpec) and the inventory at the same time:
// neither read needs the other. A spec error wins: it says why there is
// nothing to run.
func (r *runner) load(ctx context.Context) (*inventory.Inventory, error) {
	loaded := async(func() (*inventory.Inventory, error) { return r.store.Load(ctx) })
	err := r.loadSpec(ctx)
	inv, invErr := loaded()
	if err != nil {
		return nil, err
	}
	return inv, invErr
}

func (r *runner) loadSpec(ctx context.Context) error {
	// The Namespace's lockdown does not depend on the spec: read together.
	lockdownRead := async(func() (lockdown.Policy, error) { return lockdown.Read(ctx, r.client, r.opts.Namespace) })
	cm, err := spec.GetConfigMap(ctx, r.client, r.opts.Namespace, r.opts.Name)
	policy, policyErr := lockdownRead()
	if apierrors.IsNotFound(err) {
		return &SpecError{fmt.Errorf("ConfigMap/%s/%s: no such sync (install it with kubectl gitsync install)", r.opts.Namespace, names.Spec(r.opts.Name))}
	}
	if err != nil {
		return err
	}
	s, err := spec.FromConfigMap(cm)
	if err != nil {
		return &SpecError{err}
	}
	if err := r.lockDown(s, policy, policyErr); err != nil {
		return err
	}
	r.sync, r.specVersion = s, cm.ResourceVersion
	return nil
}

func (r *runner) holder() string {
	if r.opts.Holder != "" {
		return r.opts.Holder
	}
	host, _ := os.Hostname()
	return host
}

func (r *runner) objectLabels() map[string]string {
	return map[string]string{
		inventory.LabelApplySetPartOf: r.store.ParentID(),
		inventory.LabelSync:           r.opts.Name,
		names.LabelSyncNamespace:      r.opts.Namespace,
	}
}

// specDigest combines the spec's digest with the digest of the substitution
// inputs read from ConfigMaps and Secrets: a changed variable must trigger a
// render just as a changed spec does.
//
// A namespaced run's scope joins it too (scope.go): after a change of scope
// the next run renders, so that the scope check and prune see the inventory
// against the new scope, instead of a drift check failing on objects the
// sync may no longer read.
func (r *runner) specDigest(varsDigest string) string {
	extra := varsDigest
	if r.opts.NamespaceScoped {
		extra += "\nscope=namespace"
	}
	if extra == "" {
		return r.sync.Digest()
	}
	sum := sha256.Sum256([]byte(r.sync.Digest() + "\n" + extra))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Counts returns how many objects apply and prune left with each action,
// by the action's lower-case name (created, configured, deleted ...): the
// totals the record, the history and the plugin show. Nil when the run
// applied and pruned nothing.
func (res *Result) Counts() map[string]int {
	out := map[string]int{}
	for _, cs := range []*apply.ChangeSet{res.Applied, res.Pruned} {
		if cs == nil {
			continue
		}
		for a, n := range cs.Counts() {
			out[strings.ToLower(string(a))] += n
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func summary(res *Result) string {
	var parts []string
	counts := res.Counts()
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
	}
	msg := fmt.Sprintf("revision %s: %d objects", res.Revision, res.Objects)
	if len(parts) > 0 {
		msg += " (" + strings.Join(parts, ", ") + ")"
	}
	if res.Applied != nil {
		var fromOwners, fromOthers []string
		for _, c := range res.Applied.Changes {
			switch a := c.Adopted; {
			case a == nil:
			case len(a.Labels) > 0:
				fromOwners = append(fromOwners, fmt.Sprintf("%s (from %s)", c.ID, ownerOf(a.Labels)))
			default:
				by := strings.Join(a.Managers, ", ")
				if by == "" {
					by = "unknown"
				}
				fromOthers = append(fromOthers, fmt.Sprintf("%s (%s)", c.ID, by))
			}
		}
		if len(fromOthers) > 0 {
			msg += fmt.Sprintf("; adopted %d %s made by others: %s", len(fromOthers), plural(len(fromOthers), "object"), listSome(fromOthers, 10))
		}
		if len(fromOwners) > 0 {
			msg += fmt.Sprintf("; took %d %s from other owners (adopt): %s", len(fromOwners), plural(len(fromOwners), "object"), listSome(fromOwners, 10))
		}
	}
	if s := orphanedSummary(orphanedIDs(res.Pruned)); s != "" {
		msg += "; " + s
	}
	if res.Pruned != nil {
		var kept []string
		for _, c := range res.Pruned.Changes {
			if errors.Is(c.Err, apply.ErrNotServed) {
				kept = append(kept, c.ID.String())
			}
		}
		if len(kept) > 0 {
			msg += fmt.Sprintf("; %d stale %s kept in the inventory because %s not served: %s",
				len(kept), plural(len(kept), "object"), map[bool]string{true: "its resource is", false: "their resources are"}[len(kept) == 1], listSome(kept, 10))
		}
	}
	return msg
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// nameOwners rewrites the errors of objects that belong to another sync so
// that they name both syncs and the way out.
func (r *runner) nameOwners(cs *apply.ChangeSet) {
	if cs == nil {
		return
	}
	for i := range cs.Changes {
		c := &cs.Changes[i]
		var oc *apply.OwnerConflictError
		if !errors.As(c.Err, &oc) {
			continue
		}
		c.Err = &wrapped{err: c.Err, msg: fmt.Sprintf("%s: belongs to %s, not to this sync %s/%s; not taking it over (set annotation %s: enabled on it in Git, or spec.adopt: true, to adopt it)",
			c.ID, ownerOf(oc.Theirs), r.opts.Namespace, r.opts.Name, apply.AnnotationAdopt)}
	}
}

// ownerOf names the owner an object's labels say: a sync, or another
// ApplySet.
func ownerOf(labels map[string]string) string {
	name := labels[inventory.LabelSync]
	if name == "" {
		return "another ApplySet (" + inventory.LabelApplySetPartOf + "=" + labels[inventory.LabelApplySetPartOf] + ")"
	}
	ns := labels[names.LabelSyncNamespace]
	if ns == "" {
		ns = "?"
	}
	return "sync " + ns + "/" + name
}

// wrapped replaces an error's message and keeps it for errors.Is and As.
type wrapped struct {
	err error
	msg string
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.err }

// listSome joins the first n items and says how many more there are.
func listSome(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}

// event emits a Kubernetes Event on the spec ConfigMap, where `kubectl
// describe configmap gitsync-NAME` and `kubectl events` show it. Runs that
// found nothing to do emit none, so a quiet sync does not flood the Event
// store every few minutes.
func (r *runner) event(ctx context.Context, res *Result) {
	if res.Outcome == Succeeded && !res.Rendered {
		return
	}
	typ, reason := corev1.EventTypeNormal, "Synced"
	if res.Outcome != Succeeded {
		typ, reason = corev1.EventTypeWarning, "SyncFailed"
	}
	r.emit(ctx, typ, reason, res.Message, res.End)
}

// emit creates one Event on the spec ConfigMap; a failure is only logged.
func (r *runner) emit(ctx context.Context, typ, reason, msg string, at time.Time) {
	now := metav1.NewTime(at)
	msg = r.secrets.Text(msg) // before it is cut: no half of a value
	if len(msg) > 1024 {
		msg = msg[:1021] + "..."
	}
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{GenerateName: spec.ConfigMapName(r.opts.Name) + ".", Namespace: r.opts.Namespace},
		InvolvedObject: corev1.ObjectReference{
			APIVersion: "v1", Kind: "ConfigMap", Namespace: r.opts.Namespace, Name: spec.ConfigMapName(r.opts.Name),
		},
		Reason: reason, Message: msg, Type: typ,
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
		Source:              corev1.EventSource{Component: "gitsync"},
		ReportingController: "gitsync.io/sync-job", ReportingInstance: r.holder(),
	}
	// A replayed create makes a duplicate Event at worst.
	if _, err := r.client.Events(r.opts.Namespace).Create(retry.ReplaySafe(ctx), ev, metav1.CreateOptions{}); err != nil {
		r.log.Warn("emitting the event failed", "reason", reason, "error", err)
	}
}
