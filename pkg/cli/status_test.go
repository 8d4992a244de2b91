package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/utils/ptr"

	"github.com/gitsync/gitsync/pkg/action"
	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/object"
	"github.com/gitsync/gitsync/pkg/spec"
)

// goldenNow is the clock of the golden tests: every recorded time is set
// relative to it, so ages in the output never change.
var goldenNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Revisions the fixtures record.
const (
	revWeb     = "main@sha1:3f2a1b2c4d5e6f708192a3b4c5d6e7f801234567"
	revWebPrev = "main@sha1:9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a291807"
	revAPI     = "v1.4.2@sha1:0a1b2c3d4e5f60718293a4b5c6d7e8f901a2b3c4"
	revAPIPrev = "v1.4.1@sha1:aa11bb22cc33dd44ee55ff6600778899aabbccdd"
)

// syncFixture describes a sync to write into the test cluster the way
// install and sync-job would have left it.
type syncFixture struct {
	name     string
	url      string
	ref      spec.GitRef
	secret   string
	path     string
	schedule string
	target   string
	suspend  bool
	rbac     install.RBACMode
	// pin, when set, pins the CronJob as rollback does (and suspends it).
	pin string
	// lastSchedule is set as the CronJob's status.lastScheduleTime.
	lastSchedule time.Time
	// entries and record make the inventory ConfigMap; nil record: none.
	entries []inventory.Entry
	record  *inventory.Record
	// history is appended oldest first.
	history []inventory.History
}

// seedSync writes the spec ConfigMap, ServiceAccount, RBAC and CronJob of
// f (as install generates them) into namespace ns, then the inventory and
// history (as sync-job writes them). It returns the CronJob.
func seedSync(t *testing.T, ns string, f syncFixture) *batchv1.CronJob {
	t.Helper()
	ctx, c := t.Context(), env.Client()
	s := spec.New(f.name, ns)
	s.Spec = spec.SyncSpec{
		Source:          spec.Source{Git: &spec.GitSource{URL: f.url, Ref: f.ref}},
		Path:            f.path,
		Schedule:        f.schedule,
		Suspend:         f.suspend,
		TargetNamespace: f.target,
	}
	if f.secret != "" {
		s.Spec.Source.Git.SecretRef = &spec.LocalObjectReference{Name: f.secret}
	}
	objs, err := install.Generate(s, install.Options{Image: testImage, RBAC: f.rbac})
	must(t, err)
	_, err = c.CoreV1().ServiceAccounts(ns).Create(ctx, objs.ServiceAccount, metav1.CreateOptions{})
	must(t, err)
	for _, r := range objs.Roles {
		_, err = c.RbacV1().Roles(r.Namespace).Create(ctx, r, metav1.CreateOptions{})
		must(t, err)
	}
	for _, b := range objs.RoleBindings {
		_, err = c.RbacV1().RoleBindings(b.Namespace).Create(ctx, b, metav1.CreateOptions{})
		must(t, err)
	}
	if cr := objs.ClusterRole; cr != nil {
		_, err = c.RbacV1().ClusterRoles().Create(ctx, cr, metav1.CreateOptions{})
		must(t, err)
		t.Cleanup(func() {
			_ = c.RbacV1().ClusterRoles().Delete(context.WithoutCancel(ctx), cr.Name, metav1.DeleteOptions{})
		})
	}
	if crb := objs.ClusterRoleBinding; crb != nil {
		_, err = c.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{})
		must(t, err)
		t.Cleanup(func() {
			_ = c.RbacV1().ClusterRoleBindings().Delete(context.WithoutCancel(ctx), crb.Name, metav1.DeleteOptions{})
		})
	}
	_, err = c.CoreV1().ConfigMaps(ns).Create(ctx, objs.ConfigMap, metav1.CreateOptions{})
	must(t, err)
	cj := objs.CronJob
	if f.pin != "" {
		cj.Annotations = map[string]string{action.AnnotationPinnedRevision: f.pin}
		cj.Spec.Suspend = ptr.To(true)
		ct := &cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
		ct.Args = append(ct.Args, "--revision="+f.pin)
	}
	cj, err = c.BatchV1().CronJobs(ns).Create(ctx, cj, metav1.CreateOptions{})
	must(t, err)
	if !f.lastSchedule.IsZero() {
		cj.Status.LastScheduleTime = &metav1.Time{Time: f.lastSchedule}
		cj, err = c.BatchV1().CronJobs(ns).UpdateStatus(ctx, cj, metav1.UpdateOptions{})
		must(t, err)
	}
	store := &inventory.Store{Client: c, Namespace: ns, Sync: f.name}
	if f.record != nil {
		must(t, store.Save(ctx, &inventory.Inventory{Entries: f.entries, Record: *f.record}))
	}
	for _, h := range f.history {
		_, err := store.AppendHistory(ctx, h)
		must(t, err)
	}
	return cj
}

// entry returns an inventory entry; resource is the plural resource.
func entry(group, version, kind, resource, namespace, name string) inventory.Entry {
	return inventory.Entry{
		ID:          object.ID{Group: group, Kind: kind, Namespace: namespace, Name: name},
		Version:     version,
		Resource:    resource,
		Namespaced:  namespace != "",
		Fingerprint: "0123456789abcdef",
	}
}

// goldenFixtures are three syncs of namespace ns: web (healthy, with objects
// in ns, in apps and cluster-scoped), api (last run failed, pinned by a
// rollback, suspended) and new (installed, never run).
func goldenFixtures(ns string) []syncFixture {
	at := func(d time.Duration) time.Time { return goldenNow.Add(-d) }
	webEntries := []inventory.Entry{
		entry("", "v1", "Namespace", "namespaces", "", "apps"),
		entry("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", "", "web-reader"),
		entry("", "v1", "ConfigMap", "configmaps", "apps", "web-config"),
		entry("", "v1", "ConfigMap", "configmaps", "apps", "web-env"),
		entry("", "v1", "Service", "services", "apps", "web"),
		entry("apps", "v1", "Deployment", "deployments", "apps", "web"),
		entry("networking.k8s.io", "v1", "Ingress", "ingresses", "apps", "web"),
		entry("", "v1", "ServiceAccount", "serviceaccounts", ns, "web-deployer"),
	}
	inventory.Sort(webEntries)
	webRun := inventory.Run{
		Revision: revWeb, SpecDigest: "sha256:5a5a", SetDigest: "sha256:6b6b",
		Start: at(10*time.Minute + 4200*time.Millisecond), End: at(10 * time.Minute),
		Duration: metav1.Duration{Duration: 4200 * time.Millisecond},
		Message:  "applied 8 objects: 1 created, 1 configured, 6 unchanged",
		Counts:   map[string]int{"created": 1, "configured": 1, "unchanged": 6},
	}
	webRecord := &inventory.Record{}
	webRecord.Succeed(webRun)

	apiRun := inventory.Run{
		Revision: revAPI, SpecDigest: "sha256:7c7c",
		Start: at(2*time.Hour + 31*time.Second), End: at(2 * time.Hour),
		Duration: metav1.Duration{Duration: 31 * time.Second},
		Message: "apply: Deployment.apps/apps/api: spec.selector: Invalid value: field is immutable\n" +
			"1 object not applied",
		Counts: map[string]int{"unchanged": 2, "failed": 1},
	}
	apiRecord := &inventory.Record{}
	apiRecord.Succeed(inventory.Run{Revision: revAPIPrev, Start: at(26*time.Hour + 12*time.Second), End: at(26 * time.Hour),
		Duration: metav1.Duration{Duration: 12 * time.Second}, Message: "applied 3 objects", Counts: map[string]int{"created": 3}})
	apiRecord.Fail(apiRun)

	return []syncFixture{
		{
			name: "web", url: "https://git.example.com/platform/web.git", ref: spec.GitRef{Branch: "main"},
			path: "./deploy/prod", schedule: "30 4 * * 0", target: "apps",
			lastSchedule: at(7*time.Hour + 30*time.Minute),
			entries:      webEntries, record: webRecord,
			history: []inventory.History{
				{Revision: revWebPrev, Time: at(3 * 24 * time.Hour), Result: inventory.ResultSucceeded, Message: "applied 7 objects: 7 created",
					ObjectCount: 7, Duration: metav1.Duration{Duration: 9 * time.Second}, Counts: map[string]int{"created": 7}},
				{Revision: revWebPrev, Time: at(2 * 24 * time.Hour), Result: inventory.ResultFailed,
					Message:  "render: deploy/prod/kustomization.yaml: accumulating resources: ingress.yaml: no such file",
					Duration: metav1.Duration{Duration: 2 * time.Second}},
				{Revision: revWeb, Time: at(25 * time.Hour), Result: inventory.ResultSucceeded, Message: "applied 8 objects: 1 created, 7 unchanged",
					ObjectCount: 8, Duration: metav1.Duration{Duration: 5 * time.Second}, Counts: map[string]int{"created": 1, "unchanged": 7}},
				{Revision: revWeb, Time: at(10 * time.Minute), Result: inventory.ResultSucceeded, Message: webRun.Message,
					ObjectCount: 8, Duration: webRun.Duration, Counts: webRun.Counts},
			},
		},
		{
			name: "api", url: "ssh://git@git.example.com/platform/api.git", ref: spec.GitRef{SemVer: ">=1.4.0 <2"}, secret: "deploy-key",
			schedule: "*/10 * * * *", pin: revAPIPrev,
			lastSchedule: at(2*time.Hour + time.Minute),
			entries: []inventory.Entry{
				entry("", "v1", "ConfigMap", "configmaps", ns, "api-config"),
				entry("", "v1", "Service", "services", ns, "api"),
				entry("apps", "v1", "Deployment", "deployments", ns, "api"),
			},
			record: apiRecord,
			history: []inventory.History{
				{Revision: revAPIPrev, Time: at(26 * time.Hour), Result: inventory.ResultSucceeded, Message: "applied 3 objects",
					ObjectCount: 3, Duration: metav1.Duration{Duration: 12 * time.Second}, Counts: map[string]int{"created": 3}},
				{Revision: revAPI, Time: at(2 * time.Hour), Result: inventory.ResultFailed, Message: apiRun.Message,
					ObjectCount: 3, Duration: apiRun.Duration, Counts: apiRun.Counts},
			},
		},
		{
			name: "new", url: "https://git.example.com/platform/new.git", ref: spec.GitRef{Tag: "v0.1.0"},
			schedule: "15 3 * * 1-5", lastSchedule: at(30 * time.Minute),
		},
	}
}

// skipIfCronJobMayFire skips the test when a CronJob with one of the
// schedules, which are not suspended, could start a Job while the test runs:
// the CronJob controller would then change status.lastScheduleTime and the
// golden output with it.
func skipIfCronJobMayFire(t *testing.T, schedules ...string) {
	t.Helper()
	now := time.Now().UTC()
	for _, s := range schedules {
		sched, err := cron.ParseStandard(s)
		must(t, err)
		// install sets startingDeadlineSeconds to 5 minutes.
		if next := sched.Next(now.Add(-6 * time.Minute)); next.Before(now.Add(3 * time.Minute)) {
			t.Skipf("schedule %q fires at %s, too close to now for stable output", s, next)
		}
	}
}

// seedGolden writes goldenFixtures into a new namespace and returns it, with
// a function that makes output independent of the namespace's random name.
func seedGolden(t *testing.T) (string, func(string) string) {
	t.Helper()
	skipIfCronJobMayFire(t, "30 4 * * 0", "15 3 * * 1-5")
	ns := env.NewNamespace(t)
	ensureNamespace(t, "apps")
	for _, f := range goldenFixtures(ns) {
		seedSync(t, ns, f)
	}
	// The same length keeps table columns where they are.
	stable := ns[:len(ns)-6] + "xxxxxx"
	return ns, func(s string) string { return strings.ReplaceAll(s, ns, stable) }
}

// ensureNamespace creates namespace name unless it exists. It is not
// deleted: tests share it (the cluster goes at the end of the test binary).
func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	_, err := env.Client().CoreV1().Namespaces().Create(t.Context(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// gitsyncCLI runs `kubectl gitsync args...` in process at the golden clock
// and returns what it wrote to stdout and stderr.
func gitsyncCLI(ctx context.Context, args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	cmd := NewRootCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(withClock(ctx, func() time.Time { return goldenNow }))
	return out.String(), errOut.String(), err
}

func TestStatusGolden(t *testing.T) {
	ns, stable := seedGolden(t)
	ctx, c := t.Context(), env.Client()

	// A run of web that has not started: it shows under Active Jobs.
	cj, err := c.BatchV1().CronJobs(ns).Get(ctx, "gitsync-web", metav1.GetOptions{})
	must(t, err)
	job := install.JobFromCronJob(cj, "gitsync-web-manual-7xk2p")
	job.Spec.Suspend = ptr.To(true)
	_, err = c.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{})
	must(t, err)

	tests := []struct {
		name, golden string
		args         []string
	}{
		{"table", "testdata/status/table.txt", []string{"status"}},
		{"wide", "testdata/status/wide.txt", []string{"status", "-o", "wide"}},
		{"detail", "testdata/status/web.txt", []string{"status", "web"}},
		{"detail of a failed, pinned sync", "testdata/status/api.txt", []string{"status", "api"}},
		{"detail of a sync that never ran", "testdata/status/new.txt", []string{"status", "new"}},
		{"detail json", "testdata/status/web.json", []string{"status", "web", "-o", "json"}},
		{"list yaml", "testdata/status/list.yaml", []string{"status", "-o", "yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := gitsyncCLI(ctx, append(tt.args, "--kubeconfig", env.KubeconfigPath(), "-n", ns)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, errOut)
			}
			golden(t, tt.golden, stable(out))
		})
	}

	t.Run("json is the SyncStatus", func(t *testing.T) {
		out, _, err := gitsyncCLI(ctx, "status", "api", "-o", "json", "--kubeconfig", env.KubeconfigPath(), "-n", ns)
		must(t, err)
		var st action.SyncStatus
		must(t, json.Unmarshal([]byte(out), &st))
		want := action.SyncStatus{
			Name: "api", Namespace: ns, Source: action.SourceStatus{Kind: "git", URL: "ssh://git@git.example.com/platform/api.git", Ref: "semver >=1.4.0 <2",
				Digest: "sha1:aa11bb22cc33dd44ee55ff6600778899aabbccdd", Details: []string{"credentials from Secret deploy-key"}},
			Path: "./", Prune: true, Schedule: "*/10 * * * *", Suspended: true, PinnedRevision: revAPIPrev,
			LastAppliedRevision: revAPIPrev, LastAttemptedRevision: revAPI, Objects: 3,
		}
		got := st
		got.LastScheduleTime, got.LastAppliedTime, got.LastCheckedTime, got.LastRun, got.ObjectsByKind, got.History = nil, nil, nil, nil, nil, nil
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("status (-want +got):\n%s", diff)
		}
		if st.LastRun == nil || st.LastRun.Result != inventory.ResultFailed || len(st.History) != 2 || st.History[0].Number != 2 {
			t.Errorf("lastRun %+v, history %+v", st.LastRun, st.History)
		}
	})

	t.Run("no syncs", func(t *testing.T) {
		empty := env.NewNamespace(t)
		out, errOut, err := gitsyncCLI(ctx, "status", "--kubeconfig", env.KubeconfigPath(), "-n", empty)
		if err != nil || out != "" || errOut != "No syncs found in namespace "+empty+".\n" {
			t.Errorf("err %v, stdout %q, stderr %q", err, out, errOut)
		}
	})

	t.Run("unknown sync", func(t *testing.T) {
		_, _, err := gitsyncCLI(ctx, "status", "nope", "--kubeconfig", env.KubeconfigPath(), "-n", ns)
		wantExit(t, err, ExitError, "sync nope in namespace "+ns+": sync not found")
	})

	t.Run("flags", func(t *testing.T) {
		for _, args := range [][]string{{"status", "web", "-A"}, {"status", "-o", "table"}, {"status", "Web"}, {"status", "-o", "jsonpath={.items["}} {
			_, _, err := gitsyncCLI(ctx, append(args, "--kubeconfig", env.KubeconfigPath())...)
			if ExitCode(err) != ExitError {
				t.Errorf("%v: error %v, want a usage error", args, err)
			}
		}
	})
}

func TestStatusAllNamespaces(t *testing.T) {
	ctx := t.Context()
	nsA, nsB := env.NewNamespace(t), env.NewNamespace(t)
	seedSync(t, nsA, syncFixture{name: "one", url: "https://git.example.com/one.git", suspend: true})
	seedSync(t, nsB, syncFixture{name: "two", url: "https://git.example.com/two.git", suspend: true})
	out, _, err := gitsyncCLI(ctx, "status", "-A", "--kubeconfig", env.KubeconfigPath())
	must(t, err)
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "NAMESPACE ") || !strings.Contains(lines[0], " NEXT RUN ") {
		t.Errorf("header %q", lines[0])
	}
	rows := map[string]string{}
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f) > 2 {
			rows[f[0]+"/"+f[1]] = l
		}
	}
	for _, id := range []string{nsA + "/one", nsB + "/two"} {
		row, ok := rows[id]
		if !ok {
			t.Errorf("no row for %s in\n%s", id, out)
			continue
		}
		if !strings.HasSuffix(row, "true") {
			t.Errorf("row %q: SUSPENDED is not true", row)
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestStatusWatch(t *testing.T) {
	for _, args := range [][]string{{"status", "web", "--watch"}, {"status", "--watch", "-o", "wide"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			ns := env.NewNamespace(t)
			ensureNamespace(t, "apps")
			f := goldenFixtures(ns)[0]
			seedSync(t, ns, f)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var out lockedBuffer
			cmd := NewRootCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out})
			cmd.SetArgs(append(args, "--kubeconfig", env.KubeconfigPath(), "-n", ns))
			done := make(chan error, 1)
			go func() { done <- cmd.ExecuteContext(withClock(ctx, func() time.Time { return goldenNow })) }()

			waitOutput(t, &out, f.record.LastRun.Message, done)
			// A run records a new result.
			store := &inventory.Store{Client: env.Client(), Namespace: ns, Sync: "web"}
			inv, err := store.Load(ctx)
			must(t, err)
			msg := "run at " + time.Now().Format(time.RFC3339Nano)
			inv.Record.Fail(inventory.Run{Revision: revWeb, Start: goldenNow.Add(-time.Minute), End: goldenNow, Message: msg})
			must(t, store.Save(ctx, inv))
			waitOutput(t, &out, msg, done)

			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("interrupted watch returned %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("watch did not end when its context was cancelled")
			}
		})
	}
}

// waitOutput waits until out contains want, failing if the command ends or
// 20 seconds pass first.
func waitOutput(t *testing.T, out *lockedBuffer, want string, done <-chan error) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for !strings.Contains(out.String(), want) {
		select {
		case err := <-done:
			t.Fatalf("command ended (%v) before printing %q:\n%s", err, want, out.String())
		case <-deadline:
			t.Fatalf("no %q after 20s in:\n%s", want, out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func TestStatusTableShowsProblems(t *testing.T) {
	s := &action.Sync{Ref: action.Ref{Name: "broken", Namespace: "ns"}, SpecErr: errors.New("ConfigMap/ns/gitsync-broken: sync.yaml: spec.source: Required value")}
	st := action.BuildStatus(s, goldenNow)
	var out bytes.Buffer
	must(t, printStatusTable(&out, []action.SyncStatus{st}, goldenNow, false, true, false))
	if !strings.Contains(out.String(), "spec: ConfigMap/ns/gitsync-broken") {
		t.Errorf("wide table does not show the problem:\n%s", out.String())
	}
}
