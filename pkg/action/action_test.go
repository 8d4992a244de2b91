package action

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"

	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/object"
	"github.com/gitsync/gitsync/pkg/spec"
)

// goldenNow is the clock of these tests.
var goldenNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestNamespaceScoped(t *testing.T) {
	cj := func(args ...string) *batchv1.CronJob {
		c := &batchv1.CronJob{}
		c.Spec.JobTemplate.Spec.Template.Spec.Containers = []corev1.Container{{Name: install.ContainerName, Args: args}}
		return c
	}
	tests := []struct {
		name string
		cj   *batchv1.CronJob
		want bool
	}{
		{"no CronJob", nil, false},
		{"install's args", cj(install.Args("web", install.RBACNamespace)...), true},
		{"cluster mode", cj(install.Args("web", install.RBACCluster)...), false},
		{"one-word form", cj("--sync", "web", "--scope=namespace"), true},
		{"no scope", cj("--sync", "web"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := jobArgsOf(tt.cj)
			if err != nil {
				t.Fatal(err)
			}
			if got := a.NamespaceScoped(); got != tt.want {
				t.Errorf("namespace scoped = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestManualJobName(t *testing.T) {
	short := manualJobName("gitsync-web")
	if !regexp.MustCompile(`^gitsync-web-manual-[a-z0-9]{5}$`).MatchString(short) {
		t.Errorf("name %q", short)
	}
	long := "gitsync-" + strings.Repeat("x", spec.MaxNameLength)
	if got := manualJobName(long); len(got) > 63 || !strings.HasPrefix(got, long+"-m-") {
		t.Errorf("name %q (%d characters) for the longest CronJob name", got, len(got))
	}
	// The suffix is random: two runs started for the same CronJob get
	// different names.
	if a, b := manualJobName("a"), manualJobName("a"); a == b {
		t.Errorf("two names are equal: %q", a)
	}
}

func TestPinArgs(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"--sync", "web"}, []string{"--sync", "web", "--revision=R"}},
		{[]string{"--sync", "web", "--revision=OLD", "--work-dir", "/tmp"}, []string{"--sync", "web", "--work-dir", "/tmp", "--revision=R"}},
		{[]string{"--revision", "OLD", "--sync", "web"}, []string{"--sync", "web", "--revision=R"}},
		{nil, []string{"--revision=R"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			got, err := pinArgs(tt.args, "R")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("pinArgs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPickRollback(t *testing.T) {
	rev := func(c string) string { return "main@sha1:" + strings.Repeat(c, 40) }
	hist := []inventory.History{ // newest first
		{Number: 6, Revision: rev("a")}, // no result recorded
		{Number: 5, Revision: "sha1:" + strings.Repeat("c", 40), Result: inventory.ResultSucceeded},
		{Number: 4, Revision: rev("d"), Result: inventory.ResultFailed, Message: "apply: boom"},
		{Number: 3, Revision: rev("c"), Result: inventory.ResultSucceeded},
		{Number: 2, Revision: "", Result: inventory.ResultFailed},
		{Number: 1, Revision: rev("b"), Result: inventory.ResultSucceeded},
	}
	tests := []struct {
		name    string
		current string
		to      int
		want    int
		wantErr string
	}{
		{name: "default skips the current commit in either form", current: rev("c"), want: 1},
		{name: "default when the current one is not in the history", current: rev("e"), want: 5},
		{name: "explicit", current: rev("c"), to: 3, want: 3},
		{name: "explicit current", current: rev("c"), to: 5, want: 5},
		{name: "failed", current: rev("c"), to: 4, wantErr: "history 4 is a run that failed (apply: boom)"},
		{name: "no revision", current: rev("c"), to: 2, wantErr: "history 2 is a run that failed"},
		{name: "unknown", current: rev("c"), to: 9, wantErr: "no history 9; the sync keeps 6, 5, 4, 3, 2, 1"},
		{name: "no result", current: rev("c"), to: 6, wantErr: `history 6 does not record a success (result "")`},
		{name: "nothing before", current: rev("b"), to: 0, want: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pickRollback(hist, tt.current, tt.to)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got.Number != tt.want {
				t.Fatalf("picked %d (%v), want %d", got.Number, err, tt.want)
			}
		})
	}
	if _, err := pickRollback(hist[1:2], hist[1].Revision, 0); err == nil || !strings.Contains(err.Error(), "no succeeded revision other than the current one") {
		t.Errorf("only the current revision: error %v", err)
	}
	if _, err := pickRollback(nil, "", 1); err == nil || !strings.Contains(err.Error(), "no history yet") {
		t.Errorf("empty history: error %v", err)
	}
}

func TestSetSpecSuspend(t *testing.T) {
	s := spec.New("web", "ns")
	s.Spec.Source.Git = &spec.GitSource{URL: "https://git.example.com/web.git"}
	data, err := s.Marshal()
	must(t, err)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "gitsync-web", Namespace: "ns"},
		Data: map[string]string{spec.ConfigMapKey: string(data)}}

	out, err := setSpecSuspend(cm, false)
	if err != nil || out != "" {
		t.Errorf("already false: %q, %v; want no change", out, err)
	}
	out, err = setSpecSuspend(cm, true)
	must(t, err)
	got, err := spec.Parse([]byte(out))
	must(t, err)
	if !got.Spec.Suspend || got.Digest() == s.Digest() {
		t.Errorf("suspend %v", got.Spec.Suspend)
	}
	got.Spec.Suspend = false
	if got.Digest() != s.Digest() {
		t.Error("setSpecSuspend changed more than suspend")
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
			got, pin, err := cronJobPatch(cj, tt.suspend)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("patch (-want +got):\n%s", diff)
			}
			if pin != tt.wantPin {
				t.Errorf("pin %q, want %q", pin, tt.wantPin)
			}
		})
	}
}
func TestNextRun(t *testing.T) {
	now := time.Date(2026, 3, 4, 10, 7, 0, 0, time.UTC) // a Wednesday
	created := now.Add(-24 * time.Hour)
	tests := []struct {
		name     string
		schedule string
		tz       string
		last     time.Time
		suspend  bool
		deadline *int64
		want     time.Time
		wantErr  bool
	}{
		{name: "next after the last schedule", schedule: "*/5 * * * *", last: now.Add(-2 * time.Minute),
			want: time.Date(2026, 3, 4, 10, 10, 0, 0, time.UTC)},
		{name: "never scheduled: after creation", schedule: "0 * * * *",
			want: now.Add(53 * time.Minute), deadline: ptr.To[int64](300), last: time.Time{}},
		{name: "missed within the deadline: now", schedule: "*/5 * * * *", last: now.Add(-4 * time.Minute),
			deadline: ptr.To[int64](300), want: now},
		{name: "missed beyond the deadline: the next one", schedule: "*/5 * * * *", last: now.Add(-20 * time.Minute),
			deadline: ptr.To[int64](300), want: time.Date(2026, 3, 4, 10, 10, 0, 0, time.UTC)},
		{name: "no deadline: a missed run starts now", schedule: "0 0 * * *", last: now.Add(-30 * time.Hour), want: now},
		{name: "descriptor", schedule: "@hourly", last: now.Add(-7 * time.Minute), want: time.Date(2026, 3, 4, 11, 0, 0, 0, time.UTC)},
		{name: "weekdays only", schedule: "0 9 * * 1-5", last: time.Date(2026, 3, 6, 9, 0, 0, 0, time.UTC),
			want: time.Date(2026, 3, 9, 9, 0, 0, 0, time.UTC)},
		{name: "time zone", schedule: "0 12 * * *", tz: "Europe/Berlin", last: now.Add(-time.Hour),
			want: time.Date(2026, 3, 4, 11, 0, 0, 0, time.UTC)},
		{name: "suspended", schedule: "*/5 * * * *", suspend: true},
		{name: "invalid", schedule: "every minute", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cj := &batchv1.CronJob{
				ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.Time{Time: created.Add(7 * time.Minute)}},
				Spec:       batchv1.CronJobSpec{Schedule: tt.schedule, Suspend: &tt.suspend, StartingDeadlineSeconds: tt.deadline},
			}
			if tt.tz != "" {
				cj.Spec.TimeZone = &tt.tz
			}
			if !tt.last.IsZero() {
				cj.Status.LastScheduleTime = &metav1.Time{Time: tt.last}
			}
			got, err := NextRun(cj, now)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if !got.Equal(tt.want) {
				t.Errorf("NextRun = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestBuildStatusProblems(t *testing.T) {
	s := &Sync{Ref: Ref{Name: "broken", Namespace: "ns"}, SpecErr: errString("ConfigMap/ns/gitsync-broken: sync.yaml: spec.source: Required value")}
	st := BuildStatus(s, goldenNow)
	want := []string{
		"spec: ConfigMap/ns/gitsync-broken: sync.yaml: spec.source: Required value",
		"CronJob/ns/gitsync-broken: not found: no scheduled runs",
	}
	if diff := cmp.Diff(want, st.Problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if st.Source.URL != "" || st.Source.Details != nil || st.LastRun != nil || st.NextRun != nil {
		t.Errorf("status %+v", st)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestDescribeSource(t *testing.T) {
	tests := []struct {
		src  spec.Source
		want SourceStatus
	}{
		{spec.Source{Git: &spec.GitSource{URL: "https://g/r.git", Ref: spec.GitRef{Tag: "v1"}}}, SourceStatus{Kind: "git", URL: "https://g/r.git", Ref: "tag v1"}},
		{spec.Source{Helm: &spec.HelmSource{URL: "https://charts.example.com", Chart: "web", Version: "1.x"}},
			SourceStatus{Kind: "helm", URL: "https://charts.example.com", Ref: "chart web, version 1.x"}},
		{spec.Source{Helm: &spec.HelmSource{URL: "oci://registry.example.com/charts/web"}},
			SourceStatus{Kind: "helm", URL: "oci://registry.example.com/charts/web", Ref: "version *"}},
		{spec.Source{}, SourceStatus{}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, DescribeSource(&spec.SyncSpec{Source: tt.src})); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	}
}
func TestBuildTree(t *testing.T) {
	ids := []object.ID{
		{Kind: "ConfigMap", Namespace: "b", Name: "z"},
		{Group: "apps", Kind: "Deployment", Namespace: "b", Name: "web"},
		{Kind: "ConfigMap", Namespace: "b", Name: "a"},
		{Kind: "Namespace", Name: "b"},
		{Kind: "ConfigMap", Namespace: "a", Name: "x"},
		{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "r"},
	}
	want := []TreeNamespace{
		{Name: "", Kinds: []TreeKind{
			{Kind: "ClusterRole.rbac.authorization.k8s.io", Names: []string{"r"}},
			{Kind: "Namespace", Names: []string{"b"}},
		}},
		{Name: "a", Kinds: []TreeKind{{Kind: "ConfigMap", Names: []string{"x"}}}},
		{Name: "b", Kinds: []TreeKind{
			{Kind: "ConfigMap", Names: []string{"a", "z"}},
			{Kind: "Deployment.apps", Names: []string{"web"}},
		}},
	}
	if diff := cmp.Diff(want, BuildTree(ids)); diff != "" {
		t.Errorf("tree (-want +got):\n%s", diff)
	}
}

func TestMaskSecret(t *testing.T) {
	before := map[string]any{
		"kind": "Secret",
		"metadata": map[string]any{"name": "s", "annotations": map[string]any{
			lastApplied: `{"data":{"k":"c2VjcmV0"}}`, "other": "kept",
		}},
		"data": map[string]any{"same": "c2FtZQ==", "changed": "b2xk", "removed": "Z29uZQ=="},
	}
	after := map[string]any{
		"kind":       "Secret",
		"metadata":   map[string]any{"name": "s", "annotations": map[string]any{lastApplied: `{"data":{"k":"bmV3"}}`, "other": "kept"}},
		"data":       map[string]any{"same": "c2FtZQ==", "changed": "bmV3", "added": "YWRkZWQ="},
		"stringData": map[string]any{"plain": "text"},
	}
	maskSecret(before, after)
	wantBefore := map[string]any{
		"kind":     "Secret",
		"metadata": map[string]any{"name": "s", "annotations": map[string]any{lastApplied: "*** (before)", "other": "kept"}},
		"data":     map[string]any{"same": "***", "changed": "*** (before)", "removed": "***"},
	}
	wantAfter := map[string]any{
		"kind":       "Secret",
		"metadata":   map[string]any{"name": "s", "annotations": map[string]any{lastApplied: "*** (after)", "other": "kept"}},
		"data":       map[string]any{"same": "***", "changed": "*** (after)", "added": "***"},
		"stringData": map[string]any{"plain": "***"},
	}
	if diff := cmp.Diff(wantBefore, before); diff != "" {
		t.Errorf("before (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantAfter, after); diff != "" {
		t.Errorf("after (-want +got):\n%s", diff)
	}

	// One side missing (a created or pruned Secret).
	created := map[string]any{"data": map[string]any{"k": "dg=="}}
	maskSecret(nil, created)
	if diff := cmp.Diff(map[string]any{"data": map[string]any{"k": "***"}}, created); diff != "" {
		t.Errorf("created (-want +got):\n%s", diff)
	}
}

func TestObjectDiffMasksSecretsAndStripsMetadata(t *testing.T) {
	secret := func(value string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "Secret",
			"metadata": map[string]any{
				"name": "s", "namespace": "ns", "resourceVersion": "7", "uid": "u-1", "generation": int64(1),
				"creationTimestamp": "2026-01-01T00:00:00Z",
				"managedFields":     []any{map[string]any{"manager": "gitsync"}},
			},
			"data": map[string]any{"password": value, "user": "YWRtaW4="},
		}}
	}
	d := ObjectDiff{ID: object.ID{Kind: "Secret", Namespace: "ns", Name: "s"}, Before: secret("b2xkcGFzcw=="), After: secret("bmV3cGFzcw==")}
	got, err := d.Unified()
	if err != nil {
		t.Fatal(err)
	}
	want := `--- live/Secret/ns/s
+++ merged/Secret/ns/s
@@ -1,6 +1,6 @@
 apiVersion: v1
 data:
-  password: '*** (before)'
+  password: '*** (after)'
   user: '***'
 kind: Secret
 metadata:
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("diff (-want +got):\n%s", diff)
	}
	for _, secretText := range []string{"b2xkcGFzcw==", "bmV3cGFzcw==", "YWRtaW4=", "resourceVersion", "managedFields", "uid"} {
		if strings.Contains(got, secretText) {
			t.Errorf("diff shows %q:\n%s", secretText, got)
		}
	}
	// The objects themselves are untouched.
	if v, _, _ := unstructured.NestedString(d.Before.Object, "data", "password"); v != "b2xkcGFzcw==" {
		t.Errorf("the live object was modified: %q", v)
	}
}

func TestLocalRoot(t *testing.T) {
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	overlay := filepath.Join(repo, "overlays", "prod")
	plain := filepath.Join(dir, "plain")
	for _, d := range []string{filepath.Join(repo, ".git"), overlay, plain} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if got := localRoot(overlay); got != repo {
		t.Errorf("localRoot(overlay) = %s, want the work tree %s", got, repo)
	}
	if got := localRoot(plain); got != plain {
		t.Errorf("localRoot(plain) = %s, want itself", got)
	}
}
