package cli

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/gitsync/gitsync/pkg/action"
	"github.com/gitsync/gitsync/pkg/format"
	"github.com/gitsync/gitsync/pkg/install"
)

// checkOptions are the options of `kubectl gitsync check`.
type checkOptions struct {
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

	flags *genericclioptions.ConfigFlags
	cfg   *action.Config

	genericiooptions.IOStreams
}

// newCheckCommand returns the `check` command.
func newCheckCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &checkOptions{flags: flags, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check that the cluster and your rights allow installing a sync",
		Long: `Check, before install, that the API server is reachable, that it serves the APIs gitsync uses
(batch/v1 CronJob and Job, coordination.k8s.io/v1 Lease, rbac.authorization.k8s.io/v1), and that you may
create what install writes in the namespace: ConfigMaps, ServiceAccounts, Roles, RoleBindings and CronJobs
(asked with SelfSubjectAccessReviews, for the verbs create and patch of server-side apply). With
--rbac=cluster the rights on ClusterRoles and ClusterRoleBindings are required too; otherwise they are shown
for information. Creating Jobs (kubectl gitsync run) is shown for information. With --rbac=cluster and no
-n the namespace checked is gitsync-system, where install puts cluster-mode syncs.

It then warns, without failing, about cluster-mode syncs (found by the ClusterRoleBindings install wrote)
outside gitsync-system, and about RoleBindings in the namespaces holding them that let someone else write
ConfigMaps, CronJobs or workloads there: each of those subjects is cluster-admin through the sync.

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
func (o *checkOptions) Complete(cmd *cobra.Command, _ []string) error {
	var err error
	var explicit bool
	if o.Namespace, explicit, err = namespaceOf(o.flags); err != nil {
		return err
	}
	if !explicit && install.RBACMode(o.RBAC) == install.RBACCluster {
		// Where install puts a cluster-mode sync without -n.
		o.Namespace = install.ClusterNamespace
	}
	if o.TargetNamespace == "" {
		o.TargetNamespace = o.Namespace
	}
	o.cfg, err = actionConfig(cmd.Context(), o.flags)
	return err
}

// Validate checks the flags.
func (o *checkOptions) Validate() error {
	if !slices.Contains(install.RBACModes(), install.RBACMode(o.RBAC)) {
		return fmt.Errorf("--rbac: must be namespace or cluster, not %q", o.RBAC)
	}
	return nil
}

// Run runs the checks and prints the checklist.
func (o *checkOptions) Run(ctx context.Context) error {
	res, err := action.Check(ctx, o.cfg, action.CheckOptions{
		Namespace: o.Namespace, TargetNamespace: o.TargetNamespace, RBAC: install.RBACMode(o.RBAC),
	})
	if err != nil {
		return err
	}
	for _, sec := range res.Sections {
		fmt.Fprintln(o.Out, sec.Title)
		printChecklist(o.Out, sec.Items)
	}
	if failed := res.Failed(); failed > 0 {
		fmt.Fprintf(o.Out, "%s failed: a sync cannot be installed this way.\n", format.Count(failed, "required check"))
		return withExitCode(ExitFailed, fmt.Errorf("check: %s failed", format.Count(failed, "required check")))
	}
	_, err = fmt.Fprintln(o.Out, "All required checks passed.")
	return err
}

func printChecklist(out io.Writer, items []action.CheckItem) {
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
