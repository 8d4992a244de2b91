package install

import (
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/spec"
)

// delegates reports whether the sync's objects are written with another
// identity than the job's: an impersonated ServiceAccount
// (spec.serviceAccountName) or a remote cluster's (spec.kubeConfig). The
// job's ServiceAccount then gets no right on the objects at all.
func delegates(s *spec.Sync) bool {
	return s.Spec.ServiceAccountName != "" || s.Spec.KubeConfig != nil
}

// impersonateRule lets the job's ServiceAccount act as ServiceAccount sa of
// the sync's namespace, and as no other user: RBAC's impersonate verb on
// serviceaccounts with resourceNames is exactly that right.
func impersonateRule(sa string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"serviceaccounts"}, ResourceNames: []string{sa}, Verbs: []string{"impersonate"}}
}

// delegatedRBAC is the RBAC of a sync that delegates (see delegates), in
// either RBAC mode: one Role and RoleBinding gitsync-NAME in the sync's
// namespace with what a run needs for itself (ownRules: its spec, the
// Secrets the spec names, its state ConfigMaps, Lease and Events) and,
// with serviceAccountName in the same cluster, impersonate on that
// ServiceAccount only. The ServiceAccount itself is not created: the
// tenant's administrator owns it and its rights. With kubeConfig the
// objects' rights are the kubeconfig's identity's in the other cluster
// (and the impersonation, with both fields, happens there).
func delegatedRBAC(s *spec.Sync, extra []rbacv1.PolicyRule) ([]*rbacv1.Role, []*rbacv1.RoleBinding, error) {
	if len(extra) > 0 {
		return nil, nil, fmt.Errorf("extra RBAC rules: the sync's objects are written as %s; grant rights to that identity instead", delegate(s))
	}
	ns, sync := s.Namespace, s.Name
	rules := ownRules(ns, sync, s.SecretNames())
	if sa := s.Spec.ServiceAccountName; sa != "" && s.Spec.KubeConfig == nil {
		rules = append(rules, impersonateRule(sa))
	}
	m := meta(ns, sync, ns, names.OwnRole(sync))
	role := &rbacv1.Role{
		TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "Role"},
		ObjectMeta: m,
		Rules:      rules,
	}
	binding := &rbacv1.RoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "RoleBinding"},
		ObjectMeta: meta(ns, sync, ns, names.OwnRole(sync)),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: m.Name},
		Subjects:   subjects(ns, sync),
	}
	return []*rbacv1.Role{role}, []*rbacv1.RoleBinding{binding}, nil
}

func delegate(s *spec.Sync) string {
	if s.Spec.KubeConfig != nil {
		return "the identity of the kubeconfig in spec.kubeConfig"
	}
	return "ServiceAccount " + s.Spec.ServiceAccountName
}
