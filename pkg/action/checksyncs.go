package action

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/names"
)

// A cluster-mode sync's ServiceAccount is cluster-admin; whoever can write
// its spec ConfigMap or CronJob, or start a Pod in its namespace (a Pod
// can name the ServiceAccount), is too. checkClusterSyncs finds the
// cluster-mode syncs (one LIST of the ClusterRoleBindings install wrote)
// and, for each namespace holding one, the RoleBindings there that let
// someone else write those (one LIST per namespace, one GET per role).
// Every item is a warning: it never fails check.
func checkClusterSyncs(ctx context.Context, client kubernetes.Interface) []CheckItem {
	selector := labels.SelectorFromSet(labels.Set{install.LabelManagedBy: install.ManagedBy}).String()
	crbs, err := client.RbacV1().ClusterRoleBindings().List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return []CheckItem{{Name: "where cluster-mode syncs live", Detail: "cannot list ClusterRoleBindings: " + apiReason(err) + "; a cluster administrator can check this"}}
	}
	type syncRef struct{ namespace, name string }
	var syncs []syncRef
	for _, b := range crbs.Items {
		ns, name := b.Labels[names.LabelSyncNamespace], b.Labels[names.LabelSync]
		if ns != "" && name != "" && !slices.Contains(syncs, syncRef{ns, name}) {
			syncs = append(syncs, syncRef{ns, name})
		}
	}
	slices.SortFunc(syncs, func(a, b syncRef) int {
		return cmp.Or(cmp.Compare(a.namespace, b.namespace), cmp.Compare(a.name, b.name))
	})
	if len(syncs) == 0 {
		return []CheckItem{{Name: "where cluster-mode syncs live", OK: true, Detail: "there are none"}}
	}
	var items []CheckItem
	var namespaces []string
	for _, s := range syncs {
		item := CheckItem{Name: fmt.Sprintf("cluster-mode sync %s/%s in %s", s.namespace, s.name, install.ClusterNamespace), OK: s.namespace == install.ClusterNamespace}
		if !item.OK {
			item.Detail = fmt.Sprintf("it is in namespace %s: whoever can write ConfigMaps or CronJobs, or create Pods, there is cluster-admin through it; reinstall it in %s", s.namespace, install.ClusterNamespace)
		}
		items = append(items, item)
		if !slices.Contains(namespaces, s.namespace) {
			namespaces = append(namespaces, s.namespace)
		}
	}
	roles := map[rbacv1.RoleRef][]rbacv1.PolicyRule{}
	for _, ns := range namespaces {
		item := CheckItem{Name: "only cluster administrators write in namespace " + ns, OK: true}
		writers, err := namespaceWriters(ctx, client, ns, roles)
		switch {
		case err != nil:
			item.OK, item.Detail = false, "cannot tell: "+apiReason(err)
		case len(writers) > 0:
			item.OK, item.Detail = false, strings.Join(writers, "; ")
		}
		items = append(items, item)
	}
	return items
}

// namespaceWriters describes the RoleBindings of namespace, other than
// gitsync's own, that grant write on what a cluster-mode sync runs from.
// roles caches the rules of each role looked up.
func namespaceWriters(ctx context.Context, client kubernetes.Interface, namespace string, roles map[rbacv1.RoleRef][]rbacv1.PolicyRule) ([]string, error) {
	bindings, err := client.RbacV1().RoleBindings(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, b := range bindings.Items {
		if b.Labels[install.LabelManagedBy] == install.ManagedBy || len(b.Subjects) == 0 {
			continue
		}
		ref := b.RoleRef
		if ref.Kind == "Role" {
			ref.APIGroup = namespace // the cache key must tell namespaces apart
		}
		rules, cached := roles[ref]
		if !cached {
			switch b.RoleRef.Kind {
			case "ClusterRole":
				if r, err := client.RbacV1().ClusterRoles().Get(ctx, ref.Name, metav1.GetOptions{}); err == nil {
					rules = r.Rules
				} else if !apierrors.IsNotFound(err) {
					return nil, err
				}
			case "Role":
				if r, err := client.RbacV1().Roles(namespace).Get(ctx, ref.Name, metav1.GetOptions{}); err == nil {
					rules = r.Rules
				} else if !apierrors.IsNotFound(err) {
					return nil, err
				}
			}
			roles[ref] = rules
		}
		granted := SyncWriteRights(rules)
		if b.RoleRef.Kind == "ClusterRole" && slices.Contains([]string{"admin", "edit", "cluster-admin"}, b.RoleRef.Name) && len(granted) == 0 {
			// Aggregated roles whose rules were not filled in (yet).
			granted = []string{"configmaps", "cronjobs.batch", "pods"}
		}
		if len(granted) == 0 {
			continue
		}
		var subjects []string
		for _, s := range b.Subjects {
			who := s.Kind + " " + s.Name
			if s.Namespace != "" {
				who = s.Kind + " " + s.Namespace + "/" + s.Name
			}
			subjects = append(subjects, who)
		}
		out = append(out, fmt.Sprintf("RoleBinding %s (%s %s) lets %s write %s", b.Name, b.RoleRef.Kind, b.RoleRef.Name,
			strings.Join(subjects, ", "), strings.Join(granted, ", ")))
	}
	return out, nil
}

// syncWriteResources are what a cluster-mode sync runs from: its spec
// (configmaps), its CronJob, and the workloads whose Pods could run as its
// ServiceAccount.
var syncWriteResources = []struct{ group, resource string }{
	{"", "configmaps"}, {"batch", "cronjobs"}, {"batch", "jobs"}, {"", "pods"},
	{"apps", "deployments"}, {"apps", "statefulsets"}, {"apps", "daemonsets"}, {"apps", "replicasets"},
	{"", "replicationcontrollers"},
}

// SyncWriteRights returns which of the resources a cluster-mode sync runs
// from (its spec ConfigMap, its CronJob, workloads that could run as its
// ServiceAccount) rules let their holder create, update or patch, as
// resource.group; rules limited to resourceNames count too, since they may
// name the sync's own objects.
func SyncWriteRights(rules []rbacv1.PolicyRule) []string {
	var out []string
	for _, w := range syncWriteResources {
		for _, r := range rules {
			if ruleHas(r.APIGroups, w.group) && ruleHas(r.Resources, w.resource) &&
				(ruleHas(r.Verbs, "create") || ruleHas(r.Verbs, "update") || ruleHas(r.Verbs, "patch")) {
				name := w.resource
				if w.group != "" {
					name += "." + w.group
				}
				out = append(out, name)
				break
			}
		}
	}
	return out
}

// ruleHas reports whether list holds v or the wildcard.
func ruleHas(list []string, v string) bool {
	return slices.Contains(list, v) || slices.Contains(list, rbacv1.ResourceAll)
}

// apiReason is an API error's reason, or its message.
func apiReason(err error) string {
	if r := apierrors.ReasonForError(err); r != metav1.StatusReasonUnknown {
		return strings.ToLower(string(r))
	}
	return err.Error()
}
