package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"
	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/gitsync/gitsync/pkg/action"
	"github.com/gitsync/gitsync/pkg/format"
	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/syncrun"
)

// runOptions are the options of `kubectl gitsync run`; the embedded
// syncRef names the sync.
type runOptions struct {
	// Local runs the sync in this process with the user's credentials
	// instead of in a Job. Default false.
	Local bool
	// Wait follows the Job until it ends, streaming its log. Default true.
	Wait bool
	// Timeout bounds the wait (and, with Local, the run). Default: the
	// Job's activeDeadlineSeconds plus action.WaitMargin, else the spec's
	// timeout plus action.WaitMargin; with Local, none beyond the run's
	// own.
	Timeout time.Duration

	// timeoutSet and toRevisionSet record which flags were given, for
	// Validate.
	timeoutSet, toRevisionSet bool

	syncRef
	genericiooptions.IOStreams
}

// newRunCommand returns the `run` command. flags are the root's kubeconfig
// flags.
func newRunCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &runOptions{syncRef: syncRef{flags: flags}, IOStreams: streams, Wait: true}
	cmd := &cobra.Command{
		Use:   "run NAME [--local] [--wait=false] [--timeout DURATION]",
		Short: "Start a run of a sync now",
		Long: `Start a run of the sync NAME now, outside its schedule: a Job made from the CronJob gitsync-NAME, as
"kubectl create job --from=cronjob/gitsync-NAME" makes it (the job template, the annotation
cronjob.kubernetes.io/instantiate=manual, the CronJob as owner), named gitsync-NAME-manual-<random>.

run then follows the Job: progress (Job created, Pod scheduled, running, succeeded or failed, with the
seconds elapsed) on stderr, with a spinner when stderr is a terminal, and the run's log (sync-job's JSON
lines) on stdout as it is written. When the run fails, the message it recorded in the inventory is printed
and run exits 1. --wait=false prints the Job's name and returns at once. If the wait times out or is
interrupted, the Job goes on.

--local runs the same pipeline in this process with your kubeconfig's credentials instead of the sync's
ServiceAccount: useful before the CronJob exists, to debug, or from CI. It takes the sync's Lease like any
run, logs to stderr and prints a summary on stdout; Ctrl-C stops it cleanly (the run records that it was
interrupted and releases the Lease).

A run that finds another run holding the Lease, or the sync suspended (spec.suspend), does nothing and
succeeds. A sync pinned by rollback runs its pinned revision.

Exit status: 0 the run succeeded (or had nothing to do), 1 it failed or did not finish in time, 2 error.`,
		Example: `  # Run web now and follow it
  kubectl gitsync run web

  # From CI after a push: start the run and return
  kubectl gitsync run web -n team-a --wait=false

  # Run in this process with your credentials, for debugging
  kubectl gitsync run web --local`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeSyncNames(flags),
		RunE:              runE(o),
	}
	o.addRunFlags(cmd)
	return cmd
}

// addRunFlags adds the flags run and rollback share.
func (o *runOptions) addRunFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&o.Local, "local", false, "run in this process with your kubeconfig instead of in a Job")
	f.BoolVar(&o.Wait, "wait", true, "follow the Job until it ends, streaming its log; false returns once it is created")
	f.DurationVar(&o.Timeout, "timeout", 0, "how long to wait (default: the Job's activeDeadlineSeconds + 1m, i.e. the sync's timeout plus its Git timeouts plus 3m)")
}

// Complete reads the argument, which flags were given, the namespace and
// the cluster's config.
func (o *runOptions) Complete(cmd *cobra.Command, args []string) error {
	o.timeoutSet = cmd.Flags().Changed("timeout")
	o.toRevisionSet = cmd.Flags().Changed("to-revision")
	return o.complete(cmd, args)
}

// Validate checks the name and the flags.
func (o *runOptions) Validate() error {
	if err := validateSyncName(o.Name); err != nil {
		return err
	}
	switch {
	case o.Timeout < 0:
		return fmt.Errorf("--timeout: must not be negative, not %s", o.Timeout)
	case o.Local && !o.Wait:
		return errors.New("--wait: --local always waits, since the run is this process")
	case !o.Wait && o.timeoutSet:
		return errors.New("--timeout: only when waiting (--wait=false returns at once)")
	}
	return nil
}

// Run starts the run: in a Job, or in this process with Local.
func (o *runOptions) Run(ctx context.Context) error {
	if o.Local {
		return o.runLocal(ctx, "", nil)
	}
	started, err := action.StartRun(ctx, o.cfg, action.StartRunOptions{Ref: o.ref()})
	if errors.Is(err, action.ErrNoCronJob) {
		return fmt.Errorf("CronJob/%s/%s: not found: install the sync (kubectl gitsync install %s), or run it here with --local",
			o.Namespace, names.CronJob(o.Name), o.Name)
	}
	if err != nil {
		return err
	}
	if started.Suspended {
		fmt.Fprintln(o.ErrOut, "Note: the sync's schedule is suspended; this run goes ahead (kubectl gitsync resume "+o.Name+" restarts the schedule)")
	}
	if rev := started.PinnedRevision; rev != "" {
		fmt.Fprintf(o.ErrOut, "Note: the sync is pinned to %s by a rollback: the run applies that revision (kubectl gitsync resume %s follows Git again)\n", rev, o.Name)
	}
	return o.follow(ctx, started)
}

// follow prints the started run's Job and, with Wait, follows it and
// reports how the run ended.
func (o *runOptions) follow(ctx context.Context, started *action.StartedRun) error {
	job := started.Job
	ref := fmt.Sprintf("Job.batch/%s/%s", job.Namespace, job.Name)
	if !o.Wait {
		_, err := fmt.Fprintf(o.Out, "%s created\n", ref)
		return err
	}
	prog := format.NewProgress(o.ErrOut, o.cfg.Now)
	prog.Eventf("%s created", ref)
	stop := prog.Spin()
	res, err := action.WaitRun(ctx, o.cfg, started, action.WaitRunOptions{Timeout: o.Timeout, Logs: o.Out, Progress: prog})
	stop()
	var werr *action.WaitError
	switch {
	case errors.As(err, &werr) && werr.Interrupted:
		return withExitCode(ExitError, fmt.Errorf("%s; the run goes on: kubectl logs -f -n %s job/%s", werr, job.Namespace, job.Name))
	case errors.As(err, &werr):
		return withExitCode(ExitFailed, fmt.Errorf("%s; the run goes on: kubectl logs -f -n %s job/%s", werr, job.Namespace, job.Name))
	case err != nil:
		return err
	}
	return o.report(prog, res)
}

// report prints how a finished Job's run ended and returns ExitFailed when
// it failed.
func (o *runOptions) report(prog *format.Progress, res *action.RunResult) error {
	ref := fmt.Sprintf("Job.batch/%s/%s", res.Job.Namespace, res.Job.Name)
	if res.RecordErr != nil {
		// The Job's own outcome still stands; say why the message is missing.
		prog.Eventf("reading the run's record: %v", res.RecordErr)
	}
	if res.Succeeded {
		if res.Record == nil {
			prog.Eventf("%s succeeded; the run recorded nothing: another run held the Lease, or the sync is suspended (see its log)", ref)
		} else {
			prog.Eventf("%s succeeded: %s", ref, res.Record.Message)
		}
		return nil
	}
	prog.Eventf("%s failed", ref)
	return withExitCode(ExitFailed, fmt.Errorf("sync %s/%s: the run failed: %s", o.Namespace, o.Name, res.Reason))
}

// runLocal runs the sync in this process, pinned to revision unless it is
// empty, and prints a summary. cj, when not nil, is the CronJob whose
// scope the run keeps to. Ctrl-C cancels ctx; the run then records the
// interruption and releases its Lease before returning.
func (o *runOptions) runLocal(ctx context.Context, revision string, cj *batchv1.CronJob) error {
	res, err := action.RunLocal(ctx, o.cfg, action.LocalRunOptions{
		Ref: o.ref(), Revision: revision, CronJob: cj, Timeout: o.Timeout,
		Logger: slog.New(slog.NewTextHandler(o.ErrOut, nil)),
	})
	if err != nil {
		return err
	}
	printSummary(o.Out, res)
	if res.Outcome == syncrun.Failed {
		if ctx.Err() != nil {
			return withExitCode(ExitFailed, fmt.Errorf("sync %s/%s: interrupted (%v): %w", o.Namespace, o.Name, context.Cause(ctx), res.Err))
		}
		return withExitCode(ExitFailed, fmt.Errorf("sync %s/%s: the run failed: %w", o.Namespace, o.Name, res.Err))
	}
	return nil
}

// printSummary prints a local run's result.
func printSummary(w io.Writer, res *syncrun.Result) {
	rows := [][2]string{
		{"result", string(res.Outcome)},
		{"revision", format.OrDash(res.Revision)},
		{"objects", fmt.Sprint(res.Objects)},
		{"changes", format.Counts(res.Counts())},
	}
	if len(res.Drifted) > 0 {
		rows = append(rows, [2]string{"drifted", fmt.Sprint(len(res.Drifted))})
	}
	rows = append(rows, [2]string{"duration", format.Duration(res.End.Sub(res.Start))})
	if res.Outcome == syncrun.Busy {
		// Nothing was done; the message says why. (A success's message
		// repeats the rows above; a failure's is the error.)
		rows = append(rows, [2]string{"message", res.Message})
	}
	for _, r := range rows {
		fmt.Fprintf(w, "%-9s %s\n", r[0]+":", r[1])
	}
}

// rollbackOptions are the options of `kubectl gitsync rollback`.
type rollbackOptions struct {
	// runOptions say how the rollback's run is made; Name and Namespace
	// name the sync.
	runOptions
	// ToRevision is the history number to roll back to (--to-revision).
	// Default 0: the newest succeeded revision other than the one applied
	// now.
	ToRevision int
}

// newRollbackCommand returns the `rollback` command. flags are the root's
// kubeconfig flags.
func newRollbackCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &rollbackOptions{runOptions: runOptions{syncRef: syncRef{flags: flags}, IOStreams: streams, Wait: true}}
	cmd := &cobra.Command{
		Use:   "rollback NAME [--to-revision N]",
		Short: "Apply a revision a sync applied before, and stay on it",
		Long: `Roll the sync NAME back to a revision it applied successfully before, and keep it there.

N is a history number, as "kubectl gitsync history NAME" lists them. Without --to-revision, the newest
succeeded revision other than the one applied now is taken.

rollback then
  1. suspends the schedule (spec.suspend=true on CronJob gitsync-NAME), so that no scheduled run goes back to
     the head of the branch;
  2. pins the CronJob to the revision: the annotation gitsync.io/pinned-revision and the sync-job argument
     --revision=<revision>;
  3. starts a run, as "kubectl gitsync run" does, which fetches and applies exactly that commit (with the
     sync's current spec) and prunes what it does not contain. --local runs it in this process instead.

Runs started later with "kubectl gitsync run" apply the pinned revision too. "kubectl gitsync resume NAME"
removes the pin and resumes the schedule: the sync follows Git again.

Exit status: 0 the rollback run succeeded, 1 it failed (the pin stays), 2 error.`,
		Example: `  # Back to the revision before the current one
  kubectl gitsync rollback web

  # Back to history entry 7, in this process with your credentials
  kubectl gitsync rollback web --to-revision 7 --local

  # Follow Git again
  kubectl gitsync resume web`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeSyncNames(flags),
		RunE:              runE(o),
	}
	o.addRunFlags(cmd)
	cmd.Flags().IntVar(&o.ToRevision, "to-revision", 0, "history number to roll back to (default: the newest succeeded revision before the current one)")
	return cmd
}

// Validate checks the name and the flags.
func (o *rollbackOptions) Validate() error {
	if o.ToRevision < 0 || o.toRevisionSet && o.ToRevision == 0 {
		return fmt.Errorf("--to-revision: must be a history number (1 or more), not %d", o.ToRevision)
	}
	return o.runOptions.Validate()
}

// Run picks the revision, pins the CronJob to it and starts the run.
func (o *rollbackOptions) Run(ctx context.Context) error {
	plan, err := action.PlanRollback(ctx, o.cfg, action.RollbackOptions{Ref: o.ref(), ToRevision: o.ToRevision})
	if err != nil {
		return err
	}
	target := plan.Target
	fmt.Fprintf(o.Out, "sync %s/%s: rolling back to history %d, revision %s (applied %s)\n",
		o.Namespace, o.Name, target.Number, target.Revision, target.Time.UTC().Format(time.RFC3339))
	if plan.SameAsCurrent {
		fmt.Fprintln(o.Out, "  that revision is the one applied now: the rollback keeps the sync on it")
	}

	cj, err := action.Pin(ctx, o.cfg, action.PinOptions{Ref: o.ref(), Revision: target.Revision})
	switch {
	case apierrors.IsNotFound(err) && o.Local:
		fmt.Fprintf(o.Out, "CronJob/%s/%s: not found: there is no schedule to suspend\n", o.Namespace, names.CronJob(o.Name))
	case err != nil:
		return err
	default:
		fmt.Fprintf(o.Out, "CronJob/%s/%s: schedule suspended, pinned to %s\n", cj.Namespace, cj.Name, target.Revision)
	}

	var runErr error
	if o.Local {
		runErr = o.runLocal(ctx, target.Revision, cj)
	} else if started, err := action.StartRun(ctx, o.cfg, action.StartRunOptions{Ref: o.ref(), CronJob: cj}); err != nil {
		runErr = err
	} else {
		runErr = o.follow(ctx, started)
	}
	if runErr != nil {
		if cj != nil {
			fmt.Fprintf(o.Out, "The rollback run did not succeed; the CronJob stays pinned to %s and suspended.\n"+
				"Retry with kubectl gitsync run %s, or return to Git with kubectl gitsync resume %s.\n", target.Revision, o.Name, o.Name)
		}
		return runErr
	}
	if !o.Wait {
		fmt.Fprintf(o.Out, "The rollback run was started; scheduled runs stay suspended. kubectl gitsync resume %s returns to following Git.\n", o.Name)
		return nil
	}
	fmt.Fprintf(o.Out, "sync %s/%s is at %s and stays there: scheduled runs are suspended. kubectl gitsync resume %s returns to following Git.\n",
		o.Namespace, o.Name, target.Revision, o.Name)
	return nil
}
