package syncrun

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gitsync/gitsync/pkg/apply"
	"github.com/gitsync/gitsync/pkg/helm"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/lease"
	"github.com/gitsync/gitsync/pkg/object"
	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/spec"
)

// LabelSyncNamespace names the namespace of the sync an applied object
// belongs to; inventory.LabelSync names the sync.
const LabelSyncNamespace = "gitsync.io/sync-namespace"

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
	// Now returns the current time. Default time.Now.
	Now func() time.Time

	// stopAfterApply makes the run return right after apply, without
	// prune, record or releasing the Lease: what a run killed at that
	// point leaves behind. Tests only.
	stopAfterApply bool
}

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
)

// Result is what one run did.
type Result struct {
	// Outcome says how the run ended.
	Outcome Outcome
	// Revision is the source revision the run worked on.
	Revision string
	// Rendered tells whether the run fetched and rendered the source; false
	// when the revision and spec were unchanged and only drift was checked.
	Rendered bool
	// Drifted lists the objects the drift check found changed or missing.
	Drifted []object.ID
	// Applied and Pruned are the change sets of apply and prune.
	Applied, Pruned *apply.ChangeSet
	// Objects is the number of objects in the rendered (or recorded) set.
	Objects int
	// Start and End bound the run.
	Start, End time.Time
	// Verified names the key that verified the source's signature (see
	// source.Artifact.Verified); for a run that did not fetch, the key
	// that verified the same revision before. "" without verification.
	Verified string
	// Message says what happened in one line.
	Message string
	// Err is why the run failed; nil unless Outcome is Failed.
	Err error

	specDigest, setDigest string
}

// SpecError reports a missing or invalid Sync spec: a problem for whoever
// wrote the spec, not one a later run fixes by itself.
type SpecError struct{ Err error }

func (e *SpecError) Error() string { return e.Err.Error() }
func (e *SpecError) Unwrap() error { return e.Err }

// runner holds what one run shares between its stages.
type runner struct {
	opts   Options
	cfg    *rest.Config
	log    *slog.Logger
	client kubernetes.Interface
	engine *apply.Engine
	store  *inventory.Store
	sync   *spec.Sync
	now    func() time.Time
	// sources resolves and fetches each source once per run; close
	// removes what it fetched.
	sources *source.Cache
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
	return r.run(ctx)
}

// newRunner builds the clients a run (or a render) needs.
func newRunner(opts Options) (*runner, error) {
	r := &runner{opts: opts, log: opts.Logger, now: opts.Now}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	r.log = r.log.With("sync", opts.Namespace+"/"+opts.Name)
	r.cfg = rest.CopyConfig(opts.Config)
	r.cfg.QPS, r.cfg.Burst = 1000, 2000
	var err error
	if r.client, err = kubernetes.NewForConfig(r.cfg); err != nil {
		return nil, err
	}
	if r.engine, err = apply.New(r.cfg, r.log); err != nil {
		return nil, err
	}
	r.store = &inventory.Store{Client: r.client, Namespace: opts.Namespace, Sync: opts.Name}
	r.sources = source.NewCache(opts.WorkDir)
	return r, nil
}

// close removes what the run fetched. Failing to does not change the
// run's outcome (the Pod's filesystem goes with it), so it is logged.
func (r *runner) close(ctx context.Context) {
	if err := r.sources.Close(); err != nil {
		r.log.WarnContext(ctx, "removing the fetched sources failed", "error", err)
	}
}

func (r *runner) run(ctx context.Context) (*Result, error) {
	start := r.now()
	res := &Result{Start: start}

	if err := r.loadSpec(ctx); err != nil {
		return nil, err
	}
	// spec.suspend is not checked here: it suspends the schedule (the
	// CronJob), and a run that was started anyway — `kubectl gitsync run`, a
	// rollback — is one somebody asked for.

	// The Lease is renewed until leaseCtx ends.
	leaseCtx, stopRenewing := context.WithCancel(ctx)
	defer stopRenewing()
	l, err := lease.Acquire(leaseCtx, r.client, r.opts.Namespace, lease.Name(r.opts.Name),
		lease.Options{Holder: r.opts.Holder, Duration: r.opts.LeaseDuration, Logger: r.log})
	var held *lease.HeldError
	if errors.As(err, &held) {
		res.Outcome, res.End = Busy, r.now()
		res.Message = fmt.Sprintf("another run holds Lease %s/%s (holder %s); nothing to do", r.opts.Namespace, lease.Name(r.opts.Name), held.Holder)
		return res, nil
	}
	if err != nil {
		return nil, err
	}
	defer func() {
		if r.opts.stopAfterApply {
			return // a killed run releases nothing
		}
		// Release even when ctx was cancelled (SIGTERM), so the next run need
		// not wait for the Lease to expire.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := l.Release(rctx); err != nil {
			r.log.Warn("releasing the lease failed; it expires by itself", "error", err)
		}
	}()

	inv, err := r.store.Load(ctx)
	if err != nil {
		return nil, err
	}
	r.pass(ctx, inv, res)
	if r.opts.stopAfterApply {
		return res, nil
	}
	res.End = r.now()
	r.record(ctx, inv, res)
	return res, nil
}

// pass runs resolve → (fetch → render) → apply → prune → wait, filling res.
func (r *runner) pass(ctx context.Context, inv *inventory.Inventory, res *Result) {
	fail := func(stage string, err error) {
		res.Outcome, res.Err = Failed, fmt.Errorf("%s: %w", stage, err)
		res.Message = res.Err.Error()
	}
	s := &r.sync.Spec
	timeout := s.Timeout.Duration
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	in, err := r.gatherInputs(ctx)
	if err != nil {
		fail("inputs", err)
		return
	}
	src, err := r.resolve(ctx)
	if err != nil {
		fail("source", err)
		return
	}
	res.Revision = string(src.Revision)
	specDigest := r.specDigest(in.digest + src.ContentDigest)
	res.specDigest = specDigest

	rec := inv.Record
	upToDate := rec.LastRun.Result == inventory.ResultSucceeded &&
		rec.LastAppliedRevision == res.Revision && rec.LastAppliedSpecDigest == specDigest
	var only map[object.ID]bool
	if upToDate {
		drifted, err := r.engine.Drift(ctx, targets(inv.Entries), apply.DriftOptions{Selector: r.objectLabels(), Concurrency: r.opts.Concurrency})
		if err != nil {
			fail("drift", err)
			return
		}
		res.Objects = len(inv.Entries)
		// The revision was verified when it was fetched, with the same
		// keys: they are part of the spec digest.
		res.Verified = rec.LastRun.Verified
		if len(drifted) == 0 {
			res.Outcome = Succeeded
			res.Message = fmt.Sprintf("revision %s is applied; no drift in %d objects", res.Revision, len(inv.Entries))
			return
		}
		res.Drifted = drifted
		only = make(map[object.ID]bool, len(drifted))
		for _, id := range drifted {
			only[id] = true
		}
		r.log.Info("drift found", "revision", res.Revision, "objects", len(drifted))
	}

	// A chart renders as an upgrade once a previous apply succeeded.
	isUpgrade := rec.LastAppliedRevision != ""
	rnd, err := r.fetchAndRender(ctx, src, in, isUpgrade)
	res.Rendered = true
	if err != nil {
		fail("render", err)
		return
	}
	objs, setDigest := rnd.objects, rnd.digest
	res.Objects = len(objs)
	res.Verified = rnd.verified
	if len(objs) == 0 && len(inv.Entries) > 0 && !s.AllowEmpty {
		fail("render", errEmptyRender(len(inv.Entries)))
		return
	}
	// Resolve every object's resource, then write the union of the old and
	// the new set before touching anything: an interrupted run leaves every
	// object it may have created tracked.
	resolved, err := r.engine.Targets(objs)
	if err != nil {
		fail("render", err)
		return
	}
	if err := r.checkRendered(objs, resolved); err != nil {
		fail("render", err)
		return
	}
	current := entriesOf(resolved, inv.Entries)
	stale := inventory.Diff(inv.Entries, current)
	inv.Entries = inventory.Union(inv.Entries, current)
	if err := r.store.Save(ctx, inv); err != nil {
		fail("inventory", err)
		return
	}

	toApply := objs
	var fingerprints map[object.ID]string
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
	pre, post := helm.HookPreInstall, helm.HookPostInstall
	if isUpgrade {
		pre, post = helm.HookPreUpgrade, helm.HookPostUpgrade
	}
	runHooks := rnd.chart != nil && only == nil
	if runHooks {
		if err := r.runHooks(ctx, rnd.chart, pre); err != nil {
			fail("hooks", err)
			return
		}
	}
	labels := r.objectLabels()
	applied, err := r.engine.Apply(ctx, toApply, apply.Options{
		Concurrency:  r.opts.Concurrency,
		Force:        s.Force,
		Labels:       labels,
		Fingerprints: fingerprints,
	})
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
	if r.opts.stopAfterApply {
		return
	}

	if s.PruneEnabled() && len(stale) > 0 {
		pruned, err := r.engine.Prune(ctx, targets(stale), apply.PruneOptions{Selector: labels, Concurrency: r.opts.Concurrency})
		res.Pruned = pruned
		if err == nil {
			err = pruned.Err()
		}
		inv.Entries = inventory.Narrow(current, stale, deletedIDs(pruned))
		if err != nil {
			fail("prune", err)
			return
		}
	} else {
		// Without prune the stale objects are left in place and forgotten.
		inv.Entries = current
	}

	if err := r.health(ctx, current); err != nil {
		fail("health", err)
		return
	}
	if runHooks {
		if err := r.runHooks(ctx, rnd.chart, post); err != nil {
			fail("hooks", err)
			return
		}
	}
	res.Outcome = Succeeded
	res.Message = summary(res)
	res.setDigest = setDigest
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

func (r *runner) loadSpec(ctx context.Context) error {
	name := spec.ConfigMapName(r.opts.Name)
	cm, err := r.client.CoreV1().ConfigMaps(r.opts.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return &SpecError{fmt.Errorf("ConfigMap/%s/%s: no such sync (install it with kubectl gitsync install)", r.opts.Namespace, name)}
	}
	if err != nil {
		return fmt.Errorf("ConfigMap/%s/%s: %w", r.opts.Namespace, name, err)
	}
	data, ok := cm.Data[spec.ConfigMapKey]
	if !ok {
		return &SpecError{fmt.Errorf("ConfigMap/%s/%s: no key %q", r.opts.Namespace, name, spec.ConfigMapKey)}
	}
	s, err := spec.Parse([]byte(data))
	if err != nil {
		return &SpecError{fmt.Errorf("ConfigMap/%s/%s: %s: %w", r.opts.Namespace, name, spec.ConfigMapKey, err)}
	}
	if s.Name != "" && s.Name != r.opts.Name || s.Namespace != "" && s.Namespace != r.opts.Namespace {
		return &SpecError{fmt.Errorf("ConfigMap/%s/%s: the spec names sync %s/%s", r.opts.Namespace, name, s.Namespace, s.Name)}
	}
	r.sync = s
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
		LabelSyncNamespace:            r.opts.Namespace,
	}
}

// specDigest combines the spec's digest with the digest of the substitution
// inputs read from ConfigMaps and Secrets: a changed variable must trigger a
// render just as a changed spec does.
func (r *runner) specDigest(varsDigest string) string {
	if varsDigest == "" {
		return r.sync.Digest()
	}
	sum := sha256.Sum256([]byte(r.sync.Digest() + "\n" + varsDigest))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func summary(res *Result) string {
	var parts []string
	counts := map[apply.Action]int{}
	for _, cs := range []*apply.ChangeSet{res.Applied, res.Pruned} {
		if cs == nil {
			continue
		}
		for a, n := range cs.Counts() {
			counts[a] += n
		}
	}
	keys := make([]string, 0, len(counts))
	for a := range counts {
		keys = append(keys, string(a))
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", counts[apply.Action(k)], strings.ToLower(k)))
	}
	msg := fmt.Sprintf("revision %s: %d objects", res.Revision, res.Objects)
	if len(parts) > 0 {
		msg += " (" + strings.Join(parts, ", ") + ")"
	}
	return msg
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
	now := metav1.NewTime(res.End)
	msg := res.Message
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
	if _, err := r.client.CoreV1().Events(r.opts.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		r.log.Warn("emitting the event failed", "error", err)
	}
}
