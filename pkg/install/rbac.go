package install

import (
	"fmt"
	"regexp"
	"strings"

	coordinationv1 "k8s.io/api/coordination/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/spec"
)

// GroupResources are resources of one API group.
type GroupResources struct {
	// Group is the API group, "" for the core group.
	Group string
	// Resources are plural resource names.
	Resources []string
}

// DefaultManagedResources returns the namespaced resources that the applying
// Role of RBACNamespace mode grants ManagedVerbs on. The kinds a sync applies
// are only known when it renders, so this is the common set of an
// application's manifests; more are added with Options.ExtraRules.
// Deliberately absent: pods (applications deploy controllers, not Pods),
// resourcequotas and limitranges (a tenant must not lift its own limits),
// and everything cluster-scoped.
func DefaultManagedResources() []GroupResources {
	return []GroupResources{
		{Group: "", Resources: []string{"configmaps", "persistentvolumeclaims", "secrets", "serviceaccounts", "services"}},
		{Group: "apps", Resources: []string{"daemonsets", "deployments", "statefulsets"}},
		{Group: "autoscaling", Resources: []string{"horizontalpodautoscalers"}},
		{Group: "batch", Resources: []string{"cronjobs", "jobs"}},
		{Group: "networking.k8s.io", Resources: []string{"ingresses", "networkpolicies"}},
		{Group: "policy", Resources: []string{"poddisruptionbudgets"}},
		{Group: "rbac.authorization.k8s.io", Resources: []string{"rolebindings", "roles"}},
	}
}

// ManagedVerbs returns the verbs granted on each managed resource: what
// sync-job's apply (create, patch), drift check (get, list), prune (delete)
// and forced replacement (update) use. There is no watch: sync-job polls.
func ManagedVerbs() []string {
	return []string{"get", "list", "create", "update", "patch", "delete"}
}

// ownRules are what sync-job needs in the sync's namespace for its own
// state, whatever it applies: the spec, inventory and history ConfigMaps
// (history ConfigMaps are found by label and deleted by name, so configmaps
// cannot be restricted by name), Events on the spec ConfigMap, its Lease
// (created, then read, renewed and released by name) and the Secrets the
// spec names (none if it names none: a rule without resourceNames would
// grant every Secret). Its stored render, Secret gitsync-NAME-render, is
// read by name and written by server-side apply, which the API server
// authorizes as a create of that name when it does not exist yet: a
// create with resourceNames, which grants no other Secret (a plain POST
// names none and is refused). It also reads its own Namespace, for the lockdown
// annotations (pkg/lockdown): the API server authorizes a get of Namespace
// ns as a request in ns, so a Role there grants it, for that one
// Namespace.
func ownRules(ns, sync string, secrets []string) []rbacv1.PolicyRule {
	rules := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"namespaces"}, ResourceNames: []string{ns}, Verbs: []string{"get"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "create", "update", "patch", "delete"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create"}},
		{APIGroups: []string{coordinationv1.GroupName}, Resources: []string{"leases"}, Verbs: []string{"create"}},
		{APIGroups: []string{coordinationv1.GroupName}, Resources: []string{"leases"}, ResourceNames: []string{names.Lease(sync)}, Verbs: []string{"get", "update", "delete"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{names.Render(sync)}, Verbs: []string{"get", "create", "patch"}},
	}
	if len(secrets) > 0 {
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: secrets, Verbs: []string{"get"}})
	}
	return rules
}

// managedRules returns the applying Role's rules: ManagedVerbs on
// DefaultManagedResources, then extra.
func managedRules(extra []rbacv1.PolicyRule) []rbacv1.PolicyRule {
	var rules []rbacv1.PolicyRule
	for _, gr := range DefaultManagedResources() {
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{gr.Group}, Resources: gr.Resources, Verbs: ManagedVerbs()})
	}
	for _, r := range extra {
		rules = append(rules, *r.DeepCopy())
	}
	return rules
}

// testRules are what a sync whose chart tests run (spec.helm.test) needs
// beyond DefaultManagedResources: Helm tests are Pods, which the sync
// creates (server-side apply), reads until they end and deletes (their
// delete policies, or before they run again). Without tests, none.
func testRules(s *spec.Sync) []rbacv1.PolicyRule {
	if s.Spec.HelmTestTimeout() == 0 {
		return nil
	}
	return []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "create", "patch", "delete"}}}
}

// TargetNamespace returns the namespace the sync applies to:
// spec.targetNamespace, else the sync's own namespace.
func TargetNamespace(s *spec.Sync) string {
	if s.Spec.TargetNamespace != "" {
		return s.Spec.TargetNamespace
	}
	return s.Namespace
}

func subjects(ns, sync string) []rbacv1.Subject {
	return []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: names.ServiceAccount(sync), Namespace: ns}}
}

func namespaceRBAC(s *spec.Sync, extra []rbacv1.PolicyRule) ([]*rbacv1.Role, []*rbacv1.RoleBinding) {
	ns, sync := s.Namespace, s.Name
	target := TargetNamespace(s)
	roleType := metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "Role"}
	bindingType := metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "RoleBinding"}
	binding := func(m metav1.ObjectMeta) *rbacv1.RoleBinding {
		return &rbacv1.RoleBinding{
			TypeMeta:   bindingType,
			ObjectMeta: m,
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: m.Name},
			Subjects:   subjects(ns, sync),
		}
	}
	own := meta(ns, sync, ns, names.OwnRole(sync))
	applier := meta(ns, sync, target, names.Applier(ns, sync))
	roles := []*rbacv1.Role{
		{TypeMeta: roleType, ObjectMeta: own, Rules: ownRules(ns, sync, s.SecretNames())},
		{TypeMeta: roleType, ObjectMeta: applier, Rules: append(managedRules(extra), testRules(s)...)},
	}
	bindings := []*rbacv1.RoleBinding{binding(meta(ns, sync, ns, names.OwnRole(sync))), binding(meta(ns, sync, target, names.Applier(ns, sync)))}
	return roles, bindings
}

// clusterRBAC grants every verb on every resource. A sync in cluster mode
// applies whatever its repository holds, CRDs and RBAC included, and RBAC
// lets only a holder of a right grant it: anything narrower would fail the
// first ClusterRole the repository contains. The wildcard is honest about
// what the mode is.
func clusterRBAC(ns, sync string) (*rbacv1.ClusterRole, *rbacv1.ClusterRoleBinding) {
	name := names.Applier(ns, sync)
	role := &rbacv1.ClusterRole{
		TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRole"},
		ObjectMeta: meta(ns, sync, "", name),
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{rbacv1.APIGroupAll}, Resources: []string{rbacv1.ResourceAll}, Verbs: []string{rbacv1.VerbAll}},
		},
	}
	binding := &rbacv1.ClusterRoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRoleBinding"},
		ObjectMeta: meta(ns, sync, "", name),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   subjects(ns, sync),
	}
	return role, binding
}

var (
	// resourceName is a plural resource name, optionally with a
	// subresource (deployments/scale).
	resourceName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(/[a-z0-9]([-a-z0-9]*[a-z0-9])?)?$`)
	// verbName is an RBAC verb: standard (get, patch) or custom (escalate).
	verbName = regexp.MustCompile(`^[a-z][a-zA-Z]*$`)
)

// ParseRule parses RESOURCE[.GROUP][:VERB,VERB...], kubectl's resource.group
// notation with optional verbs (default ManagedVerbs): "pods",
// "servicemonitors.monitoring.coreos.com", "roles.rbac.authorization.k8s.io:escalate,bind",
// "deployments/scale.apps:get,update". Wildcards are refused.
func ParseRule(s string) (rbacv1.PolicyRule, error) {
	res, verbs, hasVerbs := strings.Cut(s, ":")
	resource, group, _ := strings.Cut(res, ".")
	rule := rbacv1.PolicyRule{APIGroups: []string{group}, Resources: []string{resource}, Verbs: ManagedVerbs()}
	if hasVerbs {
		rule.Verbs = strings.Split(verbs, ",")
	}
	if err := checkNoWildcard(rule); err != nil {
		return rbacv1.PolicyRule{}, fmt.Errorf("%q: %w", s, err)
	}
	if !resourceName.MatchString(resource) {
		return rbacv1.PolicyRule{}, fmt.Errorf("%q: %q is not a resource name: want RESOURCE[.GROUP][:VERB,...] such as servicemonitors.monitoring.coreos.com or pods:get,list", s, resource)
	}
	if group != "" && len(validation.IsDNS1123Subdomain(group)) > 0 {
		return rbacv1.PolicyRule{}, fmt.Errorf("%q: %q is not an API group name", s, group)
	}
	for _, v := range rule.Verbs {
		if !verbName.MatchString(v) {
			return rbacv1.PolicyRule{}, fmt.Errorf("%q: %q is not a verb", s, v)
		}
	}
	return rule, nil
}

// checkNoWildcard refuses a rule that grants by wildcard: namespace mode
// lists what it grants.
func checkNoWildcard(r rbacv1.PolicyRule) error {
	for _, list := range [][]string{r.APIGroups, r.Resources, r.Verbs, r.ResourceNames} {
		for _, v := range list {
			if strings.Contains(v, "*") {
				return fmt.Errorf("wildcard %q: namespace mode grants only explicit resources and verbs", v)
			}
		}
	}
	if len(r.NonResourceURLs) > 0 {
		return fmt.Errorf("nonResourceURLs cannot be granted by a Role")
	}
	return nil
}
