package apply

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/csaupgrade"

	"github.com/gitsync/gitsync/pkg/object"
	"github.com/gitsync/gitsync/pkg/retry"
)

// Options tunes one Apply call. The zero value is usable.
type Options struct {
	// FieldManager owns the applied fields. Default DefaultFieldManager
	// ("gitsync"). Drift fingerprints are computed for this manager.
	FieldManager string
	// Concurrency bounds the requests in flight within a stage. Default
	// DefaultConcurrency.
	Concurrency int
	// Force lets the engine delete and recreate an object whose apply was
	// rejected because an immutable field changed (the Sync's spec.force).
	// Default false; AnnotationForce asks for it per object.
	Force bool
	// Labels are set on every applied object, overriding rendered labels of
	// the same key: the orchestrator passes the ApplySet part-of label and
	// gitsync's sync labels. The live objects carrying all of them are
	// "ours": Apply lists them before each stage, and only they are ever
	// replaced under Force. Default none (then every live object counts as
	// ours).
	Labels map[string]string
	// DryRun sends every write with dryRun=All, so nothing changes; Changes
	// then carry Before and After for a diff. Default false.
	DryRun bool
	// PerNamespace lists live objects one namespace at a time instead of
	// cluster-wide, for appliers that only have namespaced rights. Default
	// false; a cluster-wide list that is forbidden falls back to it anyway.
	PerNamespace bool
	// CRDTimeout bounds the wait for applied CRDs to be Established and
	// their kinds to appear in discovery. Default 1 minute.
	CRDTimeout time.Duration
	// DeleteTimeout bounds the wait for an object being replaced (Force) to
	// be gone. Default 2 minutes.
	DeleteTimeout time.Duration
	// Adopt takes over live objects that belong to another owner: objects
	// that carry a key of Labels with another value (another sync's, or
	// another ApplySet's). Default false: such an object is Failed with an
	// *OwnerConflictError and left as it is; AnnotationAdopt asks for
	// adoption per object. Objects that carry none of Labels' keys (made by
	// kubectl, Helm or another tool) are always adopted, and their Change
	// says so in AdoptedFrom.
	Adopt bool
	// Owner, when set, is the part of Labels that names the owner as a
	// whole (a sync), the other keys naming one part of it (one unit of
	// the sync, with its own ApplySet). A live object that carries every
	// label of Owner with the same values belongs to the same owner even
	// when its other labels name another part: it is taken over without
	// Adopt, as an object moved from one unit of a sync to another in one
	// commit must be. Default none: every key of Labels names the owner.
	Owner map[string]string
	// Fingerprints are the fingerprints the previous run recorded
	// (Change.Fingerprint), by object. An object whose rendered form is
	// byte-for-byte what was applied then, and whose live state still
	// matches (nobody took a field gitsync owns, same UID), is not sent
	// again and reads Unchanged: a commit that touches a few objects of a
	// thousand costs a few applies. Default none: every object is sent.
	Fingerprints map[object.ID]string
	// Listed is what the drift check that found the objects to apply
	// listed (DriftOptions.Listed): their resources are not listed again.
	// Default none.
	Listed *Listed
	// Ignore are rules naming fields of existing objects that are left to
	// whoever else writes them once gitsync no longer owns them; see
	// IgnoreRule. The fingerprints leave them out. Default none: every
	// rendered field is applied.
	Ignore []IgnoreRule
	// ApplyIgnored sends the fields Ignore names too, taking them back,
	// while the fingerprints still leave them out: a HelmRelease's upgrade
	// applies its whole manifest, as helm-controller's does. Default
	// false.
	ApplyIgnored bool

	// ignore is Ignore compiled, by Apply.
	ignore []ignoreRule
}

func (o Options) withDefaults() Options {
	if o.FieldManager == "" {
		o.FieldManager = DefaultFieldManager
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.CRDTimeout <= 0 {
		o.CRDTimeout = time.Minute
	}
	if o.DeleteTimeout <= 0 {
		o.DeleteTimeout = 2 * time.Minute
	}
	return o
}

// migratedManagers are the managers whose Update entries Override migrates
// to gitsync's Apply entry, so that gitsync can remove a field it applied
// under their name: kubectl's client-side apply (and old kubectl's plain
// "kubectl"), the API server's placeholder for fields that existed before
// the first server-side apply, and the engine's own Update entries (left by
// an IfNotPresent create).
var migratedManagers = []string{"kubectl-client-side-apply", "kubectl", "before-first-apply"}

// metaAccept asks the API server to answer with the object's metadata only:
// all the engine needs after a write, and much cheaper to encode and decode.
const metaAccept = "application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1," +
	"application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"

// clockSkew is how far apart the clocks of several API servers behind one
// endpoint may be for Unchanged detection to stay sound (see classify).
const clockSkew = time.Second

// item is one object on its way through Apply.
type item struct {
	obj    *unstructured.Unstructured
	change *Change
	policy Policy
}

// Apply server-side applies objs in stages and returns one Change per
// object, in the order given. objs are not modified.
//
// Per-object problems (invalid object, unknown kind, rejected apply) are
// Failed changes, gathered by ChangeSet.Err; one failure does not stop the
// other objects of its stage, but later stages are not attempted (their
// objects are Skipped with ErrNotAttempted). The error result is for the call
// as a whole: a cancelled context.
//
// Before each stage, Apply lists the metadata of the live objects carrying
// Options.Labels (one LIST per resource, or per resource and namespace).
// That tells it, without a GET per object, which objects are ours, whether a
// live object opted out (AnnotationReconcile disabled, as annotation or
// label), and what they looked like before. An object's action is then:
//
//   - Unchanged, without sending anything, when Options.Fingerprints has
//     the object and both halves of its fingerprint still hold: the body
//     is the one applied then, and its live state shows nobody took a field
//     gitsync owns since (and no client-side-apply manager waits to be
//     migrated);
//   - Created when the apply answered 201 Created;
//   - Unchanged when its resourceVersion did not move, or when gitsync's
//     managedFields timestamp did not move and is older than the list (the
//     API server stamps the manager's entry on every apply that changes the
//     object, and a write by someone else moves the resourceVersion but not
//     that stamp);
//   - Configured otherwise. Timestamps have one-second resolution, so an
//     object gitsync changed less than about a second before the list and
//     that someone else wrote since is reported Configured even if this
//     apply did not change it: never the other way round.
func (e *Engine) Apply(ctx context.Context, objs []*unstructured.Unstructured, opts Options) (*ChangeSet, error) {
	opts = opts.withDefaults()
	cs := &ChangeSet{Changes: make([]Change, len(objs))}
	rules, rerr := compileIgnore(opts.Ignore)
	opts.ignore = rules
	var stages [numStages][]*item
	count := make(map[object.ID]int, len(objs))
	for _, u := range objs {
		count[object.IDOf(u)]++
	}
	set := setInfo{crdKinds: map[schema.GroupKind]bool{}, namespaces: map[string]bool{}}
	var invalid [numStages]bool // a stage with an object that failed before being sent
	for i, u := range objs {
		c := &cs.Changes[i]
		c.ID = object.IDOf(u)
		c.Version = u.GroupVersionKind().Version
		p, err := PolicyOf(u.GetAnnotations())
		switch {
		case rerr != nil:
			err = rerr
		case validate(u) != nil:
			err = validate(u)
		case count[c.ID] > 1:
			err = fmt.Errorf("appears %d times in the set", count[c.ID])
		}
		if err != nil {
			c.Action, c.Err = Failed, fmt.Errorf("%s: %w", c.ID, err)
			invalid[StageOf(c.ID.GroupKind())] = true
			continue
		}
		if isCRD(c.ID.GroupKind()) {
			g, _, _ := unstructured.NestedString(u.Object, "spec", "group")
			k, _, _ := unstructured.NestedString(u.Object, "spec", "names", "kind")
			set.crdKinds[schema.GroupKind{Group: g, Kind: k}] = true
		}
		if c.ID.GroupKind() == (schema.GroupKind{Kind: "Namespace"}) {
			set.namespaces[c.Name] = true
		}
		st := StageOf(c.ID.GroupKind())
		stages[st] = append(stages[st], &item{obj: u, change: c, policy: p})
	}

	failed := false
	for st, items := range stages {
		if len(items) == 0 {
			failed = failed || invalid[st]
			continue
		}
		if failed {
			for _, it := range items {
				it.change.Action = Skipped
				it.change.Err = fmt.Errorf("%s: %w", it.change.ID, ErrNotAttempted)
			}
			continue
		}
		start := time.Now()
		e.applyStage(ctx, items, set, opts)
		if err := ctx.Err(); err != nil {
			return cs, interrupted(cs, err)
		}
		if Stage(st) == StageClusterDefinitions && !opts.DryRun {
			e.settleCRDs(ctx, items, opts)
		}
		counts := map[Action]int{}
		failed = failed || invalid[st]
		for _, it := range items {
			c := it.change
			if c.Err != nil {
				e.log.Debug("object", "object", c.ID.String(), "action", string(c.Action), "error", c.Err.Error())
			} else {
				e.log.Debug("object", "object", c.ID.String(), "action", string(c.Action))
			}
			counts[it.change.Action]++
			if it.change.Action == Failed {
				failed = true
			}
		}
		e.log.Info("stage applied", "stage", Stage(st).String(), "objects", len(items),
			"duration", time.Since(start).Round(time.Millisecond).String(), "counts", counts)
	}
	return cs, nil
}

// interrupted marks the changes a cancelled Apply never got to as Failed.
func interrupted(cs *ChangeSet, err error) error {
	for i := range cs.Changes {
		if c := &cs.Changes[i]; c.Action == "" {
			c.Action, c.Err = Failed, fmt.Errorf("%s: %w", c.ID, err)
		}
	}
	return err
}

// validate checks what the engine needs from a rendered object.
func validate(u *unstructured.Unstructured) error {
	switch {
	case u.GetAPIVersion() == "":
		return errors.New("apiVersion is missing")
	case u.GetKind() == "":
		return errors.New("kind is missing")
	case u.GetName() == "":
		return errors.New("metadata.name is missing")
	}
	return nil
}

// setInfo is what later stages need to know about the whole set.
type setInfo struct {
	crdKinds   map[schema.GroupKind]bool // kinds defined by CRDs in the set
	namespaces map[string]bool           // Namespaces in the set
}

// applyStage resolves, pre-lists and applies the items of one stage.
func (e *Engine) applyStage(ctx context.Context, items []*item, set setInfo, opts Options) {
	var todo []*item
	for _, it := range items {
		c := it.change
		var retryFor time.Duration
		if set.crdKinds[c.ID.GroupKind()] && !opts.DryRun {
			retryFor = opts.CRDTimeout
		}
		err := e.resolve(ctx, c, it.obj, retryFor)
		switch {
		case it.policy.ReconcileDisabled || it.policy.SSA == SSAIgnore:
			c.Action = Skipped // even when the kind does not resolve: it is not ours to check
		case err != nil && opts.DryRun && meta.IsNoMatchError(err) && set.crdKinds[c.ID.GroupKind()]:
			c.Action = Created // its CRD is in this set and a dry run did not create it
		case err != nil:
			c.Action, c.Err = Failed, fmt.Errorf("%s: %w", c.ID, err)
		default:
			todo = append(todo, it)
		}
	}
	if len(todo) == 0 {
		return
	}
	if opts.DryRun {
		forEach(ctx, todo, opts.Concurrency, func(ctx context.Context, it *item) { e.dryRunOne(ctx, it, set, opts) })
		return
	}
	targets := make([]Target, len(todo))
	for i, it := range todo {
		targets[i] = it.change.Target
	}
	lctx, st := withServerTime(ctx)
	live := e.listLive(lctx, targets, opts.Labels, opts.PerNamespace, opts.Concurrency, opts.Listed)
	listed := st.get()
	if at := opts.Listed.time(); !at.IsZero() && (listed.IsZero() || at.Before(listed)) {
		listed = at
	}
	sv := e.surveyUnlisted(ctx, todo, live, opts)
	forEach(ctx, todo, opts.Concurrency, func(ctx context.Context, it *item) {
		e.applyOne(ctx, it, live[it.change.ID], sv, listed, opts)
	})
}

// resolve fills in the change's resource, scope and normalized ID. A kind
// whose CRD is in this set may take a moment to show up in discovery after
// the CRD is Established, so an unknown kind is retried for retryFor.
func (e *Engine) resolve(ctx context.Context, c *Change, u *unstructured.Unstructured, retryFor time.Duration) error {
	gvk := u.GroupVersionKind()
	mapping, err := e.mapper.mapping(ctx, gvk.GroupKind(), gvk.Version, true)
	if err != nil && meta.IsNoMatchError(err) && retryFor > 0 {
		deadline := time.Now().Add(retryFor)
		for delay := 100 * time.Millisecond; err != nil && meta.IsNoMatchError(err) && time.Now().Before(deadline); delay = min(2*delay, time.Second) {
			if serr := sleep(ctx, delay); serr != nil {
				return serr
			}
			e.mapper.rearm()
			mapping, err = e.mapper.mapping(ctx, gvk.GroupKind(), gvk.Version, true)
		}
	}
	if err != nil {
		return fmt.Errorf("resolving kind %s: %w", gvk, err)
	}
	c.Resource = mapping.Resource.Resource
	c.Namespaced = mapping.Scope.Name() == meta.RESTScopeNameNamespace
	switch {
	case c.Namespaced && c.Namespace == "":
		return errors.New("namespaced object without metadata.namespace")
	case !c.Namespaced:
		c.Namespace = "" // a namespace on a cluster-scoped object means nothing; kustomize sets it on unknown kinds
	}
	return nil
}

// body returns the JSON the engine sends for u: u with the labels added and
// the server-owned metadata removed (an apply must not carry managedFields,
// and a resourceVersion would become a precondition).
func body(u *unstructured.Unstructured, c *Change, labels map[string]string) ([]byte, error) {
	obj := make(map[string]any, len(u.Object))
	for k, v := range u.Object {
		obj[k] = v
	}
	md := map[string]any{}
	if m, ok := u.Object["metadata"].(map[string]any); ok {
		for k, v := range m {
			md[k] = v
		}
	}
	for _, k := range []string{"managedFields", "resourceVersion", "uid", "selfLink", "generation",
		"creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"} {
		delete(md, k)
	}
	if c.Namespace == "" {
		delete(md, "namespace")
	}
	if len(labels) > 0 {
		l := map[string]any{}
		if m, ok := md["labels"].(map[string]any); ok {
			for k, v := range m {
				l[k] = v
			}
		}
		for k, v := range labels {
			l[k] = v
		}
		md["labels"] = l
	}
	obj["metadata"] = md
	return json.Marshal(obj)
}

// applyOne applies one object and fills in its change. pre is the object
// as listed with Options.Labels; sv may know it when it was not.
func (e *Engine) applyOne(ctx context.Context, it *item, pre *metav1.PartialObjectMetadata, sv *survey, listed time.Time, opts Options) {
	c := it.change
	fail := func(format string, err error) {
		c.Action, c.Err = Failed, fmt.Errorf("%s: "+format+": %w", c.ID, err)
	}
	if pre != nil && liveOptOut(pre.Annotations, pre.Labels) {
		c.Action = Skipped
		return
	}
	absent := false // known not to exist from the survey
	existing := pre // the live object's metadata, when known to exist
	if pre == nil && len(opts.Labels) > 0 && it.policy.SSA != SSAIfNotPresent {
		// Not among the objects listed with our labels: new, or someone
		// else's. Only here is the object read before it is applied (or
		// looked up in the survey of its resource), so an object that is
		// already ours costs no request.
		live, known := sv.lookup(c.Target)
		var err error
		if !known {
			live, err = e.meta.Resource(c.GroupVersionResource()).Namespace(c.Namespace).Get(ctx, c.Name, metav1.GetOptions{})
		}
		switch {
		case known && live == nil:
			absent = true
		case apierrors.IsNotFound(err):
		case err != nil:
			fail("reading the live object to check who owns it", err)
			return
		case liveOptOut(live.Annotations, live.Labels):
			c.Action = Skipped
			return
		default:
			if c.Adopted, err = adoption(live, it.policy, opts); err != nil {
				c.Action, c.Err = Failed, fmt.Errorf("%s: %w", c.ID, err)
				return
			}
			existing = live
		}
	}
	full, err := body(it.obj, c, opts.Labels)
	if err != nil {
		fail("encoding", err)
		return
	}
	data := full
	gvk := it.obj.GroupVersionKind()
	if existing != nil && existing.DeletionTimestamp == nil && it.policy.SSA != SSAIfNotPresent && !opts.ApplyIgnored {
		if ptrs := ignoredPointers(opts.ignore, gvk, it.obj, c.Namespace); len(ptrs) > 0 {
			if data, err = leaveIgnored(full, existing.ManagedFields, opts.FieldManager, ptrs, opts.Labels); err != nil {
				fail("applying ignore rules", err)
				return
			}
		}
	}
	if it.policy.SSA == SSAIfNotPresent {
		e.createIfNotPresent(ctx, c, data, pre, opts)
		return
	}
	digest := digestOf(data)
	if fp := opts.Fingerprints[c.ID]; pre != nil && pre.DeletionTimestamp == nil && fp != "" &&
		(it.policy.SSA == SSAMerge || !needsMigration(pre.ManagedFields, opts.FieldManager)) &&
		fp == fingerprint(stateOfFingerprint(fp), digest) &&
		stateMatchesIgnoring(pre, opts.FieldManager, stateOfFingerprint(fp), ignoredPointers(opts.ignore, gvk, pre, c.Namespace)) {
		c.Action, c.Fingerprint = Unchanged, opts.Fingerprints[c.ID]
		return
	}

	post, created, err := e.patchApply(ctx, c.Target, data, opts.FieldManager)
	replaced := false
	if err != nil && isImmutable(err) {
		if !opts.Force && !it.policy.Force {
			fail("immutable field changed (enable force to recreate the object)", err)
			return
		}
		if pre == nil && len(opts.Labels) > 0 {
			fail("immutable field changed on an object that does not carry this sync's labels; not recreating it", err)
			return
		}
		if err := e.deleteAndWait(ctx, c.Target, pre, opts.DeleteTimeout); err != nil {
			fail("recreating after an immutable field change", err)
			return
		}
		// A new object gets all of its fields, ignored ones included.
		data, digest = full, digestOf(full)
		post, created, err = e.patchApply(ctx, c.Target, data, opts.FieldManager)
		replaced = true
	}
	if err != nil {
		fail("apply", err)
		return
	}

	migrated := false
	if it.policy.SSA != SSAMerge && needsMigration(post.ManagedFields, opts.FieldManager) {
		post, err = e.migrate(ctx, c.Target, post, data, opts.FieldManager)
		if err != nil {
			fail("migrating field ownership from client-side apply", err)
			return
		}
		migrated = true
	}

	if absent && !created && c.Adopted == nil {
		// Someone created it between the survey and the apply: it is
		// taken over as an object nobody had labelled would be; say so.
		c.Adopted = &Adoption{}
		for _, m := range post.ManagedFields {
			if m.Manager != opts.FieldManager && m.Manager != "" && !slices.Contains(c.Adopted.Managers, m.Manager) {
				c.Adopted.Managers = append(c.Adopted.Managers, m.Manager)
			}
		}
		slices.Sort(c.Adopted.Managers)
	}
	switch {
	case replaced:
		c.Action = Replaced
	case migrated && !created:
		c.Action = Configured
	default:
		c.Action = classify(created, pre, post, listed, opts.FieldManager)
	}
	c.Fingerprint = fingerprint(stateOfIgnoring(post, opts.FieldManager, ignoredPointers(opts.ignore, gvk, post, c.Namespace)), digest)
}

// classify decides Created, Unchanged or Configured; see Apply.
func classify(created bool, pre, post *metav1.PartialObjectMetadata, listed time.Time, manager string) Action {
	switch {
	case created:
		return Created
	case pre == nil || post == nil:
		return Configured
	case pre.ResourceVersion != "" && pre.ResourceVersion == post.ResourceVersion:
		return Unchanged
	}
	before := applyEntry(pre.ManagedFields, manager)
	after := applyEntry(post.ManagedFields, manager)
	if before != nil && after != nil && before.Time != nil && after.Time != nil && !listed.IsZero() &&
		before.Time.Equal(after.Time) && before.Time.Add(clockSkew).Before(listed) {
		return Unchanged
	}
	return Configured
}

// patchApply sends one server-side apply and returns the object's metadata
// and whether the server created it.
func (e *Engine) patchApply(ctx context.Context, t Target, data []byte, manager string) (*metav1.PartialObjectMetadata, bool, error) {
	var created bool
	res := e.rc.Patch(types.ApplyPatchType).AbsPath(resourcePath(t, t.Name)...).
		SetHeader("Accept", metaAccept).
		Param("fieldManager", manager).Param("force", "true").
		Body(data).Do(ctx).WasCreated(&created)
	out, err := decodeMeta(res)
	return out, created, err
}

// createIfNotPresent implements SSAIfNotPresent: a plain create, which the
// server refuses atomically when the object exists.
func (e *Engine) createIfNotPresent(ctx context.Context, c *Change, data []byte, pre *metav1.PartialObjectMetadata, opts Options) {
	if pre != nil {
		c.Action = Skipped
		c.Fingerprint = stateOf(pre, opts.FieldManager)
		return
	}
	// Safe to send twice (pkg/retry): a create that got through answers
	// AlreadyExists the second time, handled below.
	out, err := decodeMeta(e.rc.Post().AbsPath(resourcePath(c.Target, "")...).
		SetHeader("Accept", metaAccept).SetHeader("Content-Type", "application/json").
		Param("fieldManager", opts.FieldManager).Body(data).Do(retry.ReplaySafe(ctx)))
	switch {
	case err == nil:
		c.Action = Created
		c.Fingerprint = stateOf(out, opts.FieldManager)
	case apierrors.IsAlreadyExists(err):
		// It exists but was not in our listing: not ours, or the listing
		// failed. Leave it; fingerprint it only if it is ours.
		c.Action = Skipped
		live, gerr := e.meta.Resource(c.GroupVersionResource()).Namespace(c.Namespace).Get(ctx, c.Name, metav1.GetOptions{})
		if gerr == nil && hasLabels(live.Labels, opts.Labels) && len(opts.Labels) > 0 {
			c.Fingerprint = stateOf(live, opts.FieldManager)
		}
	default:
		c.Action, c.Err = Failed, fmt.Errorf("%s: create: %w", c.ID, err)
	}
}

// needsMigration tells whether one of migratedManagers, or manager itself,
// has an Update entry for the main resource.
func needsMigration(entries []metav1.ManagedFieldsEntry, manager string) bool {
	for _, e := range entries {
		if e.Operation != metav1.ManagedFieldsOperationUpdate || e.Subresource != "" {
			continue
		}
		if e.Manager == manager {
			return true
		}
		for _, m := range migratedManagers {
			if e.Manager == m {
				return true
			}
		}
	}
	return false
}

// migrate moves the fields of the client-side-apply managers into manager's
// Apply entry (k8s.io/client-go/util/csaupgrade), guarded by the
// resourceVersion, then applies again: the fields that were only in the
// old managers' sets and are not in Git are now gitsync's to remove. A
// conflict (someone wrote in between) restarts from a fresh apply.
func (e *Engine) migrate(ctx context.Context, t Target, post *metav1.PartialObjectMetadata, data []byte, manager string) (*metav1.PartialObjectMetadata, error) {
	managers := sets.New(append([]string{manager}, migratedManagers...)...)
	for attempt := 0; ; attempt++ {
		patch, err := csaupgrade.UpgradeManagedFieldsPatch(post, managers, manager)
		if err != nil {
			return nil, err
		}
		if patch != nil {
			_, err = decodeMeta(e.rc.Patch(types.JSONPatchType).AbsPath(resourcePath(t, t.Name)...).
				SetHeader("Accept", metaAccept).Body(patch).Do(ctx))
			if apierrors.IsConflict(err) && attempt < 3 {
				if post, _, err = e.patchApply(ctx, t, data, manager); err != nil {
					return nil, err
				}
				continue
			}
			if err != nil {
				return nil, err
			}
		}
		post, _, err = e.patchApply(ctx, t, data, manager)
		return post, err
	}
}

// immutableMessage matches the API server's and common admission webhooks'
// wording for a rejected change of an immutable field.
var immutableMessage = regexp.MustCompile(`(?i)immutable|may not change once set|may not change fields|cannot be changed|updates to [a-z]+ spec for fields other than .* are forbidden`)

// isImmutable tells whether an apply was rejected because it changed an
// immutable field. Only Invalid (422) errors count: Flux and kubectl also
// treat every Conflict and Invalid error as immutable, which with force would
// delete an object over a typo.
func isImmutable(err error) bool {
	if !apierrors.IsInvalid(err) {
		return false
	}
	if immutableMessage.MatchString(err.Error()) {
		return true
	}
	var se apierrors.APIStatus
	if errors.As(err, &se) && se.Status().Details != nil {
		for _, cause := range se.Status().Details.Causes {
			if immutableMessage.MatchString(cause.Message) {
				return true
			}
		}
	}
	return false
}

// deleteAndWait deletes the object in the foreground (dependents first, as
// a Job's Pods) and waits until it is gone. With pre known, the delete is
// preconditioned on its UID so a newer object of the same name survives.
func (e *Engine) deleteAndWait(ctx context.Context, t Target, pre *metav1.PartialObjectMetadata, timeout time.Duration) error {
	client := e.meta.Resource(t.GroupVersionResource()).Namespace(t.Namespace)
	fg := metav1.DeletePropagationForeground
	do := metav1.DeleteOptions{PropagationPolicy: &fg}
	if pre != nil {
		do.Preconditions = &metav1.Preconditions{UID: &pre.UID}
	}
	if err := client.Delete(ctx, t.Name, do); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		_, err := client.Get(ctx, t.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err := sleep(ctx, delay); err != nil {
			return fmt.Errorf("waiting for the old object to be gone: %w", err)
		}
	}
}

// settleCRDs waits until the CRDs applied in the first stage are
// Established, failing those that are not, and lets the engine read
// discovery again when one of their kinds is missing.
func (e *Engine) settleCRDs(ctx context.Context, items []*item, opts Options) {
	var crds []*item
	changed := false
	for _, it := range items {
		if isCRD(it.change.ID.GroupKind()) && it.change.Action != Failed && it.change.Action != Skipped {
			crds = append(crds, it)
			changed = changed || it.change.Action != Unchanged
		}
	}
	if len(crds) == 0 {
		return
	}
	targets := make([]Target, len(crds))
	for i, it := range crds {
		targets[i] = it.change.Target
	}
	results := e.waitAll(ctx, targets, WaitOptions{Timeout: opts.CRDTimeout, Concurrency: opts.Concurrency})
	for i, it := range crds {
		if results[i] != nil {
			it.change.Action, it.change.Err = Failed, results[i]
		}
	}
	if changed {
		e.mapper.rearm()
	}
}

// dryRunOne asks the server what applying one object would do.
func (e *Engine) dryRunOne(ctx context.Context, it *item, set setInfo, opts Options) {
	c := it.change
	client := e.dyn.Resource(c.GroupVersionResource()).Namespace(c.Namespace)
	live, err := client.Get(ctx, c.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		live = nil
	case err != nil:
		c.Action, c.Err = Failed, fmt.Errorf("%s: get: %w", c.ID, err)
		return
	}
	c.Before = live
	if live != nil && liveOptOut(live.GetAnnotations(), live.GetLabels()) {
		c.Action = Skipped
		return
	}
	if live != nil && len(opts.Labels) > 0 && it.policy.SSA != SSAIfNotPresent {
		m := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Labels: live.GetLabels(), ManagedFields: live.GetManagedFields()}}
		if c.Adopted, err = adoption(m, it.policy, opts); err != nil {
			c.Action, c.Err = Failed, fmt.Errorf("%s: %w", c.ID, err)
			return
		}
	}
	data, err := body(it.obj, c, opts.Labels)
	if err != nil {
		c.Action, c.Err = Failed, fmt.Errorf("%s: encoding: %w", c.ID, err)
		return
	}
	if live != nil && it.policy.SSA != SSAIfNotPresent && !opts.ApplyIgnored {
		if ptrs := ignoredPointers(opts.ignore, it.obj.GroupVersionKind(), it.obj, c.Namespace); len(ptrs) > 0 {
			if data, err = leaveIgnored(data, live.GetManagedFields(), opts.FieldManager, ptrs, opts.Labels); err != nil {
				c.Action, c.Err = Failed, fmt.Errorf("%s: applying ignore rules: %w", c.ID, err)
				return
			}
		}
	}
	desired := &unstructured.Unstructured{}
	if err := json.Unmarshal(data, &desired.Object); err != nil {
		c.Action, c.Err = Failed, fmt.Errorf("%s: encoding: %w", c.ID, err)
		return
	}
	dryRun := []string{metav1.DryRunAll}
	if it.policy.SSA == SSAIfNotPresent {
		if live != nil {
			c.Action = Skipped
			return
		}
		c.After, err = client.Create(retry.ReplaySafe(ctx), desired, metav1.CreateOptions{DryRun: dryRun, FieldManager: opts.FieldManager})
	} else {
		force := true
		c.After, err = client.Apply(ctx, c.Name, desired, metav1.ApplyOptions{DryRun: dryRun, FieldManager: opts.FieldManager, Force: force})
	}
	switch {
	case err != nil && isImmutable(err) && (opts.Force || it.policy.Force):
		c.Action = Replaced
	case err != nil && apierrors.IsNotFound(err) && live == nil && set.namespaces[c.Namespace]:
		c.Action = Created // its Namespace is in this set and a dry run did not create it
	case err != nil:
		c.Action, c.Err = Failed, fmt.Errorf("%s: dry-run apply: %w", c.ID, err)
	case live == nil:
		c.Action = Created
	case sameContent(live, c.After):
		c.Action = Unchanged
	default:
		c.Action = Configured
	}
}

// sameContent compares two versions of an object, ignoring what every write
// changes (resourceVersion, managedFields, generation).
func sameContent(a, b *unstructured.Unstructured) bool {
	strip := func(u *unstructured.Unstructured) map[string]any {
		c := u.DeepCopy()
		c.SetManagedFields(nil)
		c.SetResourceVersion("")
		c.SetGeneration(0)
		return c.Object
	}
	return equalJSON(strip(a), strip(b))
}

func equalJSON(a, b map[string]any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

// decodeMeta decodes a PartialObjectMetadata answer, or returns the
// request's error (a structured API error when the server sent a Status).
func decodeMeta(res rest.Result) (*metav1.PartialObjectMetadata, error) {
	if err := res.Error(); err != nil {
		return nil, err
	}
	out := &metav1.PartialObjectMetadata{}
	if err := res.Into(out); err != nil {
		return nil, fmt.Errorf("decoding response: %w", err)
	}
	return out, nil
}

// OwnerConflictError is the error of a Failed Change whose live object
// belongs to another owner: it carries a key of Options.Labels with another
// value. Neither Options.Adopt nor AnnotationAdopt asked to take it over.
type OwnerConflictError struct {
	// Theirs holds the live object's values of the keys of Options.Labels
	// it carries; at least one differs from Ours.
	Theirs map[string]string
	// Ours is Options.Labels.
	Ours map[string]string
}

func (e *OwnerConflictError) Error() string {
	return fmt.Sprintf("belongs to another owner (labels %s, not %s); not taking it over unless annotation %s: enabled or the adopt option asks for it",
		formatLabels(e.Theirs), formatLabels(e.Ours), AnnotationAdopt)
}

// adoption applies the ownership rule to a live object that was not listed
// with Options.Labels. It says from whom the apply takes the object (nil
// when the object is ours after all), or returns an *OwnerConflictError when
// it must not take it.
func adoption(live *metav1.PartialObjectMetadata, p Policy, opts Options) (*Adoption, error) {
	theirs := map[string]string{}
	conflict, shared := false, false
	for k, v := range opts.Labels {
		lv, ok := live.Labels[k]
		if !ok {
			continue
		}
		theirs[k] = lv
		conflict = conflict || lv != v
		shared = shared || lv == v
	}
	switch {
	case conflict && len(opts.Owner) > 0 && hasLabels(live.Labels, opts.Owner):
		return nil, nil // another part of the same owner: moving here
	case conflict && !opts.Adopt && !p.Adopt:
		return nil, &OwnerConflictError{Theirs: theirs, Ours: opts.Labels}
	case !conflict && shared:
		return nil, nil // ours, though the listing did not have it
	}
	a := &Adoption{}
	if conflict {
		a.Labels = theirs
	}
	for _, m := range live.ManagedFields {
		if m.Manager != opts.FieldManager && m.Manager != "" && !slices.Contains(a.Managers, m.Manager) {
			a.Managers = append(a.Managers, m.Manager)
		}
	}
	slices.Sort(a.Managers)
	return a, nil
}

func formatLabels(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ", ")
}

// hasLabels tells whether have carries every label of want.
func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}
