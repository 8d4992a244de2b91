package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/gitsync/gitsync/pkg/action"
	"github.com/gitsync/gitsync/pkg/format"
)

// logsOptions are the options of `kubectl gitsync logs`; the embedded
// syncRef names the sync.
type logsOptions struct {
	// Job picks the run (a Job of the sync's CronJob) whose log is shown.
	// Default: the newest.
	Job string
	// Follow streams the log until the run ends, waiting for its Pod to
	// start if needed.
	Follow bool

	syncRef
	genericiooptions.IOStreams
}

// newLogsCommand returns the `logs` command.
func newLogsCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &logsOptions{syncRef: syncRef{flags: flags}, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "logs NAME",
		Short: "Print the log of a sync's last run",
		Long: `Print the log of the sync-job container of the newest Job of the sync's CronJob (a scheduled run, or one
started by kubectl gitsync run), or of the Job named with --job. The CronJob keeps the 3 newest successful and
3 newest failed Jobs; older runs are only in the history (kubectl gitsync history). --follow streams the log
until the run ends, waiting for the Pod to start. Which Job and Pod are shown is said on stderr.

Exit status 1 when the sync has not run yet.`,
		Example: `  # The log of sync web's last run
  kubectl gitsync logs web -n team-a

  # Stream the log of the run in progress
  kubectl gitsync logs web -f

  # The log of an earlier run that is still kept
  kubectl gitsync logs web --job gitsync-web-29412345`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeSyncNames(flags),
		RunE:              runE(o),
	}
	cmd.Flags().StringVar(&o.Job, "job", "", "the Job (run) to show; default the newest")
	cmd.Flags().BoolVarP(&o.Follow, "follow", "f", false, "stream the log until the run ends")
	return cmd
}

// Complete reads the argument and the namespace and builds the client.
func (o *logsOptions) Complete(cmd *cobra.Command, args []string) error {
	return o.complete(cmd, args)
}

// Validate checks the argument.
func (o *logsOptions) Validate() error {
	return validateSyncName(o.Name)
}

// waitingPrinter prints, on stderr, why the log is not there yet.
type waitingPrinter struct{ o *logsOptions }

func (p waitingPrinter) Event(string) {}

func (p waitingPrinter) Status(why string) {
	if why != "" {
		fmt.Fprintf(p.o.ErrOut, "waiting: %s\n", why)
	}
}

// Run prints the log.
func (o *logsOptions) Run(ctx context.Context) error {
	log, err := action.FindRunLog(ctx, o.cfg, action.LogOptions{Ref: o.ref(), Job: o.Job, Follow: o.Follow, Progress: waitingPrinter{o}})
	var noRun *action.NoRunError
	if errors.As(err, &noRun) {
		return withExitCode(ExitFailed, err)
	}
	if err != nil || log == nil {
		return err // nil: interrupted while waiting
	}
	started := "-"
	if log.Job.Status.StartTime != nil {
		started = format.Age(o.now(), log.Job.Status.StartTime.Time) + " ago"
	}
	fmt.Fprintf(o.ErrOut, "Job %s (started %s), Pod %s (%s):\n", log.Job.Name, started, log.Pod.Name, log.Pod.Status.Phase)
	return action.StreamLog(ctx, o.cfg, log, o.Follow, o.Out)
}
