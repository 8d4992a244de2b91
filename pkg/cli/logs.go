package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/object"
	"github.com/gitsync/gitsync/pkg/spec"
)

// logsPollInterval is how often logs --follow looks for a Pod to appear or
// start.
const logsPollInterval = time.Second

// LogsOptions are the options of `kubectl gitsync logs`; the embedded
// syncRef names the sync.
type LogsOptions struct {
	// Job picks the run (a Job of the sync's CronJob) whose log is shown.
	// Default: the newest.
	Job string
	// Follow streams the log until the run ends, waiting for its Pod to
	// start if needed.
	Follow bool

	syncRef

	genericiooptions.IOStreams
}

// NewLogsCommand returns the `logs` command.
func NewLogsCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &LogsOptions{syncRef: syncRef{flags: flags}, IOStreams: streams}
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
		ValidArgsFunction: CompleteSyncNames(flags),
		RunE:              runE(o),
	}
	cmd.Flags().StringVar(&o.Job, "job", "", "the Job (run) to show; default the newest")
	cmd.Flags().BoolVarP(&o.Follow, "follow", "f", false, "stream the log until the run ends")
	return cmd
}

// Complete reads the argument and the namespace and builds the client.
func (o *LogsOptions) Complete(cmd *cobra.Command, args []string) error {
	return o.complete(cmd, args)
}

// Validate checks the argument.
func (o *LogsOptions) Validate() error {
	return ValidateSyncName(o.Name)
}

// Run prints the log.
func (o *LogsOptions) Run(ctx context.Context) error {
	s, err := GetSync(ctx, o.client, o.Namespace, o.Name)
	if err != nil {
		return err
	}
	job, err := o.pickJob(ctx, s)
	if err != nil {
		return err
	}
	pod, err := o.waitForPod(ctx, job)
	if err != nil {
		return err
	}
	if pod == nil {
		return nil // interrupted while waiting
	}
	container := install.ContainerName
	if len(pod.Spec.Containers) == 1 {
		container = pod.Spec.Containers[0].Name
	}
	started := "-"
	if job.Status.StartTime != nil {
		started = HumanAge(o.now(), job.Status.StartTime.Time) + " ago"
	}
	fmt.Fprintf(o.ErrOut, "Job %s (started %s), Pod %s (%s):\n", job.Name, started, pod.Name, pod.Status.Phase)
	stream, err := o.client.CoreV1().Pods(o.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{
		Container: container,
		Follow:    o.Follow,
	}).Stream(ctx)
	if err != nil {
		return fmt.Errorf("%s: log: %w", object.ID{Kind: "Pod", Namespace: o.Namespace, Name: pod.Name}, err)
	}
	defer stream.Close()
	if _, err := io.Copy(o.Out, stream); err != nil && ctx.Err() == nil {
		return fmt.Errorf("%s: log: %w", object.ID{Kind: "Pod", Namespace: o.Namespace, Name: pod.Name}, err)
	}
	return nil
}

// pickJob returns the Job --job names, which must belong to the sync, or
// the newest Job of the sync's CronJob.
func (o *LogsOptions) pickJob(ctx context.Context, s *SyncInfo) (*batchv1.Job, error) {
	if o.Job != "" {
		job, err := o.client.BatchV1().Jobs(o.Namespace).Get(ctx, o.Job, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("--job: Job/%s/%s: %w", o.Namespace, o.Job, err)
		}
		ref := metav1.GetControllerOf(job)
		ours := s.CronJob != nil && ref != nil && ref.UID == s.CronJob.UID
		if !ours && job.Labels[inventory.LabelSync] != o.Name {
			return nil, fmt.Errorf("--job: Job/%s/%s is not a run of sync %s", o.Namespace, o.Job, o.Name)
		}
		return job, nil
	}
	if s.CronJob == nil {
		return nil, fmt.Errorf("CronJob/%s/%s: not found: sync %s is not installed", o.Namespace, spec.ConfigMapName(o.Name), o.Name)
	}
	jobs, err := ownedJobs(ctx, o.client, s)
	if err != nil {
		return nil, err
	}
	if len(jobs) == 0 {
		msg := fmt.Sprintf("sync %s/%s has not run yet: CronJob %s has no Jobs", o.Namespace, o.Name, s.CronJob.Name)
		if s.Record().LastRun.Result != "" {
			msg = fmt.Sprintf("sync %s/%s has no run whose log is kept: CronJob %s has no Jobs left (see kubectl gitsync history %s)",
				o.Namespace, o.Name, s.CronJob.Name, o.Name)
		}
		return nil, WithExitCode(ExitFailed, fmt.Errorf("%s; kubectl gitsync run %s starts one", msg, o.Name))
	}
	return jobs[0], nil
}

// waitForPod returns the newest Pod of job once its container has started.
// Without --follow a Pod that is missing or not started is an error; with
// it, waitForPod waits (and returns nil if ctx ends first).
func (o *LogsOptions) waitForPod(ctx context.Context, job *batchv1.Job) (*corev1.Pod, error) {
	said := ""
	for {
		pod, why, err := o.newestPod(ctx, job)
		if err != nil {
			return nil, err
		}
		if why == "" {
			return pod, nil
		}
		if !o.Follow {
			return nil, fmt.Errorf("%s: %s (use --follow to wait)", object.ID{Kind: "Job", Namespace: o.Namespace, Name: job.Name}, why)
		}
		if why != said {
			fmt.Fprintf(o.ErrOut, "waiting: %s\n", why)
			said = why
		}
		select {
		case <-ctx.Done():
			return nil, nil
		case <-time.After(logsPollInterval):
		}
	}
}

// newestPod returns job's newest Pod, or why there is none with a log yet.
func (o *LogsOptions) newestPod(ctx context.Context, job *batchv1.Job) (*corev1.Pod, string, error) {
	sel := labels.SelectorFromSet(labels.Set{batchv1.JobNameLabel: job.Name}).String()
	list, err := o.client.CoreV1().Pods(o.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, "", fmt.Errorf("%s: list Pods: %w", object.ID{Kind: "Job", Namespace: o.Namespace, Name: job.Name}, err)
	}
	var pods []*corev1.Pod
	for i := range list.Items {
		p := &list.Items[i]
		if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == job.UID {
			pods = append(pods, p)
		}
	}
	if len(pods) == 0 {
		return nil, "it has no Pod yet", nil
	}
	slices.SortFunc(pods, func(a, b *corev1.Pod) int {
		if c := b.CreationTimestamp.Compare(a.CreationTimestamp.Time); c != 0 {
			return c
		}
		return strings.Compare(b.Name, a.Name)
	})
	pod := pods[0]
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		// Finished: whatever log there is, the API server returns (or says
		// why not); waiting would never end.
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
