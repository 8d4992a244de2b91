package cli

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/action"
	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/spec"
)

func TestSuspendResume(t *testing.T) {
	ctx, c := t.Context(), env.Client()
	ns := env.NewNamespace(t)
	kc := []string{"--kubeconfig", env.KubeconfigPath(), "-n", ns}
	seedSync(t, ns, syncFixture{name: "web", url: "https://git.example.com/web.git", ref: spec.GitRef{Branch: "main"},
		schedule: "0 4 * * *"})
	seedSync(t, ns, syncFixture{name: "api", url: "https://git.example.com/api.git", schedule: "0 4 * * *", pin: revAPIPrev})

	// state returns the CronJob's and the spec's suspend, after checking
	// that the spec is still valid.
	state := func(t *testing.T, name string) (cronJob, specSuspend bool, cj *batchv1.CronJob) {
		t.Helper()
		cj, err := c.BatchV1().CronJobs(ns).Get(ctx, spec.ConfigMapName(name), metav1.GetOptions{})
		must(t, err)
		cm, err := c.CoreV1().ConfigMaps(ns).Get(ctx, spec.ConfigMapName(name), metav1.GetOptions{})
		must(t, err)
		s, err := spec.Parse([]byte(cm.Data[spec.ConfigMapKey]))
		if err != nil {
			t.Fatalf("spec no longer valid: %v\n%s", err, cm.Data[spec.ConfigMapKey])
		}
		return *cj.Spec.Suspend, s.Spec.Suspend, cj
	}

	t.Run("suspend", func(t *testing.T) {
		out, _, err := gitsyncCLI(ctx, append([]string{"suspend", "web"}, kc...)...)
		must(t, err)
		if want := "sync " + ns + "/web suspended\n"; out != want {
			t.Errorf("output %q, want %q", out, want)
		}
		if cjs, ss, _ := state(t, "web"); !cjs || !ss {
			t.Errorf("CronJob suspend %v, spec suspend %v; want both true", cjs, ss)
		}
		out, _, err = gitsyncCLI(ctx, append([]string{"suspend", "web"}, kc...)...)
		must(t, err)
		if want := "sync " + ns + "/web is already suspended\n"; out != want {
			t.Errorf("second suspend: output %q, want %q", out, want)
		}
	})

	t.Run("resume", func(t *testing.T) {
		out, _, err := gitsyncCLI(ctx, append([]string{"resume", "web"}, kc...)...)
		must(t, err)
		// The CronJob controller may have scheduled a run meanwhile, which
		// moves the next run; only the start of the line is fixed.
		if want := "sync " + ns + "/web resumed: next run "; !strings.HasPrefix(out, want) || strings.Count(out, "\n") != 1 {
			t.Errorf("output %q, want %q...", out, want)
		}
		if cjs, ss, _ := state(t, "web"); cjs || ss {
			t.Errorf("CronJob suspend %v, spec suspend %v; want both false", cjs, ss)
		}
	})

	t.Run("resume removes a rollback pin", func(t *testing.T) {
		_, _, before := state(t, "api")
		if before.Annotations[action.AnnotationPinnedRevision] != revAPIPrev {
			t.Fatalf("fixture not pinned: %v", before.Annotations)
		}
		out, _, err := gitsyncCLI(ctx, append([]string{"resume", "api"}, kc...)...)
		must(t, err)
		want := "rollback pin to " + revAPIPrev + " removed: runs follow the spec's ref again\n" +
			"sync " + ns + "/api resumed: next run "
		if !strings.HasPrefix(out, want) {
			t.Errorf("output %q, want %q", out, want)
		}
		cjs, ss, cj := state(t, "api")
		if cjs || ss {
			t.Errorf("CronJob suspend %v, spec suspend %v; want both false", cjs, ss)
		}
		if _, ok := cj.Annotations[action.AnnotationPinnedRevision]; ok {
			t.Errorf("annotation %s still there", action.AnnotationPinnedRevision)
		}
		if diff := cmp.Diff(install.Args("api", install.RBACNamespace), cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args); diff != "" {
			t.Errorf("container args (-want +got):\n%s", diff)
		}
		// Everything else of the job template is as install wrote it.
		if diff := cmp.Diff(before.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image, cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image); diff != "" {
			t.Error(diff)
		}
	})

	t.Run("invalid spec: suspend still stops the CronJob", func(t *testing.T) {
		seedSync(t, ns, syncFixture{name: "broken", url: "https://git.example.com/b.git", schedule: "0 * * * *"})
		cm, err := c.CoreV1().ConfigMaps(ns).Get(ctx, "gitsync-broken", metav1.GetOptions{})
		must(t, err)
		cm.Data[spec.ConfigMapKey] = strings.Replace(cm.Data[spec.ConfigMapKey], "url:", "uri:", 1)
		_, err = c.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{})
		must(t, err)

		_, _, err = gitsyncCLI(ctx, append([]string{"suspend", "broken"}, kc...)...)
		wantExit(t, err, ExitError, "invalid spec, not changed")
		if !strings.Contains(err.Error(), "the CronJob is suspended") {
			t.Errorf("error %q does not say the CronJob was suspended", err)
		}
		cj, err := c.BatchV1().CronJobs(ns).Get(ctx, "gitsync-broken", metav1.GetOptions{})
		must(t, err)
		if !*cj.Spec.Suspend {
			t.Error("CronJob not suspended")
		}
		// resume refuses before touching the CronJob: runs would fail.
		_, _, err = gitsyncCLI(ctx, append([]string{"resume", "broken"}, kc...)...)
		wantExit(t, err, ExitError, "invalid spec")
		cj, err = c.BatchV1().CronJobs(ns).Get(ctx, "gitsync-broken", metav1.GetOptions{})
		must(t, err)
		if !*cj.Spec.Suspend {
			t.Error("resume of an invalid spec resumed the CronJob")
		}
	})

	t.Run("unknown sync", func(t *testing.T) {
		_, _, err := gitsyncCLI(ctx, append([]string{"suspend", "nope"}, kc...)...)
		wantExit(t, err, ExitError, "sync not found")
	})
}
