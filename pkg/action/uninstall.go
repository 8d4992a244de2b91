package action

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"

	"github.com/gitsync/gitsync/pkg/apply"
	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/object"
)

// UninstallOptions say which sync Uninstall removes, and how much.
type UninstallOptions struct {
	// Ref names the sync.
	Ref
	// Prune first deletes the objects the sync applied. Default false: they
	// stay.
	Prune bool
	// JobTimeout bounds how long Uninstall waits for the sync's runs to
	// stop: its Jobs, and a run holding its Lease elsewhere. Default
	// DefaultJobTimeout.
	JobTimeout time.Duration
	// Progress is told what Uninstall waits for. Default NoProgress.
	Progress Progress
}

// Deletion is what Uninstall did to one object.
type Deletion struct {
	// ID is the object.
	ID object.ID
	// Action is apply.Deleted, apply.Skipped (kept: not labelled as this
	// sync's, or opted out of prune) or apply.Failed (a pruned object that
	// could not be deleted).
	Action apply.Action
	// Reason says why the object was kept or not deleted.
	Reason string
	// Applied tells that the object is one the sync applied (Prune), not
	// one of the sync's own.
	Applied bool
}

// UninstallResult is what Uninstall did, in order. After an error it holds
// what was done before it.
type UninstallResult struct {
	// Deletions are the objects deleted, kept or not deleted, in order.
	Deletions []Deletion
	// Left is the number of objects the sync applied that were left in
	// place (without Prune).
	Left int
}

// DeletedCount returns how many objects were deleted.
func (r *UninstallResult) DeletedCount() int {
	n := 0
	for _, d := range r.Deletions {
		if d.Action == apply.Deleted {
			n++
		}
	}
	return n
}

// Uninstall deletes what install and the sync's runs created. First it
// makes sure no run starts or goes on (stopRuns): it suspends the CronJob,
// deletes its Jobs and waits until they are gone, deletes the CronJob, and
// seizes the Lease, waiting for a run that held it elsewhere to stop. Only
// then does it delete, with Prune, the objects the sync applied
// (apply.Engine.Prune, its safety rules included), the spec ConfigMap, the
// inventory and history ConfigMaps, the Lease, the RBAC objects and the
// ServiceAccount. A run cut off meanwhile writes nothing more: it finds its
// spec gone or its Lease lost (see syncrun). Install's objects are
// deleted only when they carry its labels; the spec ConfigMap by name (one
// written from Git need not carry them). If Prune cannot delete every
// object, nothing else is removed, so that uninstall can be run again.
// What is left of an interrupted uninstall is still removed; a sync of
// which nothing exists gives an error matching ErrSyncNotFound.
func Uninstall(ctx context.Context, cfg *Config, opts UninstallOptions) (*UninstallResult, error) {
	res := &UninstallResult{}
	meta, err := cfg.metadata()
	if err != nil {
		return res, err
	}
	s, err := GetSync(ctx, cfg, opts.Ref)
	notFound := errors.Is(err, ErrSyncNotFound)
	if err != nil && !notFound {
		return res, err
	}
	if notFound {
		s = &Sync{Ref: opts.Ref, Inventory: &inventory.Inventory{}}
	}
	del := func(id object.ID, want map[string]string) error {
		deleted, kept, err := deleteIfOurs(ctx, meta, id, want)
		switch {
		case err != nil:
			return err
		case deleted:
			res.Deletions = append(res.Deletions, Deletion{ID: id, Action: apply.Deleted})
		case kept != "":
			res.Deletions = append(res.Deletions, Deletion{ID: id, Action: apply.Skipped, Reason: kept})
		}
		return nil
	}
	ns, ours := opts.Namespace, installLabels(opts.Ref)

	// First no run may start or go on (stopRuns): the CronJob, its Jobs,
	// the Lease. Only then is anything a run writes to removed.
	if notFound {
		if err := del(object.ID{Group: "batch", Kind: "CronJob", Namespace: ns, Name: names.CronJob(opts.Name)}, ours); err != nil {
			return res, err
		}
	} else if err := stopRuns(ctx, cfg, opts, del, res); err != nil {
		return res, err
	}
	units, err := unitStores(ctx, cfg, s)
	if err != nil {
		return res, err
	}
	if opts.Prune {
		if s.InventoryErr != nil {
			return res, fmt.Errorf("--prune: %w", s.InventoryErr)
		}
		// The units' objects first, the sync's own last, as a run prunes.
		if err := pruneUnits(ctx, cfg, s, units, res); err != nil {
			return res, err
		}
		if err := pruneEntries(ctx, cfg, s.Entries(), appliedLabels(cfg, s.Ref), res); err != nil {
			return res, err
		}
	} else {
		res.Left = len(s.Entries())
	}
	if err := del(object.ID{Kind: "ConfigMap", Namespace: ns, Name: names.Spec(opts.Name)}, nil); err != nil {
		return res, err
	}

	var errs []error
	if err := deleteUnitState(ctx, cfg, s, units, res); err != nil {
		errs = append(errs, err)
	}
	if err := deleteState(ctx, cfg, s, res); err != nil {
		errs = append(errs, err)
	}
	if err := del(object.ID{Group: "coordination.k8s.io", Kind: "Lease", Namespace: ns, Name: names.Lease(opts.Name)}, nil); err != nil {
		errs = append(errs, err)
	}
	if err := deleteIdentity(ctx, meta, s, del); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return res, err
	}
	if notFound && res.DeletedCount() == 0 {
		return res, fmt.Errorf("sync %s in namespace %s: %w: nothing to delete", opts.Name, ns, ErrSyncNotFound)
	}
	return res, nil
}

// pruneEntries deletes the objects of inventory entries (the sync's own, or
// a unit's) with the apply engine's prune policy, selector proving them
// ours. Any failure is an error, and the caller then keeps the inventories
// so that uninstall --prune can be run again.
func pruneEntries(ctx context.Context, cfg *Config, entries []inventory.Entry, selector map[string]string, res *UninstallResult) error {
	if len(entries) == 0 {
		return nil
	}
	engine, err := apply.New(cfg.REST, nil)
	if err != nil {
		return err
	}
	cs, err := engine.Prune(ctx, targetsOf(entries), apply.PruneOptions{Selector: selector})
	if err != nil {
		return fmt.Errorf("--prune: %w", err)
	}
	for _, c := range cs.Changes {
		d := Deletion{ID: c.ID, Action: c.Action, Applied: true}
		switch c.Action {
		case apply.Deleted:
		case apply.Skipped:
			d.Reason = "not labelled as this sync's, or opted out of prune"
			if c.Err != nil {
				d.Reason = c.Err.Error()
			}
		case apply.Failed:
			d.Reason = c.Err.Error()
		default:
			continue
		}
		res.Deletions = append(res.Deletions, d)
	}
	if err := cs.Err(); err != nil {
		return fmt.Errorf("--prune: not every object could be deleted; the sync's spec, inventory, ServiceAccount and RBAC were kept, run uninstall --prune again: %w", err)
	}
	return nil
}

// appliedLabels are the labels a run of the sync puts on what it applies,
// which prune requires: the ApplySet part-of label and the sync's own.
func appliedLabels(cfg *Config, ref Ref) map[string]string {
	store := &inventory.Store{Client: cfg.Client, Namespace: ref.Namespace, Sync: ref.Name}
	return map[string]string{
		inventory.LabelApplySetPartOf: store.ParentID(),
		names.LabelSync:               ref.Name,
		names.LabelSyncNamespace:      ref.Namespace,
	}
}

// targetsOf returns the prune targets of inventory entries.
func targetsOf(entries []inventory.Entry) []apply.Target {
	out := make([]apply.Target, len(entries))
	for i, e := range entries {
		out[i] = apply.Target{ID: e.ID, Version: e.Version, Resource: e.Resource, Namespaced: e.Namespaced, Fingerprint: e.Fingerprint}
	}
	return out
}

// deleteState deletes the inventory and history ConfigMaps.
func deleteState(ctx context.Context, cfg *Config, s *Sync, res *UninstallResult) error {
	store := s.Store(cfg.Client)
	hist, err := store.ListHistory(ctx)
	if err != nil {
		// Unreadable entries are still deleted by Delete; only the list
		// reported is shorter.
		hist = nil
	}
	invExists := s.Inventory == nil || s.Inventory.ResourceVersion != ""
	if err := store.Delete(ctx); err != nil {
		return err
	}
	if invExists {
		res.Deletions = append(res.Deletions, Deletion{ID: object.ID{Kind: "ConfigMap", Namespace: s.Namespace, Name: names.Inventory(s.Name)}, Action: apply.Deleted})
	}
	for _, h := range hist {
		res.Deletions = append(res.Deletions, Deletion{ID: object.ID{Kind: "ConfigMap", Namespace: s.Namespace, Name: names.History(s.Name, h.Number)}, Action: apply.Deleted})
	}
	return nil
}

// deleteIdentity deletes the RBAC objects, then the ServiceAccount. It
// finds the RBAC objects by install's labels (in every namespace when
// allowed, else in the sync's and its target namespace) and by the list
// install keeps on the ServiceAccount, and deletes only those carrying the
// labels.
func deleteIdentity(ctx context.Context, meta metadata.Interface, s *Sync, del func(object.ID, map[string]string) error) error {
	saID := object.ID{Kind: "ServiceAccount", Namespace: s.Namespace, Name: names.ServiceAccount(s.Name)}
	saGVR, _ := install.Resource(schema.GroupVersionKind{Version: "v1", Kind: "ServiceAccount"})
	ids := map[object.ID]bool{}
	sa, err := meta.Resource(saGVR).Namespace(s.Namespace).Get(ctx, saID.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("%s: get: %w", saID, err)
	default:
		if list := sa.Annotations[install.AnnotationRBAC]; list != "" {
			for _, v := range strings.Split(list, ",") {
				if id, err := object.ParseID(strings.TrimSpace(v)); err == nil {
					ids[id] = true
				}
			}
		}
	}
	namespaces := []string{s.Namespace}
	if s.Spec != nil && install.TargetNamespace(s.Spec) != s.Namespace {
		namespaces = append(namespaces, install.TargetNamespace(s.Spec))
	}
	found, err := listRBAC(ctx, meta, installLabels(s.Ref), namespaces)
	if err != nil {
		return err
	}
	for _, id := range found {
		ids[id] = true
	}
	var errs []error
	// Bindings before roles, so that no binding is left pointing at
	// nothing; the ServiceAccount last.
	for _, kind := range []string{"RoleBinding", "ClusterRoleBinding", "Role", "ClusterRole"} {
		var batch []object.ID
		for id := range ids {
			if id.Kind == kind && id.Group == "rbac.authorization.k8s.io" {
				batch = append(batch, id)
			}
		}
		object.Sort(batch)
		for _, id := range batch {
			if err := del(id, installLabels(s.Ref)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := del(saID, installLabels(s.Ref)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// listRBAC lists the RBAC objects carrying want: Roles and RoleBindings of
// every namespace (or, when that is forbidden, of namespaces), and
// ClusterRoles and ClusterRoleBindings (skipped when forbidden: a
// namespaced install has none).
func listRBAC(ctx context.Context, meta metadata.Interface, want map[string]string, namespaces []string) ([]object.ID, error) {
	selector := labels.SelectorFromSet(want).String()
	var out []object.ID
	list := func(kind, namespace string) error {
		gvr, err := install.Resource(schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: kind})
		if err != nil {
			return err
		}
		l, err := meta.Resource(gvr).Namespace(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return err
		}
		for _, item := range l.Items {
			out = append(out, object.ID{Group: gvr.Group, Kind: kind, Namespace: item.Namespace, Name: item.Name})
		}
		return nil
	}
	for _, kind := range []string{"Role", "RoleBinding"} {
		err := list(kind, metav1.NamespaceAll)
		if apierrors.IsForbidden(err) {
			err = nil
			for _, ns := range namespaces {
				if e := list(kind, ns); e != nil && !apierrors.IsForbidden(e) {
					err = e
					break
				}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%ss -l %s: list: %w", kind, selector, err)
		}
	}
	for _, kind := range []string{"ClusterRole", "ClusterRoleBinding"} {
		if err := list(kind, ""); err != nil && !apierrors.IsForbidden(err) {
			return nil, fmt.Errorf("%ss -l %s: list: %w", kind, selector, err)
		}
	}
	return out, nil
}
