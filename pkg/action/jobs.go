package action

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/object"
)

// This file follows the Jobs of a sync: which Jobs are its runs, which Pod
// of a Job is the current one, which container is sync-job's, and how a Job
// ended. run, logs and uninstall use it; nothing else looks at Jobs or Pods.

// ownedJobs returns the Jobs controlled by cj, newest first (by creation
// time, then name). They are found by owner reference, not by label, so a
// Job someone labelled like ours is not taken for a run.
func ownedJobs(ctx context.Context, client kubernetes.Interface, cj *batchv1.CronJob) ([]*batchv1.Job, error) {
	list, err := client.BatchV1().Jobs(cj.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("namespace %s: list Jobs: %w", cj.Namespace, err)
	}
	var out []*batchv1.Job
	for i := range list.Items {
		j := &list.Items[i]
		if ref := metav1.GetControllerOf(j); ref != nil && ref.UID == cj.UID {
			out = append(out, j)
		}
	}
	slices.SortFunc(out, func(a, b *batchv1.Job) int {
		if c := b.CreationTimestamp.Compare(a.CreationTimestamp.Time); c != 0 {
			return c
		}
		return strings.Compare(b.Name, a.Name)
	})
	return out, nil
}

// jobOutcome tells whether j has finished (a true Complete or Failed
// condition), whether it succeeded, and, when it failed, the condition's
// reason and message.
func jobOutcome(j *batchv1.Job) (finished, succeeded bool, reason string) {
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return true, true, ""
		case batchv1.JobFailed:
			reason := c.Reason
			if c.Message != "" {
				reason += ": " + c.Message
			}
			return true, false, reason
		}
	}
	return false, false, ""
}

// jobPhase says in one word where an unfinished Job is.
func jobPhase(j *batchv1.Job) string {
	switch {
	case j.Spec.Suspend != nil && *j.Spec.Suspend:
		return "Suspended"
	case j.Status.Ready != nil && *j.Status.Ready > 0:
		return "Running"
	case j.Status.Active > 0:
		return "Starting"
	}
	return "Pending"
}

// jobID names a Job in messages.
func jobID(j *batchv1.Job) object.ID {
	return object.ID{Group: "batch", Kind: "Job", Namespace: j.Namespace, Name: j.Name}
}

// newestPod returns the newest Pod job controls (by creation time, then
// name), nil when it has none yet. Pods are selected by the Job's name label
// and kept only when the Job is their controller, so a Pod of an earlier
// Job of the same name is not taken.
func newestPod(ctx context.Context, client kubernetes.Interface, job *batchv1.Job) (*corev1.Pod, error) {
	sel := labels.SelectorFromSet(labels.Set{batchv1.JobNameLabel: job.Name}).String()
	list, err := client.CoreV1().Pods(job.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("%s: list Pods: %w", jobID(job), err)
	}
	var newest *corev1.Pod
	for i := range list.Items {
		p := &list.Items[i]
		if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != job.UID {
			continue
		}
		if newest == nil || p.CreationTimestamp.After(newest.CreationTimestamp.Time) ||
			p.CreationTimestamp.Equal(&newest.CreationTimestamp) && p.Name > newest.Name {
			newest = p
		}
	}
	return newest, nil
}

// containerStatus returns the status of the sync-job container of pod (see
// install.SyncJobContainer), and its name; nil while the kubelet reports
// none.
func containerStatus(pod *corev1.Pod) (string, *corev1.ContainerStatus) {
	c := install.SyncJobContainer(&pod.Spec)
	if c == nil {
		return "", nil
	}
	for i := range pod.Status.ContainerStatuses {
		if pod.Status.ContainerStatuses[i].Name == c.Name {
			return c.Name, &pod.Status.ContainerStatuses[i]
		}
	}
	return c.Name, nil
}

// jobNameAlphabet has no vowels, so generated names spell no words; the API
// server's generateName uses the same idea.
const jobNameAlphabet = "bcdfghjklmnpqrstvwxz2456789"

// manualJobName returns a fresh name for a manual Job of the CronJob named
// cronJob: <cronJob>-manual-<5 random>, or <cronJob>-m-<5 random> when that
// would exceed 63 characters (the Job controller puts the Job's name into
// a label of its Pods).
func manualJobName(cronJob string) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms.
	for i := range b {
		b[i] = jobNameAlphabet[int(b[i])%len(jobNameAlphabet)]
	}
	name := cronJob + "-manual-" + string(b)
	if len(name) > 63 {
		name = cronJob + "-m-" + string(b)
	}
	return name
}

// createManualJob creates a Job from cj as kubectl create job --from does.
func createManualJob(ctx context.Context, client kubernetes.Interface, cj *batchv1.CronJob) (*batchv1.Job, error) {
	for attempt := 0; ; attempt++ {
		job := install.JobFromCronJob(cj, manualJobName(cj.Name))
		created, err := client.BatchV1().Jobs(cj.Namespace).Create(ctx, job, metav1.CreateOptions{FieldManager: install.FieldManager})
		if apierrors.IsAlreadyExists(err) && attempt < 3 {
			continue // a name collision: draw another suffix
		}
		if err != nil {
			return nil, fmt.Errorf("CronJob/%s/%s: create Job: %w", cj.Namespace, cj.Name, err)
		}
		return created, nil
	}
}

// jobResult is how a followed Job ended.
type jobResult struct {
	job       *batchv1.Job
	succeeded bool
	// reason says why it failed, from the Job's condition or the
	// container's termination.
	reason string
}

// jobWatch follows one Job: progress events, the Pod's log, the outcome.
// Only the goroutine calling wait uses it; the log goes through its own
// goroutine.
type jobWatch struct {
	client kubernetes.Interface
	job    *batchv1.Job
	logs   io.Writer
	prog   Progress

	pod        string
	said       map[string]bool // events reported, so that each is reported once
	streamDone chan error      // non-nil once the log stream started
	termReason string
}

// pollInterval is how often the Job and its Pod are read.
const pollInterval = time.Second

// logDrainTimeout bounds the wait for the log stream once the Job ended.
const logDrainTimeout = 10 * time.Second

// wait follows the Job until it has a Complete or Failed condition and the
// log stream ended, or ctx ends.
func (w *jobWatch) wait(ctx context.Context) (*jobResult, error) {
	w.said = map[string]bool{}
	poll := time.NewTicker(pollInterval)
	defer poll.Stop()
	for {
		res, err := w.poll(ctx)
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case err != nil && (apierrors.IsNotFound(err) || apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err)):
			return nil, err
		case err != nil:
			// A hiccup of the API server must not end a wait of minutes:
			// say so and read again; the timeout bounds the retries.
			w.once("poll error "+err.Error(), fmt.Sprintf("%v (retrying)", err))
		}
		if res != nil {
			w.prog.Status("")
			if w.streamDone != nil {
				// The container has ended, so the stream ends as soon as
				// the kubelet sent the rest of the log; a kubelet that
				// does not answer must not hold the result back.
				select {
				case err := <-w.streamDone:
					if err != nil && ctx.Err() == nil {
						w.prog.Event(fmt.Sprintf("reading the log: %v", err))
					}
				case <-time.After(logDrainTimeout):
					w.prog.Event(fmt.Sprintf("the log did not end within %s of the Job; it may be incomplete", logDrainTimeout))
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			return res, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-poll.C:
		}
	}
}

// once reports an event the first time key is seen.
func (w *jobWatch) once(key, msg string) {
	if w.said[key] {
		return
	}
	w.said[key] = true
	w.prog.Event(msg)
}

// poll reads the Job and its Pod, reports what changed, starts the log
// stream when the container runs, and returns the result once the Job
// finished.
func (w *jobWatch) poll(ctx context.Context) (*jobResult, error) {
	job, err := w.client.BatchV1().Jobs(w.job.Namespace).Get(ctx, w.job.Name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", jobID(w.job), err)
	}
	w.job = job
	pod, err := newestPod(ctx, w.client, job)
	if err != nil {
		return nil, err
	}
	if pod == nil {
		w.prog.Status("waiting for the Job's Pod")
		w.jobEvents(ctx)
	} else {
		w.observe(ctx, pod)
	}
	finished, succeeded, reason := jobOutcome(job)
	if !finished {
		return nil, nil
	}
	if !succeeded && w.termReason != "" {
		reason = w.termReason
	}
	return &jobResult{job: job, succeeded: succeeded, reason: reason}, nil
}

// jobEvents reports the Job's Warning events, once each: why no Pod shows
// up (FailedCreate: a missing ServiceAccount, a quota, Pod Security).
// Events are a hint: a user without rights on them still gets the rest.
func (w *jobWatch) jobEvents(ctx context.Context) {
	evs, err := w.client.CoreV1().Events(w.job.Namespace).List(ctx, metav1.ListOptions{
		FieldSelector: fields.Set{"involvedObject.uid": string(w.job.UID)}.String(),
	})
	if err != nil {
		return
	}
	for _, ev := range evs.Items {
		if ev.Type == corev1.EventTypeWarning {
			w.once("event "+ev.Reason+ev.Message, fmt.Sprintf("Job: %s: %s", ev.Reason, ev.Message))
		}
	}
}

// observe reports the progress of pod and starts its log stream.
func (w *jobWatch) observe(ctx context.Context, pod *corev1.Pod) {
	if pod.Name != w.pod {
		w.pod = pod.Name
		w.prog.Event(fmt.Sprintf("Pod %s created", pod.Name))
	}
	if pod.Spec.NodeName == "" {
		w.prog.Status("waiting for the Pod to be scheduled")
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason != "" {
				w.once("unscheduled "+c.Message, fmt.Sprintf("Pod not scheduled: %s: %s", c.Reason, c.Message))
			}
		}
		return
	}
	w.once("scheduled "+pod.Name, "Pod scheduled on node "+pod.Spec.NodeName)
	container, st := containerStatus(pod)
	switch {
	case st == nil:
		w.prog.Status("waiting for the container to start")
	case st.State.Waiting != nil:
		wt := st.State.Waiting
		w.prog.Status("waiting for the container to start (" + wt.Reason + ")")
		if wt.Reason != "ContainerCreating" && wt.Reason != "PodInitializing" {
			w.once("waiting "+wt.Reason+wt.Message, fmt.Sprintf("%s waiting: %s: %s", container, wt.Reason, wt.Message))
		}
	case st.State.Running != nil:
		w.once("running "+pod.Name, "Pod running; its log follows on stdout")
		w.prog.Status("") // the log is the progress now
		w.stream(ctx, pod.Name, container)
	case st.State.Terminated != nil:
		t := st.State.Terminated
		w.stream(ctx, pod.Name, container)
		w.once("terminated "+pod.Name, fmt.Sprintf("%s exited with code %d (%s)", container, t.ExitCode, t.Reason))
		if t.ExitCode != 0 {
			w.termReason = fmt.Sprintf("%s exited with code %d (%s)", container, t.ExitCode, t.Reason)
			if msg := strings.TrimSpace(t.Message); msg != "" {
				w.termReason += ": " + lastLine(msg)
			}
		}
		w.prog.Status("waiting for the Job to finish")
	}
}

// stream starts copying the container's log to w.logs, following it,
// unless it already started. Opening is retried for a few seconds while
// the API server answers Bad Request (the container is not ready to serve
// its log yet); other errors end the stream at once.
func (w *jobWatch) stream(ctx context.Context, pod, container string) {
	if w.streamDone != nil {
		return
	}
	done := make(chan error, 1)
	w.streamDone = done
	req := w.client.CoreV1().Pods(w.job.Namespace).GetLogs(pod, &corev1.PodLogOptions{Container: container, Follow: true})
	go func() {
		var (
			rc  io.ReadCloser
			err error
		)
		for attempt := 0; attempt < 5; attempt++ {
			rc, err = req.Stream(ctx)
			if err == nil || !apierrors.IsBadRequest(err) || ctx.Err() != nil {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
		if err != nil {
			done <- err
			return
		}
		defer rc.Close()
		_, err = io.Copy(w.logs, rc)
		done <- err
	}()
}

// lastLine returns the last non-empty line of s: a failed sync-job's
// termination message is the tail of its log.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
