package cli

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
		if before.Annotations[AnnotationPinnedRevision] != revAPIPrev {
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
		if _, ok := cj.Annotations[AnnotationPinnedRevision]; ok {
			t.Errorf("annotation %s still there", AnnotationPinnedRevision)
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

func TestSetSpecSuspend(t *testing.T) {
	s := spec.New("web", "ns")
	s.Spec.Source.Git = &spec.GitSource{URL: "https://git.example.com/web.git"}
	data, err := s.Marshal()
	must(t, err)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "gitsync-web", Namespace: "ns"},
		Data: map[string]string{spec.ConfigMapKey: string(data)}}

	out, err := SetSpecSuspend(cm, false)
	if err != nil || out != "" {
		t.Errorf("already false: %q, %v; want no change", out, err)
	}
	out, err = SetSpecSuspend(cm, true)
	must(t, err)
	got, err := spec.Parse([]byte(out))
	must(t, err)
	if !got.Spec.Suspend || got.Digest() == s.Digest() {
		t.Errorf("suspend %v", got.Spec.Suspend)
	}
	got.Spec.Suspend = false
	if got.Digest() != s.Digest() {
		t.Error("SetSpecSuspend changed more than suspend")
	}
}

func TestCronJobPatch(t *testing.T) {
	tests := []struct {
		name      string
		suspended bool
		args      []string
		pin       string
		suspend   bool
		want      map[string]any
		wantPin   string
	}{
		{name: "suspend", args: []string{"--sync", "web"}, suspend: true,
			want: map[string]any{"metadata": map[string]any{"resourceVersion": "7"}, "spec": map[string]any{"suspend": true}}},
		{name: "already suspended", suspended: true, suspend: true},
		{name: "suspend keeps a pin", suspended: true, pin: "sha1:abc", args: []string{"--revision=sha1:abc"}, suspend: true},
		{name: "resume and unpin", suspended: true, pin: "sha1:abc", args: []string{"--sync", "web", "--revision=sha1:abc", "--scope", "namespace"},
			want: map[string]any{
				"metadata": map[string]any{"resourceVersion": "7", "annotations": map[string]any{AnnotationPinnedRevision: nil}},
				"spec": map[string]any{"suspend": false, "jobTemplate": map[string]any{"spec": map[string]any{"template": map[string]any{
					"spec": map[string]any{"containers": []map[string]any{{"name": "sync-job", "args": []string{"--sync", "web", "--scope", "namespace"}}}}}}}},
			},
			wantPin: "sha1:abc"},
		{name: "pin as two arguments, no annotation", args: []string{"--revision", "sha1:def", "--sync", "web"},
			want: map[string]any{
				"metadata": map[string]any{"resourceVersion": "7"},
				"spec": map[string]any{"jobTemplate": map[string]any{"spec": map[string]any{"template": map[string]any{
					"spec": map[string]any{"containers": []map[string]any{{"name": "sync-job", "args": []string{"--sync", "web"}}}}}}}},
			},
			wantPin: "sha1:def"},
		{name: "already resumed", args: []string{"--sync", "web"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{ResourceVersion: "7"}}
			cj.Spec.Suspend = &tt.suspended
			if tt.pin != "" {
				cj.Annotations = map[string]string{AnnotationPinnedRevision: tt.pin}
			}
			cj.Spec.JobTemplate.Spec.Template.Spec.Containers = []corev1.Container{{Name: "sync-job", Args: tt.args}}
			got, pin := cronJobPatch(cj, tt.suspend)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("patch (-want +got):\n%s", diff)
			}
			if pin != tt.wantPin {
				t.Errorf("pin %q, want %q", pin, tt.wantPin)
			}
		})
	}
}
