package action

import (
	"context"
	"fmt"
	"io"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/object"
)

// logsPollInterval is how often a follow looks for a Pod to appear or
// start.
const logsPollInterval = time.Second

// NoRunError is the error of FindRunLog for a sync that has no run whose
// log is kept.
type NoRunError struct{ msg string }

func (e *NoRunError) Error() string { return e.msg }

// LogOptions say which run's log FindRunLog finds.
type LogOptions struct {
	// Ref names the sync.
	Ref
	// Job picks the run (a Job of the sync's CronJob, or one labelled as
	// the sync's). Default: the newest Job of the CronJob.
	Job string
	// Follow waits for the Job's Pod to start; without it a Pod that is
	// missing or not started is an error. Default false.
	Follow bool
	// Progress is told, while following, why the log is not there yet.
	// Default none.
	Progress Progress
}

// RunLog is the log of one run: where it is.
type RunLog struct {
	// Job is the run.
	Job *batchv1.Job
	// Pod is the Job's newest Pod, whose container has started.
	Pod *corev1.Pod
	// Container is the sync-job container.
	Container string
}

// FindRunLog finds the Pod whose log is the run's, waiting for it to start
// with Follow. It returns nil when ctx ends while waiting. A sync that has
// not run, or whose Jobs are gone, is a *NoRunError.
func FindRunLog(ctx context.Context, cfg *Config, opts LogOptions) (*RunLog, error) {
	s, err := GetSync(ctx, cfg, opts.Ref)
	if err != nil {
		return nil, err
	}
	job, err := pickJob(ctx, cfg, s, opts.Job)
	if err != nil {
		return nil, err
	}
	prog := progressOr(opts.Progress)
	said := ""
	for {
		pod, why, err := startedPod(ctx, cfg, job)
		if err != nil {
			return nil, err
		}
		if why == "" {
			container := install.ContainerName
			if c := install.SyncJobContainer(&pod.Spec); c != nil {
				container = c.Name
			}
			return &RunLog{Job: job, Pod: pod, Container: container}, nil
		}
		if !opts.Follow {
			return nil, fmt.Errorf("%s: %s (use --follow to wait)", object.ID{Kind: "Job", Namespace: job.Namespace, Name: job.Name}, why)
		}
		if why != said {
			prog.Status(why)
			said = why
		}
		select {
		case <-ctx.Done():
			return nil, nil
		case <-time.After(logsPollInterval):
		}
	}
}

// StreamLog copies the run's log to out, following it until the run ends
// when follow is set. A ctx that ends is not an error.
func StreamLog(ctx context.Context, cfg *Config, log *RunLog, follow bool, out io.Writer) error {
	id := object.ID{Kind: "Pod", Namespace: log.Pod.Namespace, Name: log.Pod.Name}
	stream, err := cfg.Client.CoreV1().Pods(log.Pod.Namespace).GetLogs(log.Pod.Name, &corev1.PodLogOptions{
		Container: log.Container,
		Follow:    follow,
	}).Stream(ctx)
	if err != nil {
		return fmt.Errorf("%s: log: %w", id, err)
	}
	defer stream.Close()
	if _, err := io.Copy(out, stream); err != nil && ctx.Err() == nil {
		return fmt.Errorf("%s: log: %w", id, err)
	}
	return nil
}

// pickJob returns the Job named job, which must belong to the sync, or
// the newest Job of the sync's CronJob.
func pickJob(ctx context.Context, cfg *Config, s *Sync, job string) (*batchv1.Job, error) {
	if job != "" {
		j, err := cfg.Client.BatchV1().Jobs(s.Namespace).Get(ctx, job, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("--job: Job/%s/%s: %w", s.Namespace, job, err)
		}
		ref := metav1.GetControllerOf(j)
		ours := s.CronJob != nil && ref != nil && ref.UID == s.CronJob.UID
		if !ours && j.Labels[names.LabelSync] != s.Name {
			return nil, fmt.Errorf("--job: Job/%s/%s is not a run of sync %s", s.Namespace, job, s.Name)
		}
		return j, nil
	}
	if s.CronJob == nil {
		return nil, fmt.Errorf("CronJob/%s/%s: not found: sync %s is not installed", s.Namespace, names.CronJob(s.Name), s.Name)
	}
	jobs, err := ownedJobs(ctx, cfg.Client, s.CronJob)
	if err != nil {
		return nil, err
	}
	if len(jobs) == 0 {
		msg := fmt.Sprintf("sync %s has not run yet: CronJob %s has no Jobs", s.Ref, s.CronJob.Name)
		if s.Record().LastRun.Result != "" {
			msg = fmt.Sprintf("sync %s has no run whose log is kept: CronJob %s has no Jobs left (see kubectl gitsync history %s)",
				s.Ref, s.CronJob.Name, s.Name)
		}
		return nil, &NoRunError{msg: fmt.Sprintf("%s; kubectl gitsync run %s starts one", msg, s.Name)}
	}
	return jobs[0], nil
}

// startedPod returns job's newest Pod once its container has started (or
// the Pod finished: whatever log there is, the API server returns, or says
// why not; waiting would never end), or why there is none with a log yet.
func startedPod(ctx context.Context, cfg *Config, job *batchv1.Job) (*corev1.Pod, string, error) {
	pod, err := newestPod(ctx, cfg.Client, job)
	if err != nil {
		return nil, "", err
	}
	if pod == nil {
		return nil, "it has no Pod yet", nil
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return pod, "", nil
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.State.Running != nil || cs.State.Terminated != nil {
			return pod, "", nil
		}
	}
	why := fmt.Sprintf("Pod %s has not started (%s", pod.Name, pod.Status.Phase)
	for _, cs := range pod.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			why += ": " + w.Reason
			break
		}
	}
	return pod, why + ")", nil
}
