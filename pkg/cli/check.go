package cli

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

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

// CheckOptions are the options of `kubectl gitsync check`.
type CheckOptions struct {
	// Namespace is the namespace a sync would be installed in: --namespace,
	// else the kubeconfig context's.
	Namespace string
	// TargetNamespace is the namespace the sync would apply to
	// (--target-namespace). Default Namespace.
	TargetNamespace string
	// RBAC is the RBAC mode the install would use (--rbac): "namespace"
	// (default) or "cluster"; cluster mode makes the ClusterRole rights
	// required.
	RBAC string

	flags  *genericclioptions.ConfigFlags
	client kubernetes.Interface

	genericiooptions.IOStreams
}

// NewCheckCommand returns the `check` command.
func NewCheckCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &CheckOptions{flags: flags, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check that the cluster and your rights allow installing a sync",
		Long: `Check, before install, that the API server is reachable, that it serves the APIs gitsync uses
(batch/v1 CronJob and Job, coordination.k8s.io/v1 Lease, rbac.authorization.k8s.io/v1), and that you may
create what install writes in the namespace: ConfigMaps, ServiceAccounts, Roles, RoleBindings and CronJobs
(asked with SelfSubjectAccessReviews, for the verbs create and patch of server-side apply). With
--rbac=cluster the rights on ClusterRoles and ClusterRoleBindings are required too; otherwise they are shown
for information. Creating Jobs (kubectl gitsync run) is shown for information.

Exit status 1 when a required check fails.`,
		Example: `  # Can I install a sync in namespace team-a?
  kubectl gitsync check -n team-a

  # ... one that applies into namespace apps?
  kubectl gitsync check -n team-a --target-namespace apps

  # ... with cluster-wide rights?
  kubectl gitsync check --rbac cluster`,
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	cmd.Flags().StringVar(&o.TargetNamespace, "target-namespace", "", "namespace the sync would apply to (default the namespace)")
	cmd.Flags().StringVar(&o.RBAC, "rbac", string(install.RBACNamespace), "RBAC mode the install would use: namespace or cluster")
	return cmd
}

// Complete reads the namespace and builds the client.
func (o *CheckOptions) Complete(_ *cobra.Command, _ []string) error {
	var err error
	if o.Namespace, err = SyncNamespace(o.flags); err != nil {
		return err
	}
	if o.TargetNamespace == "" {
		o.TargetNamespace = o.Namespace
	}
	cfg, err := o.flags.ToRESTConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	// About twenty small requests: client-go's default of 5 per second
	// would make check take seconds for nothing.
	cfg.QPS, cfg.Burst = 50, 100
	if o.client, err = kubernetes.NewForConfig(cfg); err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	return nil
}

// Validate checks the flags.
func (o *CheckOptions) Validate() error {
	if !slices.Contains(install.RBACModes(), install.RBACMode(o.RBAC)) {
		return fmt.Errorf("--rbac: must be namespace or cluster, not %q", o.RBAC)
	}
	return nil
}

// Run runs the checks and prints the checklist.
func (o *CheckOptions) Run(ctx context.Context) error {
	version, err := o.client.Discovery().ServerVersion()
	if err != nil {
		return fmt.Errorf("API server: %w", err)
	}
	items := []CheckItem{{Name: "API server reachable", OK: true, Required: true, Detail: version.GitVersion}}
	items = append(items, o.checkAPIs()...)
	sections := []struct {
		title string
		items []CheckItem
	}{{"Cluster", items}}

	user := o.whoAmI(ctx)
	perms, err := o.checkPermissions(ctx)
	if err != nil {
		return err
	}
	sections = append(sections, struct {
		title string
		items []CheckItem
	}{"Permissions of " + user, perms})

	failed := 0
	for _, sec := range sections {
		for _, it := range sec.items {
			if it.Required && !it.OK {
				failed++
			}
		}
	}
	for _, sec := range sections {
		fmt.Fprintln(o.Out, sec.title)
		printChecklist(o.Out, sec.items)
	}
	if failed > 0 {
		fmt.Fprintf(o.Out, "%s failed: a sync cannot be installed this way.\n", countNoun(failed, "required check"))
		return WithExitCode(ExitFailed, fmt.Errorf("check: %s failed", countNoun(failed, "required check")))
	}
	_, err = fmt.Fprintln(o.Out, "All required checks passed.")
	return err
}

func printChecklist(out io.Writer, items []CheckItem) {
	for _, it := range items {
		mark := "✔"
		if !it.OK {
			mark = "✗"
		}
		line := "  " + mark + " " + it.Name
		if it.Detail != "" {
			line += ": " + it.Detail
		}
		if !it.OK && !it.Required {
			line += " (not required)"
		}
		fmt.Fprintln(out, line)
	}
}

// checkAPIs checks that the API groups and resources gitsync uses are
// served.
func (o *CheckOptions) checkAPIs() []CheckItem {
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
		list, err := o.client.Discovery().ServerResourcesForGroupVersion(w.groupVersion)
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
func (o *CheckOptions) whoAmI(ctx context.Context) string {
	r, err := o.client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil || r.Status.UserInfo.Username == "" {
		return "you"
	}
	return r.Status.UserInfo.Username
}

// checkPermissions asks the API server, with SelfSubjectAccessReviews,
// whether the user may create and patch what install writes.
func (o *CheckOptions) checkPermissions(ctx context.Context) ([]CheckItem, error) {
	type want struct {
		group, resource, namespace string
		verbs                      []string
		required                   bool
		why                        string
	}
	apply := []string{"create", "patch"}
	cluster := o.RBAC == string(install.RBACCluster)
	wants := []want{
		{"", "configmaps", o.Namespace, apply, true, ""},
		{"", "serviceaccounts", o.Namespace, apply, true, ""},
		{"rbac.authorization.k8s.io", "roles", o.Namespace, apply, true, ""},
		{"rbac.authorization.k8s.io", "rolebindings", o.Namespace, apply, true, ""},
		{"batch", "cronjobs", o.Namespace, apply, true, ""},
	}
	if o.TargetNamespace != o.Namespace && !cluster {
		wants = append(wants,
			want{"rbac.authorization.k8s.io", "roles", o.TargetNamespace, apply, true, ""},
			want{"rbac.authorization.k8s.io", "rolebindings", o.TargetNamespace, apply, true, ""})
	}
	wants = append(wants,
		want{"rbac.authorization.k8s.io", "clusterroles", "", apply, cluster, "needed for --rbac=cluster"},
		want{"rbac.authorization.k8s.io", "clusterrolebindings", "", apply, cluster, "needed for --rbac=cluster"},
		want{"batch", "jobs", o.Namespace, []string{"create"}, false, "needed for kubectl gitsync run"},
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
			ok, why, err := o.allowed(ctx, authorizationv1.ResourceAttributes{
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
func (o *CheckOptions) allowed(ctx context.Context, attrs authorizationv1.ResourceAttributes) (bool, string, error) {
	r, err := o.client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attrs},
	}, metav1.CreateOptions{})
	if err != nil {
		return false, "", fmt.Errorf("SelfSubjectAccessReview %s %s: %w", attrs.Verb, attrs.Resource, err)
	}
	return r.Status.Allowed, r.Status.Reason, nil
}
