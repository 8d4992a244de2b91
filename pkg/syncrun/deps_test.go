package syncrun

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/spec"
	"github.com/gitsync/gitsync/tests/gitserver"
)

// depSync is one sync of a dependsOn test, installed as `kubectl gitsync
// install` installs it (namespace mode): its run uses the job's
// ServiceAccount, so that the RBAC install generates is what is tested.
type depSync struct {
	name, ns string
	cfg      *rest.Config
	cluster  bool // installed with --rbac=cluster
}

// installDep installs sync name in ns, rendering ./name of url, with
// extra YAML under spec: (two spaces). Its CronJob has a yearly schedule:
// only a dependency's trigger starts it during a test.
func installDep(t *testing.T, ns, name, url, extra string) *depSync {
	t.Helper()
	return installDepMode(t, ns, name, url, extra, install.RBACNamespace)
}

// installDepMode is installDep with RBAC mode mode.
func installDepMode(t *testing.T, ns, name, url, extra string, mode install.RBACMode) *depSync {
	t.Helper()
	doc := fmt.Sprintf(`apiVersion: gitsync.io/v1alpha1
kind: Sync
metadata: {name: %s, namespace: %s}
spec:
  schedule: "0 0 1 1 *"
  source: {git: {url: %s, insecure: true, ref: {branch: main}}}
  path: ./%s
%s`, name, ns, url, name, extra)
	s, err := spec.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("test spec: %v\n%s", err, doc)
	}
	objs, err := install.Generate(s, install.Options{Image: "example.com/gitsync/sync-job:v0.0.0", RBAC: mode})
	if err != nil {
		t.Fatal(err)
	}
	y, err := install.Marshal(objs.List(), install.FormatYAML)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.ApplyYAML(t.Context(), ns, string(y)); err != nil {
		t.Fatal(err)
	}
	cfg, err := env.ServiceAccountConfig(t.Context(), ns, names.ServiceAccount(name))
	if err != nil {
		t.Fatal(err)
	}
	return &depSync{name: name, ns: ns, cfg: cfg, cluster: mode == install.RBACCluster}
}

func (d *depSync) run(t *testing.T) *Result {
	t.Helper()
	res, err := Run(t.Context(), Options{Name: d.name, Namespace: d.ns, Config: d.cfg, NamespaceScoped: !d.cluster,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if err != nil {
		t.Fatalf("Run %s: %v", d.name, err)
	}
	return res
}

func (d *depSync) record(t *testing.T) inventory.Record {
	t.Helper()
	inv, err := (&inventory.Store{Client: env.Client(), Namespace: d.ns, Sync: d.name}).Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return inv.Record
}

func (d *depSync) history(t *testing.T) []inventory.History {
	t.Helper()
	h, err := (&inventory.Store{Client: env.Client(), Namespace: d.ns, Sync: d.name}).ListHistory(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// jobs returns the names of the Jobs started for sync name in ns, and who
// started each (the triggered-by annotation).
func jobsOf(t *testing.T, ns, name string) map[string]string {
	t.Helper()
	list, err := env.Client().BatchV1().Jobs(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, j := range list.Items {
		if strings.HasPrefix(j.Name, names.CronJob(name)+"-dep-") {
			out[j.Name] = j.Annotations[names.TriggeredBy]
		}
	}
	return out
}

// mustWait checks that res applied nothing and says, as the record does,
// that it waits on want for a reason containing why.
func mustWait(t *testing.T, d *depSync, res *Result, want, why string) {
	t.Helper()
	if res.Outcome != DependencyNotReady {
		t.Fatalf("run of %s: %s (%v), want DependencyNotReady", d.name, res.Outcome, res.Message)
	}
	wantMsg := "DependencyNotReady: " + want + " " + why
	if !strings.Contains(res.Message, wantMsg) {
		t.Errorf("message %q does not contain %q", res.Message, wantMsg)
	}
	rec := d.record(t)
	if rec.LastRun.Result != inventory.ResultDependencyNotReady || rec.LastRun.Message != res.Message {
		t.Errorf("record: result %q, message %q; want DependencyNotReady, %q", rec.LastRun.Result, rec.LastRun.Message, res.Message)
	}
	if !slices.Contains(rec.LastRun.WaitingOn, want) {
		t.Errorf("record waitingOn %v, want %s", rec.LastRun.WaitingOn, want)
	}
	if exists(t, env, d.ns, "ConfigMap", d.name+"-config") {
		t.Errorf("%s applied its objects while waiting", d.name)
	}
}

// TestDependsOnGate runs a dependent sync b against its dependency a in
// each state: missing, never run, failed, behind (a failed at a newer
// revision) and ready. Only the last applies anything; the others exit
// with DependencyNotReady and say why.
func TestDependsOnGate(t *testing.T) {
	ctx := t.Context()
	ns := env.NewNamespace(t)
	git, repo := gitserver.StartTestRepo(t, gitserver.Options{}, "app")
	if _, err := repo.Commit(ctx, "v1", map[string]string{"a/config.yaml": cm("a-config", "v1"), "b/config.yaml": cm("b-config", "v1")}); err != nil {
		t.Fatal(err)
	}
	url := git.HTTPURL("app")
	a := ns + "/a"

	b := installDep(t, ns, "b", url, "  dependsOn: [{name: a}]\n")
	res := b.run(t)
	mustWait(t, b, res, a, "does not exist")
	// Waiting again for the same reason adds no history entry.
	b.run(t)
	if h := b.history(t); len(h) != 1 || h[0].Result != inventory.ResultDependencyNotReady {
		t.Errorf("history after two waits: %+v, want one DependencyNotReady entry", h)
	}

	da := installDep(t, ns, "a", url, "")
	mustWait(t, b, b.run(t), a, "has not run yet")

	// a fails: bad YAML at a's path.
	if _, err := repo.Commit(ctx, "break a", map[string]string{"a/config.yaml": "kind: ConfigMap\n  bad: [\n"}); err != nil {
		t.Fatal(err)
	}
	if res := da.run(t); res.Outcome != Failed {
		t.Fatalf("run of a on a broken commit: %s, want Failed", res.Outcome)
	}
	mustWait(t, b, b.run(t), a, "last run failed")

	// a recovers: b applies.
	if _, err := repo.Commit(ctx, "fix a", map[string]string{"a/config.yaml": cm("a-config", "v2")}); err != nil {
		t.Fatal(err)
	}
	if res := da.run(t); res.Outcome != Succeeded {
		t.Fatalf("run of a: %s: %v", res.Outcome, res.Err)
	}
	if res := b.run(t); res.Outcome != Succeeded {
		t.Fatalf("run of b with a ready: %s: %s", res.Outcome, res.Message)
	}
	if !exists(t, env, ns, "ConfigMap", "b-config") {
		t.Fatal("b did not apply its objects once a was ready")
	}

	// a falls behind: it applied v2 and fails at the next revision.
	if _, err := repo.Commit(ctx, "break a again", map[string]string{"a/config.yaml": "kind: ConfigMap\n  bad: [\n"}); err != nil {
		t.Fatal(err)
	}
	if res := da.run(t); res.Outcome != Failed {
		t.Fatalf("run of a: %s, want Failed", res.Outcome)
	}
	rec := da.record(t)
	if rec.LastAppliedRevision == rec.LastAttemptedRevision {
		t.Fatalf("a's record: applied %s = attempted: the test needs a revision behind", rec.LastAppliedRevision)
	}
	if err := env.Client().CoreV1().ConfigMaps(ns).Delete(ctx, "b-config", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	res = b.run(t)
	mustWait(t, b, res, a, "last run failed")
	if hist := b.history(t); hist[0].Result != inventory.ResultDependencyNotReady {
		t.Errorf("newest history entry %+v, want the wait", hist[0])
	}
}

// TestDependsOnCrossNamespace checks that a namespace-mode sync depending
// on a sync of another namespace reads its state with the Role install
// writes there, and nothing more.
func TestDependsOnCrossNamespace(t *testing.T) {
	ctx := t.Context()
	nsA, nsB := env.NewNamespace(t), env.NewNamespace(t)
	git, repo := gitserver.StartTestRepo(t, gitserver.Options{}, "app")
	if _, err := repo.Commit(ctx, "v1", map[string]string{"a/config.yaml": cm("a-config", "v1"), "b/config.yaml": cm("b-config", "v1")}); err != nil {
		t.Fatal(err)
	}
	url := git.HTTPURL("app")
	da := installDep(t, nsA, "a", url, "")
	b := installDep(t, nsB, "b", url, fmt.Sprintf("  dependsOn: [{name: a, namespace: %s}]\n", nsA))
	mustWait(t, b, b.run(t), nsA+"/a", "has not run yet")
	if res := da.run(t); res.Outcome != Succeeded {
		t.Fatalf("run of a: %s: %v", res.Outcome, res.Err)
	}
	if res := b.run(t); res.Outcome != Succeeded {
		t.Fatalf("run of b: %s: %s", res.Outcome, res.Message)
	}
	// The reader Role names a's ConfigMaps only.
	if _, err := env.Client().CoreV1().ConfigMaps(nsA).Get(ctx, "a-config", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	bClient := kubernetes.NewForConfigOrDie(b.cfg)
	if _, err := bClient.CoreV1().ConfigMaps(nsA).Get(ctx, "a-config", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("b reading another ConfigMap of a's namespace: %v, want Forbidden", err)
	}
}

// TestDependsOnTrigger checks that a run of a that applied something
// starts exactly its dependents' runs (b and c, not d, not the suspended
// e), with the rights install gave a's ServiceAccount, and that a run
// that changed nothing, or failed, starts none.
func TestDependsOnTrigger(t *testing.T) {
	ctx := t.Context()
	ns := env.NewNamespace(t)
	git, repo := gitserver.StartTestRepo(t, gitserver.Options{}, "app")
	files := map[string]string{}
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		files[n+"/config.yaml"] = cm(n+"-config", "v1")
	}
	if _, err := repo.Commit(ctx, "v1", files); err != nil {
		t.Fatal(err)
	}
	url := git.HTTPURL("app")
	da := installDep(t, ns, "a", url, "")
	installDep(t, ns, "b", url, "  dependsOn: [{name: a}]\n")
	installDep(t, ns, "c", url, fmt.Sprintf("  dependsOn: [{name: a, namespace: %s}, {name: b}]\n", ns))
	installDep(t, ns, "d", url, "")
	installDep(t, ns, "e", url, "  suspend: true\n  dependsOn: [{name: a}]\n")

	if res := da.run(t); res.Outcome != Succeeded {
		t.Fatalf("run of a: %s: %v", res.Outcome, res.Err)
	}
	for _, n := range []string{"b", "c"} {
		jobs := jobsOf(t, ns, n)
		if len(jobs) != 1 {
			t.Errorf("Jobs of %s after a's run: %v, want one", n, jobs)
		}
		for j, by := range jobs {
			if by != ns+"/a" {
				t.Errorf("Job %s: triggered-by %q, want %s/a", j, by, ns)
			}
		}
	}
	for _, n := range []string{"a", "d", "e"} {
		if jobs := jobsOf(t, ns, n); len(jobs) != 0 {
			t.Errorf("Jobs of %s after a's run: %v, want none", n, jobs)
		}
	}

	// Nothing changed: nothing started.
	if res := da.run(t); res.Outcome != Succeeded || res.Rendered {
		t.Fatalf("second run of a: %s, rendered %v; want an unchanged success", res.Outcome, res.Rendered)
	}
	// Failed: nothing started.
	if _, err := repo.Commit(ctx, "break a", map[string]string{"a/config.yaml": "kind: ConfigMap\n  bad: [\n"}); err != nil {
		t.Fatal(err)
	}
	if res := da.run(t); res.Outcome != Failed {
		t.Fatalf("run of a on a broken commit: %s, want Failed", res.Outcome)
	}
	if jobs := jobsOf(t, ns, "b"); len(jobs) != 1 {
		t.Errorf("Jobs of b after a run that changed nothing and one that failed: %v, want still one", jobs)
	}
}

// TestDependsOnCycleAtRun checks that a cycle written around install (a
// spec ConfigMap edited by hand) fails the run, spelled out, before
// anything is applied.
func TestDependsOnCycleAtRun(t *testing.T) {
	ctx := t.Context()
	ns := env.NewNamespace(t)
	git, repo := gitserver.StartTestRepo(t, gitserver.Options{}, "app")
	if _, err := repo.Commit(ctx, "v1", map[string]string{"a/config.yaml": cm("a-config", "v1"), "b/config.yaml": cm("b-config", "v1"), "c/config.yaml": cm("c-config", "v1")}); err != nil {
		t.Fatal(err)
	}
	url := git.HTTPURL("app")
	da := installDep(t, ns, "a", url, "  dependsOn: [{name: c}]\n")
	installDep(t, ns, "b", url, "  dependsOn: [{name: a}]\n")
	installDep(t, ns, "c", url, "  dependsOn: [{name: b}]\n")
	res := da.run(t)
	want := fmt.Sprintf("dependsOn: cycle: %[1]s/a → %[1]s/c → %[1]s/b → %[1]s/a", ns)
	if res.Outcome != Failed || !strings.Contains(res.Message, want) {
		t.Fatalf("run of a in a cycle: %s %q, want Failed with %q", res.Outcome, res.Message, want)
	}
	if rec := da.record(t); rec.LastRun.Result != inventory.ResultFailed || !strings.Contains(rec.LastRun.Message, want) {
		t.Errorf("record: %s %q", rec.LastRun.Result, rec.LastRun.Message)
	}
	if exists(t, env, ns, "ConfigMap", "a-config") {
		t.Error("a run in a cycle applied its objects")
	}
}

// TestDependsOnTriggerAcrossNamespaces checks that a cluster-mode
// dependency starts a dependent of another namespace, which a
// namespace-mode one cannot see.
func TestDependsOnTriggerAcrossNamespaces(t *testing.T) {
	ctx := t.Context()
	nsA, nsB := env.NewNamespace(t), env.NewNamespace(t)
	git, repo := gitserver.StartTestRepo(t, gitserver.Options{}, "app")
	if _, err := repo.Commit(ctx, "v1", map[string]string{"a/config.yaml": cm("a-config", "v1"), "b/config.yaml": cm("b-config", "v1")}); err != nil {
		t.Fatal(err)
	}
	url := git.HTTPURL("app")
	// a applies into nsA (its ConfigMap names no namespace).
	da := installDepMode(t, nsA, "a", url, "", install.RBACCluster)
	installDep(t, nsB, "b", url, fmt.Sprintf("  dependsOn: [{name: a, namespace: %s}]\n", nsA))
	if res := da.run(t); res.Outcome != Succeeded {
		t.Fatalf("run of a: %s: %v", res.Outcome, res.Err)
	}
	jobs := jobsOf(t, nsB, "b")
	if len(jobs) != 1 {
		t.Fatalf("Jobs of b in %s after a's run: %v, want one", nsB, jobs)
	}
	for _, by := range jobs {
		if by != nsA+"/a" {
			t.Errorf("triggered-by %q, want %s/a", by, nsA)
		}
	}
}
