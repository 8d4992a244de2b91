package cli

import (
	"context"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/gitsync/gitsync/pkg/install"
)

// The test cluster has no node: Pods stay Pending, so these tests cover
// finding the run and its Pod, not reading a log.
func TestLogs(t *testing.T) {
	ctx, c := t.Context(), env.Client()
	ns := env.NewNamespace(t)
	cj := seedSync(t, ns, syncFixture{name: "web", url: "https://git.example.com/web.git", schedule: "0 4 * * *", suspend: true})
	kc := []string{"--kubeconfig", env.KubeconfigPath(), "-n", ns}

	t.Run("no run yet", func(t *testing.T) {
		_, _, err := gitsyncCLI(ctx, append([]string{"logs", "web"}, kc...)...)
		wantExit(t, err, ExitFailed, "sync "+ns+"/web has not run yet: CronJob gitsync-web has no Jobs; kubectl gitsync run web starts one")
	})

	// Two runs, made as `run` makes them; the Job controller gives each a
	// Pod that stays Pending.
	var jobs []*batchv1.Job
	for _, name := range []string{"gitsync-web-1", "gitsync-web-2"} {
		job, err := c.BatchV1().Jobs(ns).Create(ctx, install.JobFromCronJob(cj, name), metav1.CreateOptions{})
		must(t, err)
		jobs = append(jobs, job)
		time.Sleep(1100 * time.Millisecond) // creation times have a resolution of one second
	}
	// A Job of nobody's.
	other := install.JobFromCronJob(cj, "unrelated")
	other.OwnerReferences, other.Labels, other.Spec.Template.Labels = nil, nil, nil
	other.Spec.Suspend = ptr.To(true)
	_, err := c.BatchV1().Jobs(ns).Create(ctx, other, metav1.CreateOptions{})
	must(t, err)
	podOf := func(job string) string {
		var name string
		must(t, env.WaitFor(ctx, func(ctx context.Context) (bool, error) {
			pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + job})
			if err != nil || len(pods.Items) == 0 {
				return false, err
			}
			name = pods.Items[0].Name
			return true, nil
		}))
		return name
	}
	pod1, pod2 := podOf(jobs[0].Name), podOf(jobs[1].Name)

	t.Run("newest run", func(t *testing.T) {
		_, _, err := gitsyncCLI(ctx, append([]string{"logs", "web"}, kc...)...)
		wantExit(t, err, ExitError, "Job/"+ns+"/gitsync-web-2: Pod "+pod2+" has not started (Pending) (use --follow to wait)")
	})
	t.Run("--job", func(t *testing.T) {
		_, _, err := gitsyncCLI(ctx, append([]string{"logs", "web", "--job", "gitsync-web-1"}, kc...)...)
		wantExit(t, err, ExitError, "Pod "+pod1+" has not started")
	})
	t.Run("--job of another", func(t *testing.T) {
		_, _, err := gitsyncCLI(ctx, append([]string{"logs", "web", "--job", "unrelated"}, kc...)...)
		wantExit(t, err, ExitError, "--job: Job/"+ns+"/unrelated is not a run of sync web")
	})
	t.Run("--follow waits for the Pod", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, errOut, err := gitsyncCLI(ctx, append([]string{"logs", "web", "-f"}, kc...)...)
		if err != nil {
			t.Fatalf("interrupted --follow returned %v", err)
		}
		if want := "waiting: Pod " + pod2 + " has not started (Pending)\n"; errOut != want {
			t.Errorf("stderr %q, want %q", errOut, want)
		}
	})
	t.Run("unknown sync", func(t *testing.T) {
		_, _, err := gitsyncCLI(ctx, append([]string{"logs", "nope"}, kc...)...)
		wantExit(t, err, ExitError, "sync not found")
	})
}
