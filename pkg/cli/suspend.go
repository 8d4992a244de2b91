package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/gitsync/gitsync/pkg/action"
	"github.com/gitsync/gitsync/pkg/format"
)

// suspendOptions are the options of `kubectl gitsync suspend` and `resume`;
// the embedded syncRef names the sync.
type suspendOptions struct {
	// Suspend is true for suspend, false for resume.
	Suspend bool

	syncRef
	genericiooptions.IOStreams
}

// newSuspendCommand returns the `suspend` command.
func newSuspendCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &suspendOptions{syncRef: syncRef{flags: flags}, IOStreams: streams, Suspend: true}
	return o.command("suspend NAME", "Stop a sync's scheduled runs",
		`Set suspend: true on the sync's CronJob, so that it starts no more runs, and in the spec (ConfigMap
gitsync-NAME), so that a run started by hand or by an older Job does nothing either. A run already in
progress finishes. The applied objects stay as they are; drift is no longer corrected. resume undoes it.`,
		`  # Stop syncing web, e.g. during an incident
  kubectl gitsync suspend web -n team-a`)
}

// newResumeCommand returns the `resume` command.
func newResumeCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &suspendOptions{syncRef: syncRef{flags: flags}, IOStreams: streams, Suspend: false}
	return o.command("resume NAME", "Restart a sync's scheduled runs, and clear a rollback pin",
		`Set suspend: false in the sync's spec (ConfigMap gitsync-NAME) and on its CronJob, so that runs start
again on schedule. If a rollback pinned the sync to a revision (the CronJob's sync-job container runs with
--revision and carries the annotation gitsync.io/pinned-revision), resume removes the pin: the next run
follows the spec's ref again.`,
		`  # Resume syncing web; the next scheduled run applies the newest revision
  kubectl gitsync resume web -n team-a`)
}

func (o *suspendOptions) command(use, short, long, example string) *cobra.Command {
	return &cobra.Command{
		Use:               use,
		Short:             short,
		Long:              long,
		Example:           example,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeSyncNames(o.flags),
		RunE:              runE(o),
	}
}

// Complete reads the argument and the namespace and builds the client.
func (o *suspendOptions) Complete(cmd *cobra.Command, args []string) error {
	return o.complete(cmd, args)
}

// Validate checks the argument.
func (o *suspendOptions) Validate() error {
	return validateSyncName(o.Name)
}

func (o *suspendOptions) verb() string {
	if o.Suspend {
		return "suspended"
	}
	return "resumed"
}

// Run flips the spec and the CronJob and says what changed.
func (o *suspendOptions) Run(ctx context.Context) error {
	res, err := action.Suspend(ctx, o.cfg, action.SuspendOptions{Ref: o.ref(), Suspend: o.Suspend})
	if err != nil {
		return err
	}
	if res.UnpinnedRevision != "" {
		fmt.Fprintf(o.Out, "rollback pin to %s removed: runs follow the spec's ref again\n", res.UnpinnedRevision)
	}
	if len(res.Changed) == 0 {
		_, err := fmt.Fprintf(o.Out, "sync %s/%s is already %s\n", o.Namespace, o.Name, o.verb())
		return err
	}
	msg := fmt.Sprintf("sync %s/%s %s", o.Namespace, o.Name, o.verb())
	if !res.NextRun.IsZero() {
		msg += ": next run " + format.Until(o.now(), res.NextRun)
	}
	_, err = fmt.Fprintln(o.Out, msg)
	return err
}
