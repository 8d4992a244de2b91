package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/metadata"

	"github.com/gitsync/gitsync/pkg/apply"
	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/lease"
	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/object"
	"github.com/gitsync/gitsync/pkg/spec"
)

// uninstallResource returns the resource of a kind uninstall deletes, so
// that it needs no discovery.
func uninstallResource(kind string) schema.GroupVersionResource {
	rbac := func(r string) schema.GroupVersionResource {
		return schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: r}
	}
	switch kind {
	case "CronJob":
		return schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "cronjobs"}
	case "ConfigMap":
		return schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	case "ServiceAccount":
		return schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}
	case "Lease":
		return schema.GroupVersionResource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}
	case "Role":
		return rbac("roles")
	case "RoleBinding":
		return rbac("rolebindings")
	case "ClusterRole":
		return rbac("clusterroles")
	case "ClusterRoleBinding":
		return rbac("clusterrolebindings")
	}
	panic("uninstallResource: unexpected kind " + kind)
}

// UninstallOptions are the options of `kubectl gitsync uninstall`; the
// embedded syncRef names the sync.
type UninstallOptions struct {
	// Prune first deletes the objects the sync applied. Default false: they
	// stay.
	Prune bool

	syncRef
	// meta deletes objects of any kind by resource, with no typed client.
	meta metadata.Interface

	genericiooptions.IOStreams
}

// NewUninstallCommand returns the `uninstall` command.
func NewUninstallCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &UninstallOptions{syncRef: syncRef{flags: flags}, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "uninstall NAME",
		Short: "Remove a sync: its CronJob, spec, state, ServiceAccount and RBAC",
		Long: `Delete what install and the sync's runs created for sync NAME: the CronJob gitsync-NAME (its Jobs and Pods
go with it, so a run in progress is stopped), the spec ConfigMap gitsync-NAME, the inventory ConfigMap
gitsync-NAME-inventory and the history ConfigMaps gitsync-NAME-rev-N, the Lease gitsync-NAME, and the
ServiceAccount, Roles, RoleBindings, ClusterRole and ClusterRoleBinding labelled as this sync's
(gitsync.io/sync=NAME, gitsync.io/sync-namespace=NAMESPACE, app.kubernetes.io/managed-by=kubectl-gitsync).

The objects the sync applied stay in place unless --prune is given. With --prune they are deleted first,
in reverse order of apply (Namespaces and CRDs last), and only those still carrying this sync's labels and
not opted out with gitsync.io/prune: disabled. If any cannot be deleted, nothing else is removed, so that
uninstall --prune can be run again.`,
		Example: `  # Remove sync web; what it applied stays
  kubectl gitsync uninstall web -n team-a

  # Remove sync web and everything it applied
  kubectl gitsync uninstall web -n team-a --prune`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: CompleteSyncNames(flags),
		RunE:              runE(o),
	}
	cmd.Flags().BoolVar(&o.Prune, "prune", false, "first delete the objects the sync applied")
	return cmd
}

// Complete reads the argument and the namespace and builds the clients.
func (o *UninstallOptions) Complete(cmd *cobra.Command, args []string) error {
	if err := o.complete(cmd, args); err != nil {
		return err
	}
	meta, err := metadata.NewForConfig(o.config)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	o.meta = meta
	return nil
}

// Validate checks the argument.
func (o *UninstallOptions) Validate() error {
	return ValidateSyncName(o.Name)
}

// installLabels are the labels install puts on the objects it writes for
// the sync, and that uninstall requires before deleting one.
func (o *UninstallOptions) installLabels() map[string]string {
	return map[string]string{
		names.LabelSync:          o.Name,
		names.LabelSyncNamespace: o.Namespace,
		install.LabelManagedBy:   install.ManagedBy,
	}
}

// Run deletes the sync.
func (o *UninstallOptions) Run(ctx context.Context) error {
	s, err := GetSync(ctx, o.client, o.Namespace, o.Name)
	notFound := errors.Is(err, ErrSyncNotFound)
	if err != nil && !notFound {
		return err
	}
	if notFound {
		// What is left of an interrupted uninstall is still removed.
		s = &SyncInfo{Name: o.Name, Namespace: o.Namespace, Inventory: &inventory.Inventory{}}
	}
	deleted := 0
	report := func(id object.ID, ok bool) {
		if ok {
			deleted++
			fmt.Fprintf(o.Out, "%s deleted\n", id)
		}
	}
	name := spec.ConfigMapName(o.Name)

	// The CronJob first, so that no run starts, and a running one stops,
	// while the rest goes.
	ok, err := o.deleteObject(ctx, uninstallResource("CronJob"), object.ID{Group: "batch", Kind: "CronJob", Namespace: o.Namespace, Name: name}, o.installLabels())
	if err != nil {
		return err
	}
	report(object.ID{Group: "batch", Kind: "CronJob", Namespace: o.Namespace, Name: name}, ok)

	entries := s.Entries()
	if o.Prune {
		if s.InventoryErr != nil {
			return fmt.Errorf("--prune: %w", s.InventoryErr)
		}
		n, err := o.prune(ctx, s)
		deleted += n
		if err != nil {
			return err
		}
	}

	// The spec ConfigMap is deleted by name without a label check: a spec
	// written from Git need not carry install's labels.
	specID := object.ID{Kind: "ConfigMap", Namespace: o.Namespace, Name: name}
	ok, err = o.deleteObject(ctx, uninstallResource("ConfigMap"), specID, nil)
	if err != nil {
		return err
	}
	report(specID, ok)

	var errs []error
	if err := o.deleteState(ctx, s, report); err != nil {
		errs = append(errs, err)
	}
	leaseID := object.ID{Group: "coordination.k8s.io", Kind: "Lease", Namespace: o.Namespace, Name: lease.Name(o.Name)}
	ok, err = o.deleteObject(ctx, uninstallResource("Lease"), leaseID, nil)
	if err != nil {
		errs = append(errs, err)
	}
	report(leaseID, ok)
	if err := o.deleteIdentity(ctx, s, report); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}

	if notFound && deleted == 0 {
		return fmt.Errorf("sync %s in namespace %s: %w: nothing to delete", o.Name, o.Namespace, ErrSyncNotFound)
	}
	switch {
	case o.Prune:
		fmt.Fprintf(o.Out, "sync %s/%s uninstalled, with what it applied\n", o.Namespace, o.Name)
	case len(entries) > 0:
		fmt.Fprintf(o.Out, "sync %s/%s uninstalled; the %s it applied were left in place (use --prune to delete them)\n",
			o.Namespace, o.Name, countNoun(len(entries), "object"))
	default:
		fmt.Fprintf(o.Out, "sync %s/%s uninstalled\n", o.Namespace, o.Name)
	}
	return nil
}

// prune deletes the objects of the inventory with the apply engine's
// prune policy and prints what happened to each; it returns how many were
// deleted. Any failure is an error, and the caller then keeps the
// inventory so that uninstall --prune can be run again.
func (o *UninstallOptions) prune(ctx context.Context, s *SyncInfo) (int, error) {
	entries := s.Entries()
	if len(entries) == 0 {
		return 0, nil
	}
	engine, err := apply.New(o.config, nil)
	if err != nil {
		return 0, err
	}
	targets := make([]apply.Target, len(entries))
	for i, e := range entries {
		targets[i] = apply.Target{ID: e.ID, Version: e.Version, Resource: e.Resource, Namespaced: e.Namespaced, Fingerprint: e.Fingerprint}
	}
	selector := map[string]string{
		inventory.LabelApplySetPartOf: s.Store(o.client).ParentID(),
		inventory.LabelSync:           o.Name,
		names.LabelSyncNamespace:      o.Namespace,
	}
	cs, err := engine.Prune(ctx, targets, apply.PruneOptions{Selector: selector})
	if err != nil {
		return 0, fmt.Errorf("--prune: %w", err)
	}
	deleted := 0
	for _, c := range cs.Changes {
		switch c.Action {
		case apply.Deleted:
			deleted++
			fmt.Fprintf(o.Out, "%s deleted\n", c.ID)
		case apply.Skipped:
			why := "not labelled as this sync's, or opted out of prune"
			if c.Err != nil {
				why = c.Err.Error()
			}
			fmt.Fprintf(o.Out, "%s kept: %s\n", c.ID, why)
		case apply.Failed:
			fmt.Fprintf(o.Out, "%s not deleted: %v\n", c.ID, c.Err)
		}
	}
	if err := cs.Err(); err != nil {
		return deleted, fmt.Errorf("--prune: not every object could be deleted; the sync's spec, inventory, ServiceAccount and RBAC were kept, run uninstall --prune again: %w", err)
	}
	return deleted, nil
}

// deleteState deletes the inventory and history ConfigMaps.
func (o *UninstallOptions) deleteState(ctx context.Context, s *SyncInfo, report func(object.ID, bool)) error {
	store := s.Store(o.client)
	hist, err := store.ListHistory(ctx)
	if err != nil {
		// Unreadable entries are still deleted by Delete; only the list
		// printed is shorter.
		hist = nil
	}
	invExists := s.Inventory == nil || s.Inventory.ResourceVersion != ""
	if err := store.Delete(ctx); err != nil {
		return err
	}
	if invExists {
		report(object.ID{Kind: "ConfigMap", Namespace: o.Namespace, Name: inventory.InventoryName(o.Name)}, true)
	}
	for _, h := range hist {
		report(object.ID{Kind: "ConfigMap", Namespace: o.Namespace, Name: inventory.HistoryName(o.Name, h.Number)}, true)
	}
	return nil
}

// deleteIdentity deletes the RBAC objects, then the ServiceAccount. It
// finds the RBAC objects by install's labels (in every namespace when
// allowed, else in the sync's and its target namespace) and by the list
// install keeps on the ServiceAccount, and deletes only those carrying the
// labels.
func (o *UninstallOptions) deleteIdentity(ctx context.Context, s *SyncInfo, report func(object.ID, bool)) error {
	saID := object.ID{Kind: "ServiceAccount", Namespace: o.Namespace, Name: spec.ConfigMapName(o.Name)}
	ids := map[object.ID]bool{}
	sa, err := o.meta.Resource(uninstallResource("ServiceAccount")).Namespace(o.Namespace).Get(ctx, saID.Name, metav1.GetOptions{})
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
	namespaces := []string{o.Namespace}
	if s.Spec != nil && install.TargetNamespace(s.Spec) != o.Namespace {
		namespaces = append(namespaces, install.TargetNamespace(s.Spec))
	}
	found, err := o.listRBAC(ctx, namespaces)
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
			ok, err := o.deleteObject(ctx, uninstallResource(kind), id, o.installLabels())
			if err != nil {
				errs = append(errs, err)
				continue
			}
			report(id, ok)
		}
	}
	ok, err := o.deleteObject(ctx, uninstallResource("ServiceAccount"), saID, o.installLabels())
	if err != nil {
		errs = append(errs, err)
	} else {
		report(saID, ok)
	}
	return errors.Join(errs...)
}

// listRBAC lists the RBAC objects labelled as the sync's: Roles and
// RoleBindings of every namespace (or, when that is forbidden, of
// namespaces), and ClusterRoles and ClusterRoleBindings (skipped when
// forbidden: a namespaced install has none).
func (o *UninstallOptions) listRBAC(ctx context.Context, namespaces []string) ([]object.ID, error) {
	selector := labels.SelectorFromSet(o.installLabels()).String()
	var out []object.ID
	list := func(kind, namespace string) error {
		gvr := uninstallResource(kind)
		l, err := o.meta.Resource(gvr).Namespace(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
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

// deleteObject deletes the object id of resource gvr if it exists and
// carries every label of want (nil: no check), with background
// propagation and a UID precondition, so that an object replaced meanwhile
// survives. It reports whether it deleted the object; one that is missing,
// or not labelled as ours, is not an error.
func (o *UninstallOptions) deleteObject(ctx context.Context, gvr schema.GroupVersionResource, id object.ID, want map[string]string) (bool, error) {
	client := o.meta.Resource(gvr).Namespace(id.Namespace)
	live, err := client.Get(ctx, id.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("%s: get: %w", id, err)
	}
	for k, v := range want {
		if live.Labels[k] != v {
			fmt.Fprintf(o.ErrOut, "%s kept: its label %s is %q, not %q: not this sync's\n", id, k, live.Labels[k], v)
			return false, nil
		}
	}
	bg := metav1.DeletePropagationBackground
	err = client.Delete(ctx, id.Name, metav1.DeleteOptions{
		PropagationPolicy: &bg,
		Preconditions:     &metav1.Preconditions{UID: &live.UID},
	})
	switch {
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("%s: delete: %w", id, err)
	}
	return true, nil
}
