package action

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/jobargs"
	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/spec"
	"github.com/gitsync/gitsync/pkg/syncrun"
)

// WaitMargin is added to a run's own deadline to get the default wait: time
// for the Job controller to notice the deadline and for the log to drain.
const WaitMargin = time.Minute

// ErrNoCronJob matches (errors.Is) the error of StartRun for a sync that
// has no CronJob to make a Job from.
var ErrNoCronJob = errors.New("no CronJob")

// StartRunOptions say which sync StartRun starts.
type StartRunOptions struct {
	// Ref names the sync.
	Ref
	// CronJob is the CronJob to make the Job from, as rollback just pinned
	// it. Default: read gitsync-NAME.
	CronJob *batchv1.CronJob
}

// StartedRun is a run started in a Job.
type StartedRun struct {
	// Ref names the sync.
	Ref
	// Job is the Job created.
	Job *batchv1.Job
	// Spec is the sync's spec, nil when it cannot be read; it gives the
	// default wait when the Job has no deadline.
	Spec *spec.Sync
	// Suspended tells that the sync's schedule is suspended; the run goes
	// ahead anyway.
	Suspended bool
	// PinnedRevision is the revision a rollback pinned the sync to, which
	// the run applies; "" when not pinned.
	PinnedRevision string
}

// StartRun starts a run of the sync now, outside its schedule: a Job made
// from its CronJob as `kubectl create job --from=cronjob/...` makes it,
// named gitsync-NAME-manual-<random>. A sync without a CronJob is an error
// matching ErrNoCronJob.
func StartRun(ctx context.Context, cfg *Config, opts StartRunOptions) (*StartedRun, error) {
	out := &StartedRun{Ref: opts.Ref}
	cj := opts.CronJob
	if cj == nil {
		s, err := GetSync(ctx, cfg, opts.Ref)
		if err != nil {
			return nil, err
		}
		if s.CronJob == nil {
			return nil, fmt.Errorf("CronJob/%s/%s: %w", opts.Namespace, names.CronJob(opts.Name), ErrNoCronJob)
		}
		cj, out.Spec = s.CronJob, s.Spec
		out.Suspended = s.Spec != nil && s.Spec.Spec.Suspend
		out.PinnedRevision = s.PinnedRevision()
	} else if cm, err := spec.GetConfigMap(ctx, cfg.Client, opts.Namespace, opts.Name); err == nil {
		out.Spec, _ = spec.FromConfigMap(cm)
	}
	job, err := createManualJob(ctx, cfg.Client, cj)
	if err != nil {
		return nil, err
	}
	out.Job = job
	return out, nil
}

// DefaultWait is how long to wait for run by default: its Job's
// activeDeadlineSeconds (past which the Job controller stops it) plus
// WaitMargin; a CronJob edited to have none falls back to the spec's timeout
// plus WaitMargin.
func DefaultWait(run *StartedRun) time.Duration {
	if d := run.Job.Spec.ActiveDeadlineSeconds; d != nil && *d > 0 {
		return time.Duration(*d)*time.Second + WaitMargin
	}
	t := spec.DefaultTimeout
	if run.Spec != nil && run.Spec.Spec.Timeout != nil {
		t = run.Spec.Spec.Timeout.Duration
	}
	return t + WaitMargin
}

// WaitRunOptions say how WaitRun follows a run.
type WaitRunOptions struct {
	// Timeout bounds the wait. Default DefaultWait(run).
	Timeout time.Duration
	// Logs receives the run's log (sync-job's JSON lines) as it is
	// written. Default: discarded.
	Logs io.Writer
	// Progress is told what happens to the Job and its Pod. Default none.
	Progress Progress
}

// RunResult is how a run in a Job ended.
type RunResult struct {
	// Job is the Job as it finished.
	Job *batchv1.Job
	// Succeeded tells whether the run succeeded: the Job completed and the
	// run did not record a failure.
	Succeeded bool
	// Reason says why the run failed: the message the run recorded, else
	// the Job's or the container's.
	Reason string
	// Record is what the run recorded in the inventory; nil when it
	// recorded nothing (another run held the Lease), or RecordErr says why
	// it could not be read.
	Record *inventory.Run
	// RecordErr is why Record could not be read; the Job's outcome stands.
	RecordErr error
}

// WaitError is the error of WaitRun when the run did not finish in time, or
// the wait was interrupted; the run goes on.
type WaitError struct {
	// Job is the Job waited for.
	Job *batchv1.Job
	// Timeout is the wait's bound.
	Timeout time.Duration
	// Interrupted is true when the caller's context ended, false when the
	// timeout passed.
	Interrupted bool
	// Err is the context's cause.
	Err error
}

func (e *WaitError) Error() string {
	if e.Interrupted {
		return fmt.Sprintf("%s: stopped waiting (%v)", jobID(e.Job), e.Err)
	}
	return fmt.Sprintf("%s: not finished after %s", jobID(e.Job), e.Timeout)
}

func (e *WaitError) Unwrap() error { return e.Err }

// WaitRun follows a started run until its Job ends: progress to
// opts.Progress, the log to opts.Logs. It then reads what the run recorded
// and returns how it ended. A run that does not end within the timeout, or
// a ctx that ends first, gives a *WaitError.
func WaitRun(ctx context.Context, cfg *Config, run *StartedRun, opts WaitRunOptions) (*RunResult, error) {
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultWait(run)
	}
	logs := opts.Logs
	if logs == nil {
		logs = io.Discard
	}
	prog := progressOr(opts.Progress)
	deadline := time.Now().Add(timeout)
	wctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	w := &jobWatch{client: cfg.Client, job: run.Job, logs: logs, prog: prog}
	res, err := w.wait(wctx)
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, &WaitError{Job: run.Job, Timeout: timeout, Interrupted: true, Err: context.Cause(ctx)}
	case err != nil && (wctx.Err() != nil || time.Until(deadline) < pollInterval):
		// client-go's rate limiter fails a request that could not finish
		// before the deadline without waiting for it: a timeout too.
		return nil, &WaitError{Job: run.Job, Timeout: timeout, Err: err}
	case err != nil:
		return nil, err
	}
	out := &RunResult{Job: res.job}
	out.Record, out.RecordErr = recordedRun(ctx, cfg, run.Ref, res.job.CreationTimestamp.Time)
	failedRecord := out.Record != nil && out.Record.Result == inventory.ResultFailed
	out.Succeeded = res.succeeded && !failedRecord
	if !out.Succeeded {
		out.Reason = res.reason
		if failedRecord && out.Record.Message != "" {
			out.Reason = out.Record.Message
		}
	}
	return out, nil
}

// recordedRun returns the last run the inventory records if it started
// after since (less a second of clock skew between the API server and the
// node), nil otherwise.
func recordedRun(ctx context.Context, cfg *Config, ref Ref, since time.Time) (*inventory.Run, error) {
	inv, err := (&inventory.Store{Client: cfg.Client, Namespace: ref.Namespace, Sync: ref.Name}).Load(ctx)
	if err != nil {
		return nil, err
	}
	run := inv.Record.LastRun
	if run.Start.IsZero() || run.Start.Before(since.Add(-time.Second)) {
		return nil, nil
	}
	return &run, nil
}

// LocalRunOptions say what RunLocal runs.
type LocalRunOptions struct {
	// Ref names the sync.
	Ref
	// Revision pins the run to a recorded revision. Default: follow the
	// spec's ref (a local run does not read the CronJob's pin).
	Revision string
	// CronJob gives the run's scope (its sync-job arguments), so that a
	// local run keeps to the limits of the sync's own runs. Default: read
	// gitsync-NAME; without one (or without the right to read it) the run
	// has cluster scope.
	CronJob *batchv1.CronJob
	// Timeout bounds the run. Default: only the run's own bounds.
	Timeout time.Duration
	// Logger receives the run's log. Default: discarded.
	Logger *slog.Logger
}

// RunLocal runs the sync in this process with cfg's credentials: the same
// pipeline as sync-job, Lease included. When ctx ends the run records that
// it was interrupted and releases its Lease before returning. The error is
// for a run that could not start; one that started and failed returns a
// Result with Outcome syncrun.Failed.
func RunLocal(ctx context.Context, cfg *Config, opts LocalRunOptions) (*syncrun.Result, error) {
	args, err := cronJobArgs(ctx, cfg, opts.Ref, opts.CronJob)
	if err != nil {
		return nil, err
	}
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	res, err := syncrun.Run(ctx, syncrun.Options{
		Name: opts.Name, Namespace: opts.Namespace, Config: cfg.REST, Logger: opts.Logger, Revision: opts.Revision,
		NamespaceScoped: args.NamespaceScoped(),
	})
	if err != nil {
		return nil, fmt.Errorf("sync %s: %w", opts.Ref, err)
	}
	return res, nil
}

// cronJobArgs returns the sync-job arguments of cj, or of the sync's
// CronJob when cj is nil. A missing CronJob, or one the user may not read,
// gives none: a local run, diff or build then go without its settings.
func cronJobArgs(ctx context.Context, cfg *Config, ref Ref, cj *batchv1.CronJob) (jobargs.Args, error) {
	if cj == nil {
		got, err := cfg.Client.BatchV1().CronJobs(ref.Namespace).Get(ctx, names.CronJob(ref.Name), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err) || apierrors.IsForbidden(err):
			return jobargs.Args{}, nil
		case err != nil:
			return jobargs.Args{}, fmt.Errorf("CronJob/%s/%s: %w", ref.Namespace, names.CronJob(ref.Name), err)
		}
		cj = got
	}
	return jobArgsOf(cj)
}

// jobArgsOf reads the sync-job arguments of cj's container; none for a nil
// cj.
func jobArgsOf(cj *batchv1.CronJob) (jobargs.Args, error) {
	if cj == nil {
		return jobargs.Args{}, nil
	}
	c := install.SyncJobContainer(&cj.Spec.JobTemplate.Spec.Template.Spec)
	if c == nil {
		return jobargs.Args{}, fmt.Errorf("CronJob/%s/%s: no container %s in the job template", cj.Namespace, cj.Name, install.ContainerName)
	}
	a, err := jobargs.Parse(c.Args)
	if err != nil {
		return jobargs.Args{}, fmt.Errorf("CronJob/%s/%s: container %s: %w", cj.Namespace, cj.Name, c.Name, err)
	}
	return a, nil
}
