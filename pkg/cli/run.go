package cli

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/gitsync/gitsync/pkg/apply"
	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/object"
	"github.com/gitsync/gitsync/pkg/spec"
	"github.com/gitsync/gitsync/pkg/syncrun"
)

// AnnotationPinnedRevision, on a sync's CronJob, holds the revision a
// rollback pinned the sync to. The pin is three changes to the CronJob,
// which `resume` undoes together: this annotation, spec.suspend=true, and
// the argument RevisionArg+<revision> on the sync-job container.
const AnnotationPinnedRevision = "gitsync.io/pinned-revision"

// RevisionArg is the sync-job argument, followed by the revision, that pins
// a run to a recorded revision.
const RevisionArg = "--revision="

// waitMargin is added to a run's own deadline to get the default --timeout:
// time for the Job controller to notice the deadline and for the log to
// drain.
const waitMargin = time.Minute

// RunOptions are the options of `kubectl gitsync run`.
type RunOptions struct {
	// Name is the sync; Namespace its namespace (--namespace, else the
	// kubeconfig context's).
	Name, Namespace string
	// Local runs the sync in this process with the user's credentials
	// instead of in a Job. Default false.
	Local bool
	// Wait follows the Job until it ends, streaming its log. Default true.
	Wait bool
	// Timeout bounds the wait (and, with Local, the run). Default: the
	// Job's activeDeadlineSeconds plus waitMargin, else the spec's timeout
	// plus waitMargin; with Local, none beyond the run's own.
	Timeout time.Duration

	configFlags *genericclioptions.ConfigFlags
	client      kubernetes.Interface
	config      *rest.Config
	// timeoutSet and toRevisionSet record which flags were given, for
	// Validate.
	timeoutSet, toRevisionSet bool
	genericiooptions.IOStreams
}

// NewRunCommand returns the `run` command. flags are the root's kubeconfig
// flags.
func NewRunCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &RunOptions{configFlags: flags, IOStreams: streams, Wait: true}
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
		ValidArgsFunction: CompleteSyncNames(flags),
		RunE:              runE(o),
	}
	o.addRunFlags(cmd)
	return cmd
}

// addRunFlags adds the flags run and rollback share.
func (o *RunOptions) addRunFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&o.Local, "local", false, "run in this process with your kubeconfig instead of in a Job")
	f.BoolVar(&o.Wait, "wait", true, "follow the Job until it ends, streaming its log; false returns once it is created")
	f.DurationVar(&o.Timeout, "timeout", 0, "how long to wait (default: the Job's activeDeadlineSeconds + 1m, i.e. the sync's timeout plus its Git timeouts plus 3m)")
}

// Complete reads the argument, which flags were given, the namespace and
// the cluster's config.
func (o *RunOptions) Complete(cmd *cobra.Command, args []string) error {
	o.Name = args[0]
	o.timeoutSet = cmd.Flags().Changed("timeout")
	o.toRevisionSet = cmd.Flags().Changed("to-revision")
	ns, err := SyncNamespace(o.configFlags)
	if err != nil {
		return err
	}
	o.Namespace = ns
	o.client, o.config, err = KubeClient(o.configFlags)
	return err
}

// Validate checks the name and the flags.
func (o *RunOptions) Validate() error {
	if err := ValidateSyncName(o.Name); err != nil {
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
func (o *RunOptions) Run(ctx context.Context) error {
	if o.Local {
		cj, err := getCronJob(ctx, o.client, o.Namespace, o.Name)
		if err != nil {
			return err
		}
		return o.runLocal(ctx, "", namespaceScoped(cj))
	}
	info, err := GetSync(ctx, o.client, o.Namespace, o.Name)
	if err != nil {
		return err
	}
	if info.CronJob == nil {
		return fmt.Errorf("CronJob/%s/%s: not found: install the sync (kubectl gitsync install %s), or run it here with --local",
			o.Namespace, names.CronJob(o.Name), o.Name)
	}
	var notes []string
	if info.Spec != nil && info.Spec.Spec.Suspend {
		notes = append(notes, "the sync's schedule is suspended; this run goes ahead (kubectl gitsync resume "+o.Name+" restarts the schedule)")
	}
	if rev := info.CronJob.Annotations[AnnotationPinnedRevision]; rev != "" {
		notes = append(notes, fmt.Sprintf("the sync is pinned to %s by a rollback: the run applies that revision (kubectl gitsync resume %s follows Git again)", rev, o.Name))
	}
	for _, n := range notes {
		fmt.Fprintln(o.ErrOut, "Note:", n)
	}
	return o.runJob(ctx, info.CronJob, info.Spec)
}

// runJob creates a Job from cj and, with Wait, follows it and reports how
// the run ended.
func (o *RunOptions) runJob(ctx context.Context, cj *batchv1.CronJob, s *spec.Sync) error {
	job, err := createManualJob(ctx, o.client, cj)
	if err != nil {
		return err
	}
	ref := fmt.Sprintf("Job.batch/%s/%s", job.Namespace, job.Name)
	if !o.Wait {
		_, err := fmt.Fprintf(o.Out, "%s created\n", ref)
		return err
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = defaultWait(job, s)
	}
	prog := newProgress(o.ErrOut, clockFrom(ctx))
	prog.event("%s created", ref)
	deadline := time.Now().Add(timeout)
	wctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	w := &jobWatch{client: o.client, job: job, logs: o.Out, prog: prog}
	res, err := w.wait(wctx)
	prog.clear()
	switch {
	case err != nil && ctx.Err() != nil:
		return WithExitCode(ExitError, fmt.Errorf("%s: stopped waiting (%v); the run goes on: kubectl logs -f -n %s job/%s",
			ref, context.Cause(ctx), job.Namespace, job.Name))
	case err != nil && (wctx.Err() != nil || time.Until(deadline) < pollInterval):
		// client-go's rate limiter fails a request that could not finish
		// before the deadline without waiting for it: a timeout too.
		return WithExitCode(ExitFailed, fmt.Errorf("%s: not finished after %s; the run goes on: kubectl logs -f -n %s job/%s",
			ref, timeout, job.Namespace, job.Name))
	case err != nil:
		return err
	}
	return o.report(ctx, prog, res)
}

// defaultWait is the default --timeout for job: its activeDeadlineSeconds
// (past which the Job controller stops it) plus waitMargin; a CronJob
// edited to have none falls back to the spec's timeout plus waitMargin.
func defaultWait(job *batchv1.Job, s *spec.Sync) time.Duration {
	if d := job.Spec.ActiveDeadlineSeconds; d != nil && *d > 0 {
		return time.Duration(*d)*time.Second + waitMargin
	}
	t := spec.DefaultTimeout
	if s != nil && s.Spec.Timeout != nil {
		t = s.Spec.Timeout.Duration
	}
	return t + waitMargin
}

// report prints how a finished Job's run ended, from the record the run
// wrote in the inventory, and returns ExitFailed when it failed.
func (o *RunOptions) report(ctx context.Context, prog *progress, res *jobResult) error {
	ref := fmt.Sprintf("Job.batch/%s/%s", res.job.Namespace, res.job.Name)
	rec, err := recordedRun(ctx, o.client, o.Namespace, o.Name, res.job.CreationTimestamp.Time)
	if err != nil {
		// The Job's own outcome still stands; say why the message is missing.
		prog.event("reading the run's record: %v", err)
	}
	if res.succeeded && (rec == nil || rec.Result != inventory.ResultFailed) {
		if rec == nil {
			prog.event("%s succeeded; the run recorded nothing: another run held the Lease, or the sync is suspended (see its log)", ref)
		} else {
			prog.event("%s succeeded: %s", ref, rec.Message)
		}
		return nil
	}
	msg := res.reason
	if rec != nil && rec.Result == inventory.ResultFailed && rec.Message != "" {
		msg = rec.Message
	}
	prog.event("%s failed", ref)
	return WithExitCode(ExitFailed, fmt.Errorf("sync %s/%s: the run failed: %s", o.Namespace, o.Name, msg))
}

// recordedRun returns the last run the inventory records if it started
// after since (less a second of clock skew between the API server and the
// node), nil otherwise.
func recordedRun(ctx context.Context, client kubernetes.Interface, namespace, name string, since time.Time) (*inventory.Run, error) {
	inv, err := (&inventory.Store{Client: client, Namespace: namespace, Sync: name}).Load(ctx)
	if err != nil {
		return nil, err
	}
	run := inv.Record.LastRun
	if run.Start.IsZero() || run.Start.Before(since.Add(-time.Second)) {
		return nil, nil
	}
	return &run, nil
}

// getCronJob returns the sync's CronJob, or nil when it does not exist or
// the user may not read it: a local run, diff or build then go without its
// settings.
func getCronJob(ctx context.Context, client kubernetes.Interface, namespace, name string) (*batchv1.CronJob, error) {
	cj, err := client.BatchV1().CronJobs(namespace).Get(ctx, names.CronJob(name), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) || apierrors.IsForbidden(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("CronJob/%s/%s: %w", namespace, names.CronJob(name), err)
	}
	return cj, nil
}

// namespaceScoped tells whether cj runs sync-job with --scope namespace (a
// namespaced install), so that a local run, diff and build keep to the
// same limits as the sync's own runs.
func namespaceScoped(cj *batchv1.CronJob) bool {
	if cj == nil {
		return false
	}
	c := syncJobContainer(&cj.Spec.JobTemplate.Spec.Template.Spec)
	if c == nil {
		return false
	}
	scope := string(install.RBACNamespace)
	for i, a := range c.Args {
		if a == "--scope="+scope || a == "--scope" && i+1 < len(c.Args) && c.Args[i+1] == scope {
			return true
		}
	}
	return false
}

// runLocal runs the sync in this process, pinned to revision unless it is
// empty, and prints a summary. Ctrl-C cancels ctx; the run then records
// the interruption and releases its Lease before returning. scoped limits
// the run as sync-job's --scope namespace does.
func (o *RunOptions) runLocal(ctx context.Context, revision string, scoped bool) error {
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	logger := slog.New(slog.NewTextHandler(o.ErrOut, nil))
	res, err := syncrun.Run(ctx, syncrun.Options{
		Name: o.Name, Namespace: o.Namespace, Config: o.config, Logger: logger, Revision: revision,
		NamespaceScoped: scoped,
	})
	if err != nil {
		return fmt.Errorf("sync %s/%s: %w", o.Namespace, o.Name, err)
	}
	printSummary(o.Out, res)
	if res.Outcome == syncrun.Failed {
		if ctx.Err() != nil {
			return WithExitCode(ExitFailed, fmt.Errorf("sync %s/%s: interrupted (%v): %w", o.Namespace, o.Name, context.Cause(ctx), res.Err))
		}
		return WithExitCode(ExitFailed, fmt.Errorf("sync %s/%s: the run failed: %w", o.Namespace, o.Name, res.Err))
	}
	return nil
}

// printSummary prints a local run's result.
func printSummary(w io.Writer, res *syncrun.Result) {
	counts := map[string]int{}
	for _, cs := range []*apply.ChangeSet{res.Applied, res.Pruned} {
		if cs == nil {
			continue
		}
		for a, n := range cs.Counts() {
			counts[strings.ToLower(string(a))] += n
		}
	}
	rows := [][2]string{
		{"result", string(res.Outcome)},
		{"revision", cellOrDash(res.Revision)},
		{"objects", fmt.Sprint(res.Objects)},
		{"changes", FormatCounts(counts)},
	}
	if len(res.Drifted) > 0 {
		rows = append(rows, [2]string{"drifted", fmt.Sprint(len(res.Drifted))})
	}
	rows = append(rows, [2]string{"duration", HumanDuration(res.End.Sub(res.Start))})
	if res.Outcome == syncrun.Busy {
		// Nothing was done; the message says why. (A success's message
		// repeats the rows above; a failure's is the error.)
		rows = append(rows, [2]string{"message", res.Message})
	}
	for _, r := range rows {
		fmt.Fprintf(w, "%-9s %s\n", r[0]+":", r[1])
	}
}

// ---- the Job ----

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

// jobResult is how a Job ended.
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
	prog   *progress

	pod        string
	said       map[string]bool // events printed, so that each is printed once
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
	var spin <-chan time.Time
	if w.prog.tty {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		spin = t.C
	}
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
			w.once("poll error "+err.Error(), "%v (retrying)", err)
		}
		if res != nil {
			w.prog.status("")
			if w.streamDone != nil {
				// The container has ended, so the stream ends as soon as
				// the kubelet sent the rest of the log; a kubelet that
				// does not answer must not hold the result back.
				select {
				case err := <-w.streamDone:
					if err != nil && ctx.Err() == nil {
						w.prog.event("reading the log: %v", err)
					}
				case <-time.After(logDrainTimeout):
					w.prog.event("the log did not end within %s of the Job; it may be incomplete", logDrainTimeout)
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			return res, nil
		}
		for waiting := true; waiting; {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-spin:
				w.prog.tick()
			case <-poll.C:
				waiting = false
			}
		}
	}
}

// once prints an event the first time key is seen.
func (w *jobWatch) once(key, format string, args ...any) {
	if w.said[key] {
		return
	}
	w.said[key] = true
	w.prog.event(format, args...)
}

// poll reads the Job and its Pod, prints what changed, starts the log
// stream when the container runs, and returns the result once the Job
// finished.
func (w *jobWatch) poll(ctx context.Context) (*jobResult, error) {
	ns := w.job.Namespace
	job, err := w.client.BatchV1().Jobs(ns).Get(ctx, w.job.Name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", object.ID{Group: "batch", Kind: "Job", Namespace: ns, Name: w.job.Name}, err)
	}
	w.job = job
	pods, err := w.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{
		LabelSelector: batchv1.ControllerUidLabel + "=" + string(job.UID),
	})
	if err != nil {
		return nil, fmt.Errorf("%s: list Pods: %w", object.ID{Group: "batch", Kind: "Job", Namespace: ns, Name: job.Name}, err)
	}
	if len(pods.Items) == 0 {
		w.prog.status("waiting for the Job's Pod")
		if err := w.jobEvents(ctx); err != nil {
			return nil, err
		}
	} else {
		newest := slices.MaxFunc(pods.Items, func(a, b corev1.Pod) int {
			return a.CreationTimestamp.Compare(b.CreationTimestamp.Time)
		})
		w.observe(ctx, &newest)
	}
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return &jobResult{job: job, succeeded: true}, nil
		case batchv1.JobFailed:
			reason := c.Reason
			if c.Message != "" {
				reason += ": " + c.Message
			}
			if w.termReason != "" {
				reason = w.termReason
			}
			return &jobResult{job: job, reason: reason}, nil
		}
	}
	return nil, nil
}

// jobEvents prints the Job's Warning events, once each: why no Pod shows up
// (FailedCreate: a missing ServiceAccount, a quota, Pod Security).
func (w *jobWatch) jobEvents(ctx context.Context) error {
	evs, err := w.client.CoreV1().Events(w.job.Namespace).List(ctx, metav1.ListOptions{
		FieldSelector: fields.Set{"involvedObject.uid": string(w.job.UID)}.String(),
	})
	if err != nil {
		return nil // events are a hint; a user without rights on them still gets the rest
	}
	for _, ev := range evs.Items {
		if ev.Type == corev1.EventTypeWarning {
			w.once("event "+ev.Reason+ev.Message, "Job: %s: %s", ev.Reason, ev.Message)
		}
	}
	return nil
}

// observe prints the progress of pod and starts its log stream.
func (w *jobWatch) observe(ctx context.Context, pod *corev1.Pod) {
	if pod.Name != w.pod {
		w.pod = pod.Name
		w.prog.event("Pod %s created", pod.Name)
	}
	if pod.Spec.NodeName == "" {
		w.prog.status("waiting for the Pod to be scheduled")
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason != "" {
				w.once("unscheduled "+c.Message, "Pod not scheduled: %s: %s", c.Reason, c.Message)
			}
		}
		return
	}
	w.once("scheduled "+pod.Name, "Pod scheduled on node %s", pod.Spec.NodeName)
	container := install.ContainerName
	if !slices.ContainsFunc(pod.Spec.Containers, func(c corev1.Container) bool { return c.Name == container }) && len(pod.Spec.Containers) > 0 {
		container = pod.Spec.Containers[0].Name
	}
	var st *corev1.ContainerStatus
	for i := range pod.Status.ContainerStatuses {
		if pod.Status.ContainerStatuses[i].Name == container {
			st = &pod.Status.ContainerStatuses[i]
		}
	}
	switch {
	case st == nil:
		w.prog.status("waiting for the container to start")
	case st.State.Waiting != nil:
		wt := st.State.Waiting
		w.prog.status("waiting for the container to start (" + wt.Reason + ")")
		if wt.Reason != "ContainerCreating" && wt.Reason != "PodInitializing" {
			w.once("waiting "+wt.Reason+wt.Message, "%s waiting: %s: %s", container, wt.Reason, wt.Message)
		}
	case st.State.Running != nil:
		w.once("running "+pod.Name, "Pod running; its log follows on stdout")
		w.prog.status("") // the log is the progress now
		w.stream(ctx, pod.Name, container)
	case st.State.Terminated != nil:
		t := st.State.Terminated
		w.stream(ctx, pod.Name, container)
		w.once("terminated "+pod.Name, "%s exited with code %d (%s)", container, t.ExitCode, t.Reason)
		if t.ExitCode != 0 {
			w.termReason = fmt.Sprintf("%s exited with code %d (%s)", container, t.ExitCode, t.Reason)
			if msg := strings.TrimSpace(t.Message); msg != "" {
				w.termReason += ": " + lastLine(msg)
			}
		}
		w.prog.status("waiting for the Job to finish")
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

// ---- progress ----

// spinnerFrames animate the status line on a terminal, one rune a frame.
const spinnerFrames = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

// progress prints events ("[  3s] Pod scheduled on node n1") and, on a
// terminal, a spinner line with the current status below them.
type progress struct {
	w     io.Writer
	tty   bool
	now   func() time.Time
	start time.Time

	current string // the status the spinner shows; "" hides it
	frame   int
	shown   bool // the spinner line is on the screen
}

func newProgress(w io.Writer, now func() time.Time) *progress {
	return &progress{w: w, tty: isTerminal(w), now: now, start: now()}
}

// isTerminal tells whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

func (p *progress) elapsed() int { return int(p.now().Sub(p.start).Round(time.Second) / time.Second) }

// event prints one line of progress.
func (p *progress) event(format string, args ...any) {
	p.clear()
	fmt.Fprintf(p.w, "[%3ds] %s\n", p.elapsed(), fmt.Sprintf(format, args...))
	p.draw()
}

// status sets what the spinner shows; "" removes it.
func (p *progress) status(s string) {
	if s == p.current {
		return
	}
	p.current = s
	p.clear()
	p.draw()
}

// tick advances the spinner.
func (p *progress) tick() {
	p.frame++
	p.clear()
	p.draw()
}

func (p *progress) draw() {
	if !p.tty || p.current == "" {
		return
	}
	frames := []rune(spinnerFrames)
	fmt.Fprintf(p.w, "%c %s (%ds)", frames[p.frame%len(frames)], p.current, p.elapsed())
	p.shown = true
}

// clear removes the spinner line, so the next output starts on a clean
// line.
func (p *progress) clear() {
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
}

// ---- rollback ----

// RollbackOptions are the options of `kubectl gitsync rollback`.
type RollbackOptions struct {
	// RunOptions say how the rollback's run is made; Name and Namespace
	// name the sync.
	RunOptions
	// ToRevision is the history number to roll back to (--to-revision).
	// Default 0: the newest succeeded revision other than the one applied
	// now.
	ToRevision int
}

// NewRollbackCommand returns the `rollback` command. flags are the root's
// kubeconfig flags.
func NewRollbackCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &RollbackOptions{RunOptions: RunOptions{configFlags: flags, IOStreams: streams, Wait: true}}
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
		ValidArgsFunction: CompleteSyncNames(flags),
		RunE:              runE(o),
	}
	o.addRunFlags(cmd)
	cmd.Flags().IntVar(&o.ToRevision, "to-revision", 0, "history number to roll back to (default: the newest succeeded revision before the current one)")
	return cmd
}

// Validate checks the name and the flags.
func (o *RollbackOptions) Validate() error {
	if o.ToRevision < 0 || o.toRevisionSet && o.ToRevision == 0 {
		return fmt.Errorf("--to-revision: must be a history number (1 or more), not %d", o.ToRevision)
	}
	return o.RunOptions.Validate()
}

// Run picks the revision, pins the CronJob to it and starts the run.
func (o *RollbackOptions) Run(ctx context.Context) error {
	store := &inventory.Store{Client: o.client, Namespace: o.Namespace, Sync: o.Name}
	inv, err := store.Load(ctx)
	if err != nil {
		return err
	}
	hist, err := store.ListHistory(ctx)
	if err != nil {
		return err
	}
	current := inv.Record.LastAppliedRevision
	target, err := pickRollback(hist, current, o.ToRevision)
	if err != nil {
		return fmt.Errorf("sync %s/%s: %w", o.Namespace, o.Name, err)
	}
	fmt.Fprintf(o.Out, "sync %s/%s: rolling back to history %d, revision %s (applied %s)\n",
		o.Namespace, o.Name, target.Number, target.Revision, target.Time.UTC().Format(time.RFC3339))
	if sameCommit(target.Revision, current) {
		fmt.Fprintln(o.Out, "  that revision is the one applied now: the rollback keeps the sync on it")
	}

	cj, err := pinCronJob(ctx, o.client, o.Namespace, names.CronJob(o.Name), target.Revision)
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
		runErr = o.runLocal(ctx, target.Revision, namespaceScoped(cj))
	} else {
		s, _ := readSpec(ctx, o.client, o.Namespace, o.Name)
		runErr = o.runJob(ctx, cj, s)
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

// readSpec reads and parses the spec of the sync; nil when it cannot.
func readSpec(ctx context.Context, client kubernetes.Interface, namespace, name string) (*spec.Sync, error) {
	cm, err := client.CoreV1().ConfigMaps(namespace).Get(ctx, spec.ConfigMapName(name), metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return spec.Parse([]byte(cm.Data[spec.ConfigMapKey]))
}

// pickRollback returns the history entry to roll back to: number to, or
// with to == 0 the newest succeeded entry whose revision is not current.
// hist is newest first.
func pickRollback(hist []inventory.History, current string, to int) (inventory.History, error) {
	if to > 0 {
		for _, h := range hist {
			if h.Number != to {
				continue
			}
			switch {
			case h.Result == inventory.ResultFailed:
				return h, fmt.Errorf("--to-revision: history %d is a run that failed (%s); roll back to one that succeeded", to, OneLine(h.Message, 120))
			case h.Result != inventory.ResultSucceeded:
				return h, fmt.Errorf("--to-revision: history %d does not record a success (result %q)", to, h.Result)
			case h.Revision == "":
				return h, fmt.Errorf("--to-revision: history %d records no revision", to)
			}
			return h, nil
		}
		numbers := make([]string, 0, len(hist))
		for _, h := range hist {
			numbers = append(numbers, fmt.Sprint(h.Number))
		}
		if len(numbers) == 0 {
			return inventory.History{}, fmt.Errorf("--to-revision: no history %d: the sync has no history yet", to)
		}
		return inventory.History{}, fmt.Errorf("--to-revision: no history %d; the sync keeps %s", to, strings.Join(numbers, ", "))
	}
	for _, h := range hist {
		if h.Result == inventory.ResultSucceeded && h.Revision != "" && !sameCommit(h.Revision, current) {
			return h, nil
		}
	}
	return inventory.History{}, fmt.Errorf("no succeeded revision other than the current one (%s) in the history to roll back to", cellOrDash(current))
}

// sameCommit tells whether two recorded revisions name the same commit:
// "main@sha1:X" (a run following the branch) and "sha1:X" (a run pinned to
// X) do.
func sameCommit(a, b string) bool {
	i, j := strings.LastIndex(a, "sha1:"), strings.LastIndex(b, "sha1:")
	if i >= 0 && j >= 0 {
		return a[i:] == b[j:]
	}
	return a == b
}

// pinCronJob suspends the CronJob and pins it to revision: the annotation
// AnnotationPinnedRevision and RevisionArg on the sync-job container, in
// place of an earlier pin. It updates with the read resourceVersion and
// retries on conflicts, so a concurrent change is never overwritten.
func pinCronJob(ctx context.Context, client kubernetes.Interface, namespace, name, revision string) (*batchv1.CronJob, error) {
	var out *batchv1.CronJob
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cj, err := client.BatchV1().CronJobs(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		c := syncJobContainer(&cj.Spec.JobTemplate.Spec.Template.Spec)
		if c == nil {
			return fmt.Errorf("CronJob/%s/%s: no container %s in the job template", namespace, name, install.ContainerName)
		}
		c.Args = pinArgs(c.Args, revision)
		cj.Spec.Suspend = ptr.To(true)
		if cj.Annotations == nil {
			cj.Annotations = map[string]string{}
		}
		cj.Annotations[AnnotationPinnedRevision] = revision
		out, err = client.BatchV1().CronJobs(namespace).Update(ctx, cj, metav1.UpdateOptions{FieldManager: install.FieldManager})
		return err
	})
	if err != nil && !apierrors.IsNotFound(err) {
		err = fmt.Errorf("CronJob/%s/%s: pin: %w", namespace, name, err)
	}
	return out, err
}

// syncJobContainer returns the sync-job container of pod: the one named
// install.ContainerName, else the only one.
func syncJobContainer(pod *corev1.PodSpec) *corev1.Container {
	for i := range pod.Containers {
		if pod.Containers[i].Name == install.ContainerName {
			return &pod.Containers[i]
		}
	}
	if len(pod.Containers) == 1 {
		return &pod.Containers[0]
	}
	return nil
}

// pinArgs returns args with any --revision argument (either form) replaced
// by RevisionArg+revision at the end.
func pinArgs(args []string, revision string) []string {
	out := make([]string, 0, len(args)+1)
	for i := 0; i < len(args); i++ {
		switch {
		case args[i] == "--revision":
			i++ // and its value
		case strings.HasPrefix(args[i], RevisionArg):
		default:
			out = append(out, args[i])
		}
	}
	return append(out, RevisionArg+revision)
}
