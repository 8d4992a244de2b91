package cli

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/gitsync/gitsync/pkg/action"
	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/spec"
)

// TestStatusLastChecked: a run that found nothing to do rewrites no record;
// status says when the sync was last checked from the CronJob's
// lastSuccessfulTime and, described, the newest Job that succeeded, beside
// the last applied revision, in the table's LAST RUN and in -o json.
func TestStatusLastChecked(t *testing.T) {
	skipIfCronJobMayFire(t, "30 4 * * 0")
	ctx, c := t.Context(), env.Client()
	ns := env.NewNamespace(t)
	at := func(d time.Duration) time.Time { return goldenNow.Add(-d) }
	rec := &inventory.Record{}
	rec.Succeed(inventory.Run{Revision: revWeb, Start: at(time.Hour + time.Second), End: at(time.Hour), Message: "applied"})
	cj := seedSync(t, ns, syncFixture{name: "web", url: "https://git.example.com/platform/web.git", ref: spec.GitRef{Branch: "main"},
		schedule: "30 4 * * 0", record: rec})

	statusOf := func(args ...string) action.SyncStatus {
		t.Helper()
		out, errOut, err := gitsyncCLI(ctx, append(args, "-o", "json", "--kubeconfig", env.KubeconfigPath(), "-n", ns)...)
		if err != nil {
			t.Fatalf("%v\n%s", err, errOut)
		}
		if len(args) == 1 {
			var list action.StatusList
			must(t, json.Unmarshal([]byte(out), &list))
			if len(list.Items) != 1 {
				t.Fatalf("%d syncs", len(list.Items))
			}
			return list.Items[0]
		}
		var st action.SyncStatus
		must(t, json.Unmarshal([]byte(out), &st))
		return st
	}
	checked := func(st action.SyncStatus) time.Time {
		if st.LastCheckedTime == nil {
			return time.Time{}
		}
		return *st.LastCheckedTime
	}

	// Only the record: the last run's end.
	if got := checked(statusOf("status")); !got.Equal(at(time.Hour)) {
		t.Errorf("record only: lastCheckedTime %s, want the run's end %s", got, at(time.Hour))
	}

	// A later run succeeded without writing the record.
	cj.Status.LastSuccessfulTime = &metav1.Time{Time: at(5 * time.Minute)}
	_, err := c.BatchV1().CronJobs(ns).UpdateStatus(ctx, cj, metav1.UpdateOptions{})
	must(t, err)
	st := statusOf("status")
	if got := checked(st); !got.Equal(at(5 * time.Minute)) {
		t.Errorf("lastCheckedTime %s, want the CronJob's lastSuccessfulTime %s", got, at(5*time.Minute))
	}
	if st.LastAppliedTime == nil || !st.LastAppliedTime.Equal(at(time.Hour)) {
		t.Errorf("lastAppliedTime %v, want the record's", st.LastAppliedTime)
	}
	out, _, err := gitsyncCLI(ctx, "status", "--kubeconfig", env.KubeconfigPath(), "-n", ns)
	must(t, err)
	if row := strings.Fields(strings.Split(out, "\n")[1]); len(row) < 7 || row[5] != "5m" {
		t.Errorf("table:\n%s\nwant LAST RUN 5m", out)
	}

	// Described: the newest Job that succeeded, later still.
	job := install.JobFromCronJob(cj, "gitsync-web-manual-b2c4d")
	job.Spec.Suspend = ptr.To(true)
	job, err = c.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{})
	must(t, err)
	done := metav1.NewTime(at(time.Minute))
	// The Job controller writes the Job's status too (the control plane
	// has no node, so no Pod of it ever runs).
	must(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		job, err := c.BatchV1().Jobs(ns).Get(ctx, job.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		job.Status = batchv1.JobStatus{
			StartTime: ptr.To(metav1.NewTime(at(time.Minute + time.Second))), CompletionTime: &done, Succeeded: 1,
			Conditions: []batchv1.JobCondition{
				{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: done},
				{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: done},
			},
		}
		_, err = c.BatchV1().Jobs(ns).UpdateStatus(ctx, job, metav1.UpdateOptions{})
		return err
	}))
	if got := checked(statusOf("status", "web")); !got.Equal(at(time.Minute)) {
		t.Errorf("described: lastCheckedTime %s, want the Job's completionTime %s", got, at(time.Minute))
	}
	out, _, err = gitsyncCLI(ctx, "status", "web", "--kubeconfig", env.KubeconfigPath(), "-n", ns)
	must(t, err)
	if !regexp.MustCompile(`\nLast Checked: +` + regexp.QuoteMeta(at(time.Minute).Format(time.RFC3339)) + ` \(60s ago\)\n`).MatchString(out) {
		t.Errorf("describe:\n%s\nwant Last Checked 60s ago", out)
	}
}

// TestPrometheusLastChecked: a sync whose later runs found nothing to do is
// not stale to `status -o prometheus`: its last success and last run are
// when the sync was last checked.
func TestPrometheusLastChecked(t *testing.T) {
	end, checked := goldenNow.Add(-time.Hour), goldenNow.Add(-time.Minute)
	items := []action.SyncStatus{{Name: "web", Namespace: "ns", LastAppliedRevision: revWeb, LastAppliedTime: &end,
		LastCheckedTime: &checked, LastRun: &inventory.Run{Revision: revWeb, End: end, Result: inventory.ResultSucceeded}}}
	var out strings.Builder
	must(t, writePrometheus(&out, items))
	for _, m := range []string{"gitsync_last_success_timestamp_seconds", "gitsync_run_timestamp_seconds"} {
		want := fmt.Sprintf(`%s{namespace="ns",sync="web"} %s`, m, strconv.FormatFloat(float64(checked.Unix()), 'g', -1, 64))
		if !strings.Contains(out.String(), want+"\n") {
			t.Errorf("want %s in:\n%s", want, out.String())
		}
	}
	// A failed last run is not made a success by a later Job.
	items[0].LastRun.Result = inventory.ResultFailed
	out.Reset()
	must(t, writePrometheus(&out, items))
	if strings.Contains(out.String(), strconv.FormatFloat(float64(checked.Unix()), 'g', -1, 64)) {
		t.Errorf("a failed run's sync reports the later Job:\n%s", out.String())
	}
}
