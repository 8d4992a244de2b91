package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/gitsync/gitsync/pkg/action"
	"github.com/gitsync/gitsync/pkg/apply"
	"github.com/gitsync/gitsync/pkg/format"
)

// uninstallOptions are the options of `kubectl gitsync uninstall`; the
// embedded syncRef names the sync.
type uninstallOptions struct {
	// Prune first deletes the objects the sync applied. Default false: they
	// stay.
	Prune bool
	// Bootstrap, Yes: see uninstall_bootstrap.go.
	Bootstrap, Yes bool
	// JobTimeout bounds the wait for the sync's runs to stop. Default
	// action.DefaultJobTimeout.
	JobTimeout time.Duration

	syncRef
	genericiooptions.IOStreams
}

// newUninstallCommand returns the `uninstall` command.
func newUninstallCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &uninstallOptions{syncRef: syncRef{flags: flags}, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "uninstall NAME",
		Short: "Remove a sync: its CronJob, spec, state, ServiceAccount and RBAC",
		Long: `Delete what install and the sync's runs created for sync NAME.

First no run may start or go on: the CronJob gitsync-NAME is suspended, its Jobs are deleted and uninstall
waits until they are gone (a run stopped this way records why), the CronJob is deleted, and the Lease
gitsync-NAME is taken over, so that no run can start and a run holding it elsewhere stops before its next
write; uninstall waits for such a run until its Lease would have expired. Both waits are bounded by
--job-timeout; if a run does not stop in time, nothing else is removed and uninstall can be run again.

Then it deletes the spec ConfigMap gitsync-NAME, the inventory ConfigMap gitsync-NAME-inventory and the
history ConfigMaps gitsync-NAME-rev-N, the Lease, and the ServiceAccount, Roles, RoleBindings, ClusterRole
and ClusterRoleBinding labelled as this sync's (gitsync.io/sync=NAME, gitsync.io/sync-namespace=NAMESPACE,
app.kubernetes.io/managed-by=kubectl-gitsync).

The objects the sync applied stay in place unless --prune is given. With --prune they are deleted first,
in reverse order of apply (Namespaces and CRDs last), and only those still carrying this sync's labels and
not opted out with gitsync.io/prune: disabled. If any cannot be deleted, nothing else is removed, so that
uninstall --prune can be run again.`,
		Example: `  # Remove sync web; what it applied stays
  kubectl gitsync uninstall web -n team-a

  # Remove sync web and everything it applied
  kubectl gitsync uninstall web -n team-a --prune`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeSyncNames(flags),
		RunE:              runE(o),
	}
	cmd.Flags().BoolVar(&o.Prune, "prune", false, "first delete the objects the sync applied")
	o.addBootstrapFlags(cmd)
	cmd.Flags().DurationVar(&o.JobTimeout, "job-timeout", action.DefaultJobTimeout, "how long to wait for the sync's running Jobs (and a run holding its Lease) to stop")
	return cmd
}

// Complete reads the argument and the namespace and builds the clients.
func (o *uninstallOptions) Complete(cmd *cobra.Command, args []string) error {
	if o.Bootstrap {
		return o.completeBootstrap(cmd, args)
	}
	return o.complete(cmd, args)
}

// Validate checks the argument and the flags.
func (o *uninstallOptions) Validate() error {
	if o.Yes && !o.Bootstrap {
		return errors.New("--yes: only with --bootstrap")
	}
	if o.JobTimeout <= 0 {
		return fmt.Errorf("--job-timeout: must be positive, not %s", o.JobTimeout)
	}
	return validateSyncName(o.Name)
}

// Run deletes the sync and prints what happened to each object.
func (o *uninstallOptions) Run(ctx context.Context) error {
	if o.Bootstrap {
		return o.runBootstrap(ctx)
	}
	prog := format.NewProgress(o.ErrOut, o.cfg.Now)
	stop := prog.Spin()
	res, err := action.Uninstall(ctx, o.cfg, action.UninstallOptions{Ref: o.ref(), Prune: o.Prune, JobTimeout: o.JobTimeout, Progress: prog})
	stop()
	for _, d := range res.Deletions {
		switch {
		case d.Action == apply.Deleted:
			fmt.Fprintf(o.Out, "%s deleted\n", d.ID)
		case d.Action == apply.Skipped && d.Applied:
			fmt.Fprintf(o.Out, "%s kept: %s\n", d.ID, d.Reason)
		case d.Action == apply.Skipped:
			fmt.Fprintf(o.ErrOut, "%s kept: %s\n", d.ID, d.Reason)
		case d.Action == apply.Failed:
			fmt.Fprintf(o.Out, "%s not deleted: %s\n", d.ID, d.Reason)
		}
	}
	if err != nil {
		return err
	}
	switch {
	case o.Prune:
		fmt.Fprintf(o.Out, "sync %s/%s uninstalled, with what it applied\n", o.Namespace, o.Name)
	case res.Left > 0:
		fmt.Fprintf(o.Out, "sync %s/%s uninstalled; the %s it applied were left in place (use --prune to delete them)\n",
			o.Namespace, o.Name, format.Count(res.Left, "object"))
	default:
		fmt.Fprintf(o.Out, "sync %s/%s uninstalled\n", o.Namespace, o.Name)
	}
	return nil
}
