package install

import (
	"fmt"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/names"
)

// A sync's source must not write gitsync's own objects: a tenant's
// repository that could rewrite another sync's spec ConfigMap (its URL),
// CronJob (its image), ServiceAccount, RBAC, inventory or Lease would take
// over that sync's rights, or make its prune delete what it never applied.
// Reserved is the one definition of what those objects are; a run refuses
// every rendered object it matches before applying anything, unless the
// spec sets manageGitsync (the root sync of a bootstrap, which manages
// gitsync itself).

// reservedNames are the kinds of gitsync's own objects with the name
// patterns they take (pkg/names): every sync NAME's objects start with
// names.Prefix, the cluster-scoped RBAC (and a namespace-mode sync's
// applying Role) is names.Applier's gitsync:NS:NAME.
var reservedNames = map[schema.GroupKind]struct {
	prefixes []string
	suffixes []string // "" matches any name
	what     string
}{
	{Kind: "ConfigMap"}:                                   {prefixes: []string{names.Prefix}, what: "a sync's spec, inventory, history or unit state ConfigMap"},
	{Kind: "Secret"}:                                      {prefixes: []string{names.Prefix}, suffixes: []string{"-flux", "-render"}, what: "a sync's stored Flux tree or render"},
	{Kind: "ServiceAccount"}:                              {prefixes: []string{names.Prefix}, what: "a sync's ServiceAccount"},
	{Group: batchv1.GroupName, Kind: "CronJob"}:           {prefixes: []string{names.Prefix}, what: "a sync's CronJob"},
	{Group: batchv1.GroupName, Kind: "Job"}:               {prefixes: []string{names.Prefix}, what: "a sync's run"},
	{Group: coordinationv1.GroupName, Kind: "Lease"}:      {prefixes: []string{names.Prefix}, what: "a sync's Lease"},
	{Group: rbacv1.GroupName, Kind: "Role"}:               {prefixes: []string{names.Prefix, applierPrefix}, what: "a sync's Role"},
	{Group: rbacv1.GroupName, Kind: "RoleBinding"}:        {prefixes: []string{names.Prefix, applierPrefix}, what: "a sync's RoleBinding"},
	{Group: rbacv1.GroupName, Kind: "ClusterRole"}:        {prefixes: []string{applierPrefix}, what: "a sync's ClusterRole"},
	{Group: rbacv1.GroupName, Kind: "ClusterRoleBinding"}: {prefixes: []string{applierPrefix}, what: "a sync's ClusterRoleBinding"},
}

// applierPrefix starts names.Applier's names.
var applierPrefix = strings.TrimSuffix(names.Applier("", ""), ":")

// Reserved reports whether obj is one of gitsync's own objects, of any sync
// in any namespace, and says why. It matches
//
//   - by name: the kinds and name patterns of pkg/names (ConfigMaps,
//     ServiceAccounts, CronJobs, Jobs, Leases, Roles and RoleBindings named
//     gitsync-…, Secrets named gitsync-…-flux or gitsync-…-render, RBAC objects named
//     gitsync:…);
//   - by label: app.kubernetes.io/managed-by gitsync or kubectl-gitsync,
//     gitsync.io/kind, gitsync.io/unit-of (what install and sync-job set on
//     their own objects; the gitsync.io/sync label alone is not a match,
//     since every applied object carries it and exported manifests keep it);
//   - by identity: a Pod, or a workload's Pod template, running as a
//     ServiceAccount named gitsync-… would act with that sync's rights.
//
// The name is matched whatever the namespace: the sync whose objects they
// would be may live in any namespace the rendering sync can write.
func Reserved(obj *unstructured.Unstructured) (reason string, ok bool) {
	gk := obj.GroupVersionKind().GroupKind()
	name := obj.GetName()
	if r, found := reservedNames[gk]; found {
		suffixes := r.suffixes
		if len(suffixes) == 0 {
			suffixes = []string{""}
		}
		for _, suffix := range suffixes {
			for _, p := range r.prefixes {
				if strings.HasPrefix(name, p) && strings.HasSuffix(name, suffix) && len(name) > len(p)+len(suffix) {
					return fmt.Sprintf("the name %s is reserved for %s (%s…%s)", name, r.what, p, suffix), true
				}
			}
		}
	}
	labels := obj.GetLabels()
	switch v := labels[inventory.LabelManagedBy]; v {
	case inventory.ManagedBy, ManagedBy:
		return fmt.Sprintf("label %s=%s marks gitsync's own objects", inventory.LabelManagedBy, v), true
	}
	for _, l := range []string{inventory.LabelKind, inventory.LabelUnitOf} {
		if v, found := labels[l]; found {
			return fmt.Sprintf("label %s=%s marks gitsync's own objects", l, v), true
		}
	}
	if sa, field := podServiceAccount(obj); strings.HasPrefix(sa, names.Prefix) {
		return fmt.Sprintf("%s %s is a sync's ServiceAccount: its Pods would act with that sync's rights", field, sa), true
	}
	return "", false
}

// podTemplates are where each workload kind keeps its Pod spec.
var podTemplates = map[schema.GroupKind][]string{
	{Kind: "Pod"}:                               {"spec"},
	{Kind: "ReplicationController"}:             {"spec", "template", "spec"},
	{Group: "apps", Kind: "Deployment"}:         {"spec", "template", "spec"},
	{Group: "apps", Kind: "StatefulSet"}:        {"spec", "template", "spec"},
	{Group: "apps", Kind: "DaemonSet"}:          {"spec", "template", "spec"},
	{Group: "apps", Kind: "ReplicaSet"}:         {"spec", "template", "spec"},
	{Group: batchv1.GroupName, Kind: "Job"}:     {"spec", "template", "spec"},
	{Group: batchv1.GroupName, Kind: "CronJob"}: {"spec", "jobTemplate", "spec", "template", "spec"},
	{Kind: "PodTemplate"}:                       {"template", "spec"},
	{Group: "extensions", Kind: "Deployment"}:   {"spec", "template", "spec"},
	{Group: "extensions", Kind: "DaemonSet"}:    {"spec", "template", "spec"},
	{Group: "extensions", Kind: "ReplicaSet"}:   {"spec", "template", "spec"},
}

// podServiceAccount returns the ServiceAccount obj's Pods run as, and the
// field that names it; "" when obj has no Pod template or names none.
func podServiceAccount(obj *unstructured.Unstructured) (sa, field string) {
	path := podTemplates[obj.GroupVersionKind().GroupKind()]
	if path == nil {
		return "", ""
	}
	for _, f := range []string{"serviceAccountName", "serviceAccount"} {
		fields := append(append([]string(nil), path...), f)
		if v, _, _ := unstructured.NestedString(obj.Object, fields...); v != "" {
			return v, strings.Join(fields, ".")
		}
	}
	return "", ""
}
