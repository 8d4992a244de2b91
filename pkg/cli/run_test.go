package cli

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/utils/ptr"

	"github.com/gitsync/gitsync/pkg/action"
	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/spec"
	"github.com/gitsync/gitsync/tests/gitserver"
)

// ---- a sync on the test cluster, fed by a real Git server ----

// pipelineFixture is one sync ("app") in its own namespace, with its own
// Git repository; its spec renders ./deploy.
type pipelineFixture struct {
	t    *testing.T
	ns   string
	name string
	git  *gitserver.Server
	repo *gitserver.Repo
}

func newPipelineFixture(t *testing.T) *pipelineFixture {
	t.Helper()
	git, repo := gitserver.StartTestRepo(t, gitserver.Options{}, "app")
	return &pipelineFixture{t: t, ns: env.NewNamespace(t), name: "app", git: git, repo: repo}
}

func (f *pipelineFixture) commit(files map[string]string) string {
	f.t.Helper()
	sha, err := f.repo.Commit(f.t.Context(), "update", files)
	if err != nil {
		f.t.Fatal(err)
	}
	return sha
}

func (f *pipelineFixture) remove(paths ...string) {
	f.t.Helper()
	if _, err := f.repo.Remove(f.t.Context(), "remove", paths...); err != nil {
		f.t.Fatal(err)
	}
}

// specDoc returns the Sync document; extra is YAML indented under spec:.
func (f *pipelineFixture) specDoc(extra string) string {
	return fmt.Sprintf(`apiVersion: gitsync.io/v1alpha1
kind: Sync
metadata:
  name: %s
  namespace: %s
spec:
  source:
    git:
      url: %s
      insecure: true
      ref:
        branch: main
  path: ./deploy
%s`, f.name, f.ns, f.git.HTTPURL("app"), extra)
}

// installSpec writes the spec ConfigMap gitsync-app, as install would.
func (f *pipelineFixture) installSpec(extra string) *spec.Sync {
	f.t.Helper()
	doc := f.specDoc(extra)
	s, err := spec.Parse([]byte(doc))
	if err != nil {
		f.t.Fatalf("test spec does not parse: %v\n%s", err, doc)
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: spec.ConfigMapName(f.name), Namespace: f.ns},
		Data:       map[string]string{spec.ConfigMapKey: doc},
	}
	cms := env.Client().CoreV1().ConfigMaps(f.ns)
	if _, err := cms.Create(f.t.Context(), cm, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
		_, err = cms.Update(f.t.Context(), cm, metav1.UpdateOptions{})
		must(f.t, err)
	} else {
		must(f.t, err)
	}
	return s
}

// installCronJob creates the ServiceAccount and CronJob install generates
// for s (suspended, so that the CronJob controller starts nothing).
func (f *pipelineFixture) installCronJob(s *spec.Sync) *batchv1.CronJob {
	f.t.Helper()
	objs, err := install.Generate(s, install.Options{Image: "example.com/gitsync/sync-job:v0.0.0"})
	must(f.t, err)
	c := env.Client()
	_, err = c.CoreV1().ServiceAccounts(f.ns).Create(f.t.Context(), objs.ServiceAccount, metav1.CreateOptions{})
	must(f.t, err)
	objs.CronJob.Spec.Suspend = ptr.To(true)
	cj, err := c.BatchV1().CronJobs(f.ns).Create(f.t.Context(), objs.CronJob, metav1.CreateOptions{})
	must(f.t, err)
	return cj
}

// cli runs kubectl-gitsync with the admin kubeconfig in the fixture's
// namespace and returns stdout and stderr apart.
func (f *pipelineFixture) cli(ctx context.Context, args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	cmd := NewRootCommand(genericiooptions.IOStreams{In: &bytes.Buffer{}, Out: &out, ErrOut: &errOut})
	cmd.SetArgs(append(args, "--kubeconfig", env.KubeconfigPath(), "-n", f.ns))
	err := cmd.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

func (f *pipelineFixture) configMap(name string) *corev1.ConfigMap {
	f.t.Helper()
	cm, err := env.Client().CoreV1().ConfigMaps(f.ns).Get(f.t.Context(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatalf("ConfigMap %s: %v", name, err)
	}
	return cm
}

func (f *pipelineFixture) absent(name string) {
	f.t.Helper()
	_, err := env.Client().CoreV1().ConfigMaps(f.ns).Get(f.t.Context(), name, metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		f.t.Errorf("ConfigMap %s: want NotFound, got %v", name, err)
	}
}

// normalize replaces what differs between test runs (the namespace, and
// the ApplySet id derived from it) so that output can be compared with a
// golden file.
func (f *pipelineFixture) normalize(s string) string {
	id := inventory.ApplySetID(inventory.InventoryName(f.name), f.ns)
	return strings.ReplaceAll(strings.ReplaceAll(s, id, "APPLYSET-ID"), f.ns, "NAMESPACE")
}

func configMapYAML(name, value string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\ndata:\n  value: %q\n", name, value)
}

func wantExit(t *testing.T, err error, code int, contains string) {
	t.Helper()
	if got := ExitCode(err); got != code {
		t.Fatalf("exit code %d (error %v), want %d", got, err, code)
	}
	if contains != "" && (err == nil || !strings.Contains(err.Error(), contains)) {
		t.Fatalf("error %v, want it to contain %q", err, contains)
	}
}

// ---- run --local ----

func TestRunLocal(t *testing.T) {
	f := newPipelineFixture(t)
	sha := f.commit(map[string]string{"deploy/a.yaml": configMapYAML("a", "1"), "deploy/b.yaml": configMapYAML("b", "1")})
	f.installSpec("")

	out, logs, err := f.cli(t.Context(), "run", "app", "--local")
	wantExit(t, err, ExitOK, "")
	for _, want := range []string{
		"result:   Succeeded\n",
		"revision: main@sha1:" + sha + "\n",
		"objects:  2\n",
		"changes:  created 2\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(logs, "level=INFO") || !strings.Contains(logs, "sync="+f.ns+"/app") {
		t.Errorf("stderr is not the run's text log:\n%s", logs)
	}
	if got := f.configMap("a").Data["value"]; got != "1" {
		t.Errorf("a.value = %q, want 1", got)
	}
	f.configMap("b")

	t.Run("a failing render exits 1 with its message", func(t *testing.T) {
		f.commit(map[string]string{"deploy/bad.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: [\n"})
		out, _, err := f.cli(t.Context(), "run", "app", "--local")
		wantExit(t, err, ExitFailed, "bad.yaml")
		if !strings.Contains(out, "result:   Failed\n") {
			t.Errorf("summary:\n%s", out)
		}
		if !strings.Contains(err.Error(), "the run failed: render:") {
			t.Errorf("error %q does not say the render failed", err)
		}
	})
	t.Run("a missing sync is an error", func(t *testing.T) {
		_, _, err := f.cli(t.Context(), "run", "nosuch", "--local")
		wantExit(t, err, ExitError, "no such sync")
	})
	t.Run("flags", func(t *testing.T) {
		_, _, err := f.cli(t.Context(), "run", "app", "--local", "--wait=false")
		wantExit(t, err, ExitError, "--wait: --local always waits")
		_, _, err = f.cli(t.Context(), "run", "app", "--wait=false", "--timeout=1m")
		wantExit(t, err, ExitError, "--timeout: only when waiting")
		_, _, err = f.cli(t.Context(), "run", "Not_A_Name")
		wantExit(t, err, ExitError, "not a sync name")
	})
}

// ---- run in a Job ----

// The control plane has no node, so the Job's Pod never runs by itself:
// these tests check the Job as created, and drive the Pod's status by hand
// to check how run follows a Job to its end. Log streaming from a real
// kubelet is covered by the end-to-end tests.

func TestRunCreatesJobFromCronJob(t *testing.T) {
	f := newPipelineFixture(t)
	s := f.installSpec("")
	cj := f.installCronJob(s)

	out, _, err := f.cli(t.Context(), "run", "app", "--wait=false")
	wantExit(t, err, ExitOK, "")
	m := regexp.MustCompile(`^Job\.batch/` + f.ns + `/(gitsync-app-manual-[bcdfghjklmnpqrstvwxz2456789]{5}) created\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("output %q does not name the Job", out)
	}
	job, err := env.Client().BatchV1().Jobs(f.ns).Get(t.Context(), m[1], metav1.GetOptions{})
	must(t, err)
	if got := job.Annotations[install.AnnotationInstantiate]; got != "manual" {
		t.Errorf("annotation %s = %q, want manual", install.AnnotationInstantiate, got)
	}
	wantOwner := []metav1.OwnerReference{{
		APIVersion: "batch/v1", Kind: "CronJob", Name: cj.Name, UID: cj.UID,
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
	}}
	if diff := cmp.Diff(wantOwner, job.OwnerReferences); diff != "" {
		t.Errorf("ownerReferences (-want +got):\n%s", diff)
	}
	for k, v := range cj.Spec.JobTemplate.Labels {
		if job.Labels[k] != v {
			t.Errorf("label %s = %q, want %q from the job template", k, job.Labels[k], v)
		}
	}
	tmpl := cj.Spec.JobTemplate.Spec
	if diff := cmp.Diff(tmpl.Template.Spec, job.Spec.Template.Spec); diff != "" {
		t.Errorf("pod spec differs from the CronJob's template (-cronjob +job):\n%s", diff)
	}
	if diff := cmp.Diff(tmpl.ActiveDeadlineSeconds, job.Spec.ActiveDeadlineSeconds); diff != "" || job.Spec.ActiveDeadlineSeconds == nil {
		t.Errorf("activeDeadlineSeconds (-cronjob +job):\n%s", diff)
	}
	if diff := cmp.Diff(tmpl.BackoffLimit, job.Spec.BackoffLimit); diff != "" {
		t.Errorf("backoffLimit (-cronjob +job):\n%s", diff)
	}

	t.Run("without a CronJob", func(t *testing.T) {
		g := newPipelineFixture(t)
		g.installSpec("")
		_, _, err := g.cli(t.Context(), "run", "app", "--wait=false")
		wantExit(t, err, ExitError, "CronJob/"+g.ns+"/gitsync-app: not found")
	})
}

// jobPod waits for the Pod of the only Job in ns and returns both.
func jobPod(t *testing.T, ns string) (*batchv1.Job, *corev1.Pod) {
	t.Helper()
	var job *batchv1.Job
	var pod *corev1.Pod
	err := env.WaitFor(t.Context(), func(ctx context.Context) (bool, error) {
		jobs, err := env.Client().BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(jobs.Items) == 0 {
			return false, err
		}
		job = &jobs.Items[0]
		pods, err := env.Client().CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: batchv1.ControllerUidLabel + "=" + string(job.UID)})
		if err != nil || len(pods.Items) == 0 {
			return false, err
		}
		pod = &pods.Items[0]
		return true, nil
	})
	if err != nil {
		t.Fatalf("waiting for the Job's Pod: %v", err)
	}
	return job, pod
}

// finishPod plays the kubelet: binds the Pod to a node and reports its
// sync-job container terminated with exitCode.
func finishPod(t *testing.T, pod *corev1.Pod, exitCode int32, message string) {
	t.Helper()
	ctx, c := t.Context(), env.Client()
	must(t, c.CoreV1().Pods(pod.Namespace).Bind(ctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace},
		Target:     corev1.ObjectReference{Kind: "Node", Name: "ghost"},
	}, metav1.CreateOptions{}))
	p, err := c.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
	must(t, err)
	now := metav1.Now()
	phase, reason := corev1.PodSucceeded, "Completed"
	if exitCode != 0 {
		phase, reason = corev1.PodFailed, "Error"
	}
	p.Status.Phase = phase
	p.Status.StartTime = &now
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now}}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: install.ContainerName, Image: p.Spec.Containers[0].Image, ImageID: "sha256:0",
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: exitCode, Reason: reason, Message: message, StartedAt: now, FinishedAt: now,
		}},
	}}
	_, err = c.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	must(t, err)
}

// recordRun writes a last run into the sync's inventory, as sync-job does.
func recordRun(t *testing.T, ns, name string, result inventory.Result, message string) {
	t.Helper()
	store := &inventory.Store{Client: env.Client(), Namespace: ns, Sync: name}
	inv, err := store.Load(t.Context())
	must(t, err)
	run := inventory.Run{Revision: "main@sha1:" + strings.Repeat("ab", 20), Start: time.Now(), End: time.Now(), Message: message}
	if result == inventory.ResultSucceeded {
		inv.Record.Succeed(run)
	} else {
		inv.Record.Fail(run)
	}
	must(t, store.Save(t.Context(), inv))
}

func TestRunFollowsJobToItsEnd(t *testing.T) {
	tests := []struct {
		name       string
		exitCode   int32
		record     inventory.Result
		message    string
		wantCode   int
		wantErr    string
		wantEvents []string
	}{
		{
			name: "succeeded", exitCode: 0, record: inventory.ResultSucceeded, message: "revision main@sha1:abab: 2 objects (2 created)",
			wantCode: ExitOK,
			wantEvents: []string{`Pod gitsync-app-manual-\w+-\w+ created`, `Pod scheduled on node ghost`, `sync-job exited with code 0 \(Completed\)`,
				`reading the log: `, `Job\.batch/NAMESPACE/gitsync-app-manual-\w+ succeeded: revision main@sha1:abab: 2 objects \(2 created\)`},
		},
		{
			name: "failed", exitCode: 1, record: inventory.ResultFailed, message: "render: deploy/bad.yaml: yaml: line 3: did not find expected node content",
			wantCode: ExitFailed, wantErr: "sync NAMESPACE/app: the run failed: render: deploy/bad.yaml: yaml: line 3",
			wantEvents: []string{`sync-job exited with code 1 \(Error\)`, `Job\.batch/NAMESPACE/gitsync-app-manual-\w+ failed`},
		},
		{
			name: "failed without a record", exitCode: 3, message: "sync-job: ConfigMap/x/gitsync-app: spec.path: invalid\n",
			wantCode: ExitFailed, wantErr: "the run failed: sync-job exited with code 3 (Error): sync-job: ConfigMap/x/gitsync-app: spec.path: invalid",
			wantEvents: []string{`sync-job exited with code 3 \(Error\)`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newPipelineFixture(t)
			s := f.installSpec("")
			f.installCronJob(s)

			type result struct {
				out, errOut string
				err         error
			}
			done := make(chan result, 1)
			go func() {
				out, errOut, err := f.cli(t.Context(), "run", "app", "--timeout=1m")
				done <- result{out, errOut, err}
			}()
			_, pod := jobPod(t, f.ns)
			if tt.record != "" {
				recordRun(t, f.ns, f.name, tt.record, tt.message)
			}
			finishPod(t, pod, tt.exitCode, tt.message)
			var r result
			select {
			case r = <-done:
			case <-time.After(time.Minute):
				t.Fatal("run did not return within a minute of the Pod's end")
			}
			errOut := f.normalize(r.errOut)
			wantExit(t, r.err, tt.wantCode, "")
			if tt.wantErr != "" && !strings.Contains(f.normalize(r.err.Error()), tt.wantErr) {
				t.Errorf("error %q, want it to contain %q", f.normalize(r.err.Error()), tt.wantErr)
			}
			events := []string{`^\[  0s\] Job\.batch/NAMESPACE/gitsync-app-manual-\w+ created$`}
			for _, e := range tt.wantEvents {
				events = append(events, `^\[ *\d+s\] `+e)
			}
			for _, e := range events {
				if !regexp.MustCompile(`(?m)` + e).MatchString(errOut) {
					t.Errorf("progress lacks %s:\n%s", e, errOut)
				}
			}
			if strings.Contains(errOut, "\r") || strings.Contains(errOut, "\033") {
				t.Errorf("progress to a non-terminal has terminal controls: %q", errOut)
			}
		})
	}
}

func TestRunWaitTimesOut(t *testing.T) {
	f := newPipelineFixture(t)
	f.installCronJob(f.installSpec(""))
	start := time.Now()
	_, errOut, err := f.cli(t.Context(), "run", "app", "--timeout=3s")
	wantExit(t, err, ExitFailed, "not finished after 3s; the run goes on")
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("run returned after %s, want about 3s", d)
	}
	if !regexp.MustCompile(`(?m)^\[ *\ds\] Pod gitsync-app-manual-\w+-\w+ created$`).MatchString(errOut) {
		t.Errorf("progress does not show the Pod:\n%s", errOut)
	}
}

// ---- rollback ----

func TestRollbackLocal(t *testing.T) {
	f := newPipelineFixture(t)
	sha1 := f.commit(map[string]string{"deploy/a.yaml": configMapYAML("a", "1")})
	s := f.installSpec("")
	_, _, err := f.cli(t.Context(), "run", "app", "--local")
	wantExit(t, err, ExitOK, "")
	sha2 := f.commit(map[string]string{"deploy/a.yaml": configMapYAML("a", "2"), "deploy/b.yaml": configMapYAML("b", "2")})
	_, _, err = f.cli(t.Context(), "run", "app", "--local")
	wantExit(t, err, ExitOK, "")
	f.configMap("b")
	cj := f.installCronJob(s)
	cj.Spec.Suspend = ptr.To(false)
	_, err = env.Client().BatchV1().CronJobs(f.ns).Update(t.Context(), cj, metav1.UpdateOptions{})
	must(t, err)

	checkPinned := func(t *testing.T, revision string) {
		t.Helper()
		cj, err := env.Client().BatchV1().CronJobs(f.ns).Get(t.Context(), "gitsync-app", metav1.GetOptions{})
		must(t, err)
		if cj.Spec.Suspend == nil || !*cj.Spec.Suspend {
			t.Error("the CronJob is not suspended")
		}
		if got := cj.Annotations[action.AnnotationPinnedRevision]; got != revision {
			t.Errorf("annotation %s = %q, want %q", action.AnnotationPinnedRevision, got, revision)
		}
		args := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args
		var pins []string
		for _, a := range args {
			if strings.HasPrefix(a, "--revision") {
				pins = append(pins, a)
			}
		}
		if diff := cmp.Diff([]string{"--revision=" + revision}, pins); diff != "" {
			t.Errorf("sync-job args %q: --revision (-want +got):\n%s", args, diff)
		}
		if !slices.Contains(args, "--sync") {
			t.Errorf("sync-job args %q lost --sync", args)
		}
	}

	out, _, err := f.cli(t.Context(), "rollback", "app", "--local", "--to-revision", "1")
	wantExit(t, err, ExitOK, "")
	rev1 := "main@sha1:" + sha1
	if got := f.configMap("a").Data["value"]; got != "1" {
		t.Errorf("after rollback to history 1: a.value = %q, want 1", got)
	}
	f.absent("b")
	checkPinned(t, rev1)
	for _, want := range []string{
		"sync " + f.ns + "/app: rolling back to history 1, revision " + rev1,
		"CronJob/" + f.ns + "/gitsync-app: schedule suspended, pinned to " + rev1,
		"result:   Succeeded",
		"kubectl gitsync resume app returns to following Git",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// Without --to-revision: the newest succeeded revision that is not the
	// current one, history 2; the pin is replaced, not added to.
	out, _, err = f.cli(t.Context(), "rollback", "app", "--local")
	wantExit(t, err, ExitOK, "")
	rev2 := "main@sha1:" + sha2
	if !strings.Contains(out, "rolling back to history 2, revision "+rev2) {
		t.Errorf("default target:\n%s", out)
	}
	if got := f.configMap("a").Data["value"]; got != "2" {
		t.Errorf("after rollback to history 2: a.value = %q, want 2", got)
	}
	f.configMap("b")
	checkPinned(t, rev2)

	t.Run("errors", func(t *testing.T) {
		_, _, err := f.cli(t.Context(), "rollback", "app", "--local", "--to-revision", "99")
		wantExit(t, err, ExitError, "--to-revision: no history 99")
		_, _, err = f.cli(t.Context(), "rollback", "app", "--to-revision", "0")
		wantExit(t, err, ExitError, "--to-revision: must be a history number")
	})
}

func TestRollbackStartsPinnedJob(t *testing.T) {
	f := newPipelineFixture(t)
	sha1 := f.commit(map[string]string{"deploy/a.yaml": configMapYAML("a", "1")})
	s := f.installSpec("")
	_, _, err := f.cli(t.Context(), "run", "app", "--local")
	wantExit(t, err, ExitOK, "")
	f.commit(map[string]string{"deploy/a.yaml": configMapYAML("a", "2")})
	_, _, err = f.cli(t.Context(), "run", "app", "--local")
	wantExit(t, err, ExitOK, "")
	f.installCronJob(s)

	out, _, err := f.cli(t.Context(), "rollback", "app", "--wait=false")
	wantExit(t, err, ExitOK, "")
	m := regexp.MustCompile(`Job\.batch/` + f.ns + `/(gitsync-app-manual-\w+) created`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("output does not name the Job:\n%s", out)
	}
	job, err := env.Client().BatchV1().Jobs(f.ns).Get(t.Context(), m[1], metav1.GetOptions{})
	must(t, err)
	if args := job.Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "--revision=main@sha1:"+sha1) {
		t.Errorf("the rollback Job's args %q are not pinned to history 1", args)
	}
	if !strings.Contains(out, "kubectl gitsync resume app returns to following Git") {
		t.Errorf("output:\n%s", out)
	}
}
