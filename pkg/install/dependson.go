package install

import (
	"cmp"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/spec"
)

// dependsOnLabels marks the spec ConfigMap with names.DependsOnLabel for
// every sync s depends on, so that a run of that sync finds its dependents
// with one labelled list.
func dependsOnLabels(cm *corev1.ConfigMap, s *spec.Sync) {
	for _, d := range s.Dependencies() {
		cm.Labels[names.DependsOnLabel(d.Namespace, d.Name)] = d.Name
	}
}

// dependsOnRBAC returns the Roles and RoleBindings spec.dependsOn needs,
// written by the dependent's install because the dependent's installer is
// the one who decides that its runs may be started by the syncs it
// depends on:
//
//   - Role and RoleBinding names.Trigger(NAME) in the sync's namespace
//     bind the ServiceAccount of every sync it depends on to get on the
//     sync's CronJob (resourceNames) and create on Jobs. RBAC cannot
//     restrict create by name: the dependencies' ServiceAccounts may
//     create any Job in this namespace (docs/security.md).
//   - Role and RoleBinding names.DependencyReader(NS, NAME) in every other
//     namespace that holds a dependency, when the sync's ServiceAccount
//     has no cluster-wide rights (namespace mode, or a delegating sync):
//     get on those dependencies' spec and inventory ConfigMaps, by name,
//     which is what a run reads to decide whether they are ready.
func dependsOnRBAC(s *spec.Sync, clusterWide bool) ([]*rbacv1.Role, []*rbacv1.RoleBinding) {
	deps := s.Dependencies()
	if len(deps) == 0 {
		return nil, nil
	}
	ns, sync := s.Namespace, s.Name
	roleType := metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "Role"}
	bindingType := metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "RoleBinding"}
	binding := func(m metav1.ObjectMeta, subjects []rbacv1.Subject) *rbacv1.RoleBinding {
		return &rbacv1.RoleBinding{
			TypeMeta: bindingType, ObjectMeta: m,
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: m.Name},
			Subjects: subjects,
		}
	}

	var triggers []rbacv1.Subject
	readable := map[string][]string{} // namespace → ConfigMaps to read there
	for _, d := range deps {
		sub := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: names.ServiceAccount(d.Name), Namespace: d.Namespace}
		if !slices.Contains(triggers, sub) {
			triggers = append(triggers, sub)
		}
		if d.Namespace != ns && !clusterWide {
			readable[d.Namespace] = append(readable[d.Namespace], names.Spec(d.Name), names.Inventory(d.Name))
		}
	}
	slices.SortFunc(triggers, func(a, b rbacv1.Subject) int {
		return cmp.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	m := meta(ns, sync, ns, names.Trigger(sync))
	roles := []*rbacv1.Role{{TypeMeta: roleType, ObjectMeta: m, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{batchv1.GroupName}, Resources: []string{"cronjobs"}, ResourceNames: []string{names.CronJob(sync)}, Verbs: []string{"get"}},
		{APIGroups: []string{batchv1.GroupName}, Resources: []string{"jobs"}, Verbs: []string{"create"}},
	}}}
	bindings := []*rbacv1.RoleBinding{binding(meta(ns, sync, ns, names.Trigger(sync)), triggers)}

	namespaces := make([]string, 0, len(readable))
	for n := range readable {
		namespaces = append(namespaces, n)
	}
	slices.Sort(namespaces)
	for _, other := range namespaces {
		cms := slices.Compact(slices.Sorted(slices.Values(readable[other])))
		m := meta(ns, sync, other, names.DependencyReader(ns, sync))
		roles = append(roles, &rbacv1.Role{TypeMeta: roleType, ObjectMeta: m, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: cms, Verbs: []string{"get"}},
		}})
		bindings = append(bindings, binding(meta(ns, sync, other, names.DependencyReader(ns, sync)), subjects(ns, sync)))
	}
	return roles, bindings
}
