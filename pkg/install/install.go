// Package install generates, without touching a cluster, every object that
// `kubectl gitsync install` writes for one sync: the spec ConfigMap, the
// ServiceAccount, the RBAC objects and the CronJob that runs sync-job. The
// plugin server-side applies them or prints them (--export); keeping the
// generation pure makes the printed manifests exactly what would be applied.
//
// For sync NAME in namespace NS, Generate returns:
//
//   - ServiceAccount gitsync-NAME in NS: the identity of every run.
//   - RBACNamespace (the default): Role and RoleBinding gitsync-NAME in NS for
//     the run's own state (spec, inventory and history ConfigMaps, the Lease,
//     Events, the Secrets the spec names), and Role and RoleBinding
//     gitsync:NS:NAME in the target namespace (spec.targetNamespace, else NS)
//     for the objects the sync applies, with explicit resources and verbs and
//     no wildcard.
//   - RBACCluster: ClusterRole and ClusterRoleBinding gitsync:NS:NAME granting
//     every verb on every resource: the sync may apply anything anywhere,
//     which is what a cluster-wide GitOps applier is; the wildcard says so.
//   - ConfigMap gitsync-NAME in NS, key sync.yaml: the canonical spec.
//   - CronJob gitsync-NAME in NS running `sync-job --sync NAME --scope MODE`
//     (JobArgs, written with the pkg/jobargs contract).
//
// Every object carries Labels(sync, namespace); their names come from
// pkg/names.
package install

import (
	"fmt"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"slices"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/jobargs"
	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/object"
	"github.com/gitsync/gitsync/pkg/spec"
)

// FieldManager is the server-side apply field manager of everything the
// plugin writes; it differs from sync-job's ("gitsync") so that
// managedFields tell who wrote what.
const FieldManager = "kubectl-gitsync"

// Labels and their values on every object install writes.
const (
	// LabelName is the well-known app name label.
	LabelName = "app.kubernetes.io/name"
	// AppName is the value of LabelName.
	AppName = "gitsync"
	// LabelManagedBy is the well-known managed-by label.
	LabelManagedBy = inventory.LabelManagedBy
	// ManagedBy is the value of LabelManagedBy on the plugin's objects
	// (sync-job's own ConfigMaps say "gitsync").
	ManagedBy = FieldManager
	// LabelKind is set to KindSpec on the spec ConfigMap, so that
	// `kubectl get configmaps -l gitsync.io/kind=spec` lists the syncs.
	LabelKind = inventory.LabelKind
	// KindSpec is the LabelKind value of the spec ConfigMap.
	KindSpec = "spec"
)

// AnnotationRBAC, on the ServiceAccount, lists the RBAC objects an install
// wrote (object.ID strings, comma-separated), so that the next install can
// delete those it no longer writes: switching from cluster to namespace mode,
// or changing the target namespace, must not leave the old rights behind.
const AnnotationRBAC = "gitsync.io/rbac-objects"

// RBACMode selects how much the sync's ServiceAccount may do.
type RBACMode string

const (
	// RBACNamespace grants explicit rights in the target namespace only;
	// a tenant with admin rights in its namespaces can install it.
	RBACNamespace RBACMode = jobargs.ScopeNamespace
	// RBACCluster grants every verb on every resource cluster-wide; only a
	// cluster admin can install it.
	RBACCluster RBACMode = jobargs.ScopeCluster
)

// RBACModes returns the valid modes, the default first.
func RBACModes() []RBACMode { return []RBACMode{RBACNamespace, RBACCluster} }

// Options are what Generate needs beyond the spec. The zero value selects
// every default.
type Options struct {
	// Image is the sync-job image. Default DefaultImage().
	Image string
	// RBAC is the RBAC mode. Default RBACNamespace.
	RBAC RBACMode
	// ExtraRules are added to the applying Role in RBACNamespace mode, for
	// kinds beyond DefaultManagedResources (custom resources, pods ...).
	// Rules with a wildcard are refused; they are an error in RBACCluster
	// mode, which grants everything already. Default none.
	ExtraRules []rbacv1.PolicyRule
}

// Objects are the objects of one sync, typed. Fields that do not apply to
// the RBAC mode are nil or empty.
type Objects struct {
	// ServiceAccount is gitsync-NAME, the identity of every run.
	ServiceAccount *corev1.ServiceAccount
	// Roles are, in RBACNamespace mode, gitsync-NAME (the run's own state)
	// and gitsync:NS:NAME in the target namespace (what it applies).
	Roles []*rbacv1.Role
	// RoleBindings bind each of Roles to ServiceAccount.
	RoleBindings []*rbacv1.RoleBinding
	// ClusterRole is, in RBACCluster mode, gitsync:NS:NAME.
	ClusterRole *rbacv1.ClusterRole
	// ClusterRoleBinding binds ClusterRole to ServiceAccount.
	ClusterRoleBinding *rbacv1.ClusterRoleBinding
	// ConfigMap is gitsync-NAME, holding the canonical spec.
	ConfigMap *corev1.ConfigMap
	// CronJob is gitsync-NAME, running sync-job on the spec's schedule.
	CronJob *batchv1.CronJob
}

// List returns the objects in the order they are applied: identity and
// rights first, then the spec, then the CronJob, so that no scheduled run
// can start before what it needs exists.
func (o *Objects) List() []runtime.Object {
	out := []runtime.Object{o.ServiceAccount}
	if o.ClusterRole != nil {
		out = append(out, o.ClusterRole)
	}
	if o.ClusterRoleBinding != nil {
		out = append(out, o.ClusterRoleBinding)
	}
	for _, r := range o.Roles {
		out = append(out, r)
	}
	for _, b := range o.RoleBindings {
		out = append(out, b)
	}
	return append(out, o.ConfigMap, o.CronJob)
}

// RBACIDs returns the IDs of the RBAC objects, as AnnotationRBAC lists them.
func (o *Objects) RBACIDs() []object.ID {
	var ids []object.ID
	add := func(kind, ns, name string) {
		ids = append(ids, object.ID{Group: rbacv1.GroupName, Kind: kind, Namespace: ns, Name: name})
	}
	if o.ClusterRole != nil {
		add("ClusterRole", "", o.ClusterRole.Name)
	}
	if o.ClusterRoleBinding != nil {
		add("ClusterRoleBinding", "", o.ClusterRoleBinding.Name)
	}
	for _, r := range o.Roles {
		add("Role", r.Namespace, r.Name)
	}
	for _, b := range o.RoleBindings {
		add("RoleBinding", b.Namespace, b.Name)
	}
	object.Sort(ids)
	return ids
}

// Labels returns the labels of every object install writes for sync in
// namespace.
func Labels(namespace, sync string) map[string]string {
	return map[string]string{
		LabelName:                AppName,
		LabelManagedBy:           ManagedBy,
		names.LabelSync:          sync,
		names.LabelSyncNamespace: namespace,
	}
}

// Generate returns the objects of the sync s, which must name its namespace.
// It validates s the way sync-job will read it: the canonical YAML it stores
// is parsed again with spec.Parse, so an error (an Aggregate of field errors,
// reachable with errors.As) means nothing must be written.
func Generate(s *spec.Sync, opts Options) (*Objects, error) {
	if s.Name == "" || s.Namespace == "" {
		return nil, fmt.Errorf("%s: metadata.name and metadata.namespace are required", object.ID{Kind: "Sync", Namespace: s.Namespace, Name: s.Name})
	}
	data, parsed, err := s.ConfigMapData()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", object.ID{Kind: "Sync", Namespace: s.Namespace, Name: s.Name}, err)
	}
	opts, err = opts.withDefaults()
	if err != nil {
		return nil, err
	}
	ns, name := parsed.Namespace, parsed.Name
	o := &Objects{
		ServiceAccount: serviceAccount(ns, name),
		ConfigMap:      configMap(ns, name, data),
	}
	if o.CronJob, err = cronJob(parsed, opts); err != nil {
		return nil, err
	}
	switch {
	case delegates(parsed):
		// The RBAC mode then only selects sync-job's scope (tenancy.go).
		if o.Roles, o.RoleBindings, err = delegatedRBAC(parsed, opts.ExtraRules); err != nil {
			return nil, err
		}
	case opts.RBAC == RBACCluster:
		o.ClusterRole, o.ClusterRoleBinding = clusterRBAC(ns, name)
	case opts.RBAC == RBACNamespace:
		o.Roles, o.RoleBindings = namespaceRBAC(parsed, opts.ExtraRules)
	}
	dependsOnLabels(o.ConfigMap, parsed)
	roles, bindings := dependsOnRBAC(parsed, opts.RBAC == RBACCluster && !delegates(parsed))
	o.Roles, o.RoleBindings = append(o.Roles, roles...), append(o.RoleBindings, bindings...)
	ids := make([]string, 0, 4)
	for _, id := range o.RBACIDs() {
		ids = append(ids, id.String())
	}
	o.ServiceAccount.Annotations = map[string]string{AnnotationRBAC: strings.Join(ids, ",")}
	if parsed.Spec.ManageGitsync {
		// Its runs write these from Git: the job guard lets them (guard.go).
		for _, obj := range o.List() {
			if m, err := apimeta.Accessor(obj); err == nil {
				l := m.GetLabels()
				if l == nil {
					l = map[string]string{}
				}
				l[LabelSelfManaged] = "true"
				m.SetLabels(l)
			}
		}
	}
	return o, nil
}

func (opts Options) withDefaults() (Options, error) {
	if opts.Image == "" {
		opts.Image = DefaultImage()
	}
	if _, err := PullPolicy(opts.Image); err != nil {
		return opts, err
	}
	if opts.RBAC == "" {
		opts.RBAC = RBACNamespace
	}
	if !slices.Contains(RBACModes(), opts.RBAC) {
		return opts, fmt.Errorf("RBAC mode %q: must be namespace or cluster", opts.RBAC)
	}
	if opts.RBAC == RBACCluster && len(opts.ExtraRules) > 0 {
		return opts, fmt.Errorf("extra RBAC rules: only with RBAC mode namespace; cluster mode grants every verb on every resource already")
	}
	for _, r := range opts.ExtraRules {
		if err := checkNoWildcard(r); err != nil {
			return opts, err
		}
	}
	return opts, nil
}

// meta returns the metadata of an object named name in namespace (""
// for cluster-scoped objects) that belongs to the sync named sync in
// syncNamespace.
func meta(syncNamespace, sync, namespace, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: Labels(syncNamespace, sync)}
}

func serviceAccount(ns, sync string) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: meta(ns, sync, ns, names.ServiceAccount(sync)),
	}
}

func configMap(ns, sync string, data string) *corev1.ConfigMap {
	m := meta(ns, sync, ns, names.Spec(sync))
	m.Labels[LabelKind] = KindSpec
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: m,
		Data:       map[string]string{spec.ConfigMapKey: data},
	}
}

// StaleRBAC returns the RBAC objects that an earlier install recorded in
// AnnotationRBAC (previous, the annotation's value; "" for none) and that
// current no longer contains, sorted. The caller deletes them, after
// checking that they still carry this sync's labels, so that no right
// outlives the install that granted it. An entry that is not an RBAC object
// ID is an error: the annotation was edited by hand.
func StaleRBAC(previous string, current *Objects) ([]object.ID, error) {
	if previous == "" {
		return nil, nil
	}
	keep := map[object.ID]bool{}
	for _, id := range current.RBACIDs() {
		keep[id] = true
	}
	var stale []object.ID
	for _, s := range strings.Split(previous, ",") {
		id, err := object.ParseID(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("annotation %s: %w", AnnotationRBAC, err)
		}
		if id.Group != rbacv1.GroupName {
			return nil, fmt.Errorf("annotation %s: %s is not an RBAC object", AnnotationRBAC, id)
		}
		if !keep[id] {
			stale = append(stale, id)
		}
	}
	object.Sort(stale)
	return slices.Compact(stale), nil
}

// Resource returns the resource of a kind of gitsync's own objects (those
// Generate produces, a run's Job and Lease), so that the plugin can apply
// and delete them without API discovery. This is the one table of them.
func Resource(gvk schema.GroupVersionKind) (schema.GroupVersionResource, error) {
	resources := map[schema.GroupKind]string{
		{Kind: "ServiceAccount"}:                                                             "serviceaccounts",
		{Kind: "ConfigMap"}:                                                                  "configmaps",
		{Group: rbacv1.GroupName, Kind: "Role"}:                                              "roles",
		{Group: rbacv1.GroupName, Kind: "RoleBinding"}:                                       "rolebindings",
		{Group: rbacv1.GroupName, Kind: "ClusterRole"}:                                       "clusterroles",
		{Group: rbacv1.GroupName, Kind: "ClusterRoleBinding"}:                                "clusterrolebindings",
		{Group: batchv1.GroupName, Kind: "CronJob"}:                                          "cronjobs",
		{Group: batchv1.GroupName, Kind: "Job"}:                                              "jobs",
		{Group: coordinationv1.GroupName, Kind: "Lease"}:                                     "leases",
		{Group: admissionregistrationv1.GroupName, Kind: "ValidatingAdmissionPolicy"}:        "validatingadmissionpolicies",
		{Group: admissionregistrationv1.GroupName, Kind: "ValidatingAdmissionPolicyBinding"}: "validatingadmissionpolicybindings",
	}
	r, ok := resources[gvk.GroupKind()]
	if !ok {
		return schema.GroupVersionResource{}, fmt.Errorf("%s: not a kind of gitsync's own objects", gvk)
	}
	return gvk.GroupVersion().WithResource(r), nil
}
