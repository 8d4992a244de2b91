package action

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gitsync/gitsync/pkg/install"
)

// CheckItem is one line of the checklist.
type CheckItem struct {
	// Name says what was checked.
	Name string `json:"name"`
	// OK tells whether the check passed.
	OK bool `json:"ok"`
	// Required tells whether a failure makes check fail.
	Required bool `json:"required"`
	// Detail says why a check failed, or what a passed one found.
	Detail string `json:"detail,omitempty"`
}

// CheckSection is a titled group of checks.
type CheckSection struct {
	// Title names the group: "Cluster", "Permissions of USER".
	Title string `json:"title"`
	// Items are its checks.
	Items []CheckItem `json:"items"`
}

// CheckResult is the checklist.
type CheckResult struct {
	// Sections are the groups of checks, in order.
	Sections []CheckSection `json:"sections"`
}

// Failed returns how many required checks failed.
func (r *CheckResult) Failed() int {
	n := 0
	for _, sec := range r.Sections {
		for _, it := range sec.Items {
			if it.Required && !it.OK {
				n++
			}
		}
	}
	return n
}

// CheckOptions say which install Check checks for.
type CheckOptions struct {
	// Namespace is the namespace a sync would be installed in. Required.
	Namespace string
	// TargetNamespace is the namespace the sync would apply to. Default
	// Namespace.
	TargetNamespace string
	// RBAC is the RBAC mode the install would use. Default
	// install.RBACNamespace; install.RBACCluster makes the ClusterRole
	// rights required.
	RBAC install.RBACMode
}

// Check checks, before install, that the API server is reachable, that it
// serves the APIs gitsync uses, and that the user may create what install
// writes (SelfSubjectAccessReviews for create and patch, the verbs of
// server-side apply). It also warns about cluster-mode syncs outside
// install.ClusterNamespace and about who else may write in the namespaces
// that hold them (checkClusterSyncs). An unreachable API server is an
// error; everything else is an item of the result.
func Check(ctx context.Context, cfg *Config, opts CheckOptions) (*CheckResult, error) {
	if opts.TargetNamespace == "" {
		opts.TargetNamespace = opts.Namespace
	}
	if opts.RBAC == "" {
		opts.RBAC = install.RBACNamespace
	}
	rc := rest.CopyConfig(cfg.REST)
	// About twenty small requests: client-go's default of 5 per second
	// would make check take seconds for nothing.
	rc.QPS, rc.Burst = 50, 100
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	version, err := client.Discovery().ServerVersion()
	if err != nil {
		return nil, fmt.Errorf("API server: %w", err)
	}
	items := []CheckItem{{Name: "API server reachable", OK: true, Required: true, Detail: version.GitVersion}}
	items = append(items, checkAPIs(client)...)
	perms, err := checkPermissions(ctx, client, opts)
	if err != nil {
		return nil, err
	}
	return &CheckResult{Sections: []CheckSection{
		{Title: "Cluster", Items: items},
		{Title: "Permissions of " + whoAmI(ctx, client), Items: perms},
		{Title: "Cluster-mode syncs (warnings)", Items: checkClusterSyncs(ctx, client)},
	}}, nil
}

// checkAPIs checks that the API groups and resources gitsync uses are
// served.
func checkAPIs(client kubernetes.Interface) []CheckItem {
	wants := []struct {
		groupVersion string
		resources    []string
	}{
		{"v1", []string{"configmaps", "serviceaccounts", "secrets", "events"}},
		{"batch/v1", []string{"cronjobs", "jobs"}},
		{"coordination.k8s.io/v1", []string{"leases"}},
		{"rbac.authorization.k8s.io/v1", []string{"roles", "rolebindings", "clusterroles", "clusterrolebindings"}},
	}
	var out []CheckItem
	for _, w := range wants {
		item := CheckItem{Name: "API " + w.groupVersion + " " + strings.Join(w.resources, ", "), Required: true}
		list, err := client.Discovery().ServerResourcesForGroupVersion(w.groupVersion)
		switch {
		case apierrors.IsNotFound(err):
			item.Detail = "not served"
		case err != nil:
			item.Detail = err.Error()
		default:
			var missing []string
			for _, r := range w.resources {
				if !slices.ContainsFunc(list.APIResources, func(ar metav1.APIResource) bool { return ar.Name == r }) {
					missing = append(missing, r)
				}
			}
			item.OK = len(missing) == 0
			if !item.OK {
				item.Detail = "missing " + strings.Join(missing, ", ")
			}
		}
		out = append(out, item)
	}
	return out
}

// whoAmI names the current user (SelfSubjectReview), or says "you" when
// the server cannot tell.
func whoAmI(ctx context.Context, client kubernetes.Interface) string {
	r, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil || r.Status.UserInfo.Username == "" {
		return "you"
	}
	return r.Status.UserInfo.Username
}

// checkPermissions asks the API server, with SelfSubjectAccessReviews,
// whether the user may create and patch what install writes.
func checkPermissions(ctx context.Context, client kubernetes.Interface, opts CheckOptions) ([]CheckItem, error) {
	type want struct {
		group, resource, namespace string
		verbs                      []string
		required                   bool
		why                        string
	}
	apply := []string{"create", "patch"}
	cluster := opts.RBAC == install.RBACCluster
	wants := []want{
		{"", "configmaps", opts.Namespace, apply, true, ""},
		{"", "serviceaccounts", opts.Namespace, apply, true, ""},
		{"rbac.authorization.k8s.io", "roles", opts.Namespace, apply, true, ""},
		{"rbac.authorization.k8s.io", "rolebindings", opts.Namespace, apply, true, ""},
		{"batch", "cronjobs", opts.Namespace, apply, true, ""},
	}
	if opts.TargetNamespace != opts.Namespace && !cluster {
		wants = append(wants,
			want{"rbac.authorization.k8s.io", "roles", opts.TargetNamespace, apply, true, ""},
			want{"rbac.authorization.k8s.io", "rolebindings", opts.TargetNamespace, apply, true, ""})
	}
	wants = append(wants,
		want{"rbac.authorization.k8s.io", "clusterroles", "", apply, cluster, "needed for --rbac=cluster"},
		want{"rbac.authorization.k8s.io", "clusterrolebindings", "", apply, cluster, "needed for --rbac=cluster"},
		want{"batch", "jobs", opts.Namespace, []string{"create"}, false, "needed for kubectl gitsync run"},
	)
	var out []CheckItem
	for _, w := range wants {
		res := w.resource
		if w.group != "" {
			res += "." + w.group
		}
		where := "cluster-wide"
		if w.namespace != "" {
			where = "in namespace " + w.namespace
		}
		item := CheckItem{Name: strings.Join(w.verbs, ", ") + " " + res + " " + where, OK: true, Required: w.required}
		var denied []string
		reason := ""
		for _, verb := range w.verbs {
			ok, why, err := allowed(ctx, client, authorizationv1.ResourceAttributes{
				Namespace: w.namespace, Verb: verb, Group: w.group, Resource: w.resource,
			})
			if err != nil {
				return nil, err
			}
			if !ok {
				denied = append(denied, verb)
				reason = cmp.Or(reason, why)
			}
		}
		var detail []string
		if len(denied) > 0 {
			item.OK = false
			detail = append(detail, "denied "+strings.Join(denied, ", "))
			if reason != "" {
				detail = append(detail, reason)
			}
		}
		if w.why != "" && (!item.OK || !w.required) {
			detail = append(detail, w.why)
		}
		item.Detail = strings.Join(detail, "; ")
		out = append(out, item)
	}
	return out, nil
}

// allowed asks whether the user may do attrs, and the reason the
// authorizer gave when it may not.
func allowed(ctx context.Context, client kubernetes.Interface, attrs authorizationv1.ResourceAttributes) (bool, string, error) {
	r, err := client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attrs},
	}, metav1.CreateOptions{})
	if err != nil {
		return false, "", fmt.Errorf("SelfSubjectAccessReview %s %s: %w", attrs.Verb, attrs.Resource, err)
	}
	return r.Status.Allowed, r.Status.Reason, nil
}
