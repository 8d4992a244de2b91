package syncrun

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/tests/gitserver"
)

// secondSync returns a fixture for another sync, named name, in f's
// namespace, fed by its own repository on f's Git server.
func (f *fixture) secondSync(name string) *fixture {
	f.t.Helper()
	repo, err := f.git.CreateRepo(f.t.Context(), name)
	if err != nil {
		f.t.Fatal(err)
	}
	return &fixture{t: f.t, ns: f.ns, name: name, git: f.git, repo: repo}
}

// TestTwoSyncsOneObject: two syncs that declare the same object do not take
// it from each other: the second fails, naming both syncs, until it adopts
// the object explicitly (spec.adopt); then the first fails the same way.
func TestTwoSyncsOneObject(t *testing.T) {
	a := newFixture(t, gitserver.Options{})
	b := a.secondSync("other")
	a.commit(map[string]string{"deploy/shared.yaml": cm("shared", "from a"), "deploy/a.yaml": cm("only-a", "1")})
	b.commit(map[string]string{"deploy/shared.yaml": cm("shared", "from b"), "deploy/b.yaml": cm("only-b", "1")})
	a.install(a.git.HTTPURL("app"), "", "")
	b.install(b.git.HTTPURL("other"), "", "")
	a.mustSucceed(a.run())

	res := b.run()
	if res.Outcome != Failed {
		t.Fatalf("second sync declaring the same object: outcome %s (%s), want Failed", res.Outcome, res.Message)
	}
	for _, want := range []string{"ConfigMap/" + a.ns + "/shared", "sync " + a.ns + "/app", "sync " + a.ns + "/other", "gitsync.io/adopt"} {
		if !strings.Contains(res.Message, want) {
			t.Errorf("message %q does not mention %q", res.Message, want)
		}
	}
	t.Log(res.Message)
	shared, _ := a.configMap("shared")
	if shared.Labels[inventory.LabelSync] != "app" || shared.Data["value"] != "from a" {
		t.Errorf("the first sync's object was taken: labels %v, data %v", shared.Labels, shared.Data)
	}

	// The second sync adopts it explicitly.
	b.install(b.git.HTTPURL("other"), "", "  adopt: true\n")
	res = b.run()
	b.mustSucceed(res)
	t.Log(res.Message)
	if !strings.Contains(res.Message, "ConfigMap/"+a.ns+"/shared") || !strings.Contains(res.Message, "took 1 object") {
		t.Errorf("the adoption is not reported: %q", res.Message)
	}
	shared, _ = a.configMap("shared")
	if shared.Labels[inventory.LabelSync] != "other" || shared.Data["value"] != "from b" {
		t.Errorf("after adoption: labels %v, data %v", shared.Labels, shared.Data)
	}
	a.commit(map[string]string{"deploy/a.yaml": cm("only-a", "2")})
	if res := a.run(); res.Outcome != Failed || !strings.Contains(res.Message, "sync "+a.ns+"/other") {
		t.Errorf("the first sync after the adoption: %s %q; want Failed naming the other sync", res.Outcome, res.Message)
	}
}

// TestAdoptionIsReported: objects made by other tools (kubectl, Helm) and
// not labelled by any sync are adopted, and the run's summary and record
// say which and from whom.
func TestAdoptionIsReported(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	for name, manager := range map[string]string{"legacy": "kubectl-client-side-apply", "charted": "helm"} {
		_, err := env.Client().CoreV1().ConfigMaps(f.ns).Create(t.Context(), &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns, Labels: map[string]string{"app.kubernetes.io/managed-by": manager}},
		}, metav1.CreateOptions{FieldManager: manager})
		if err != nil {
			t.Fatal(err)
		}
	}
	f.commit(map[string]string{"deploy/a.yaml": cm("legacy", "1"), "deploy/b.yaml": cm("charted", "1"), "deploy/c.yaml": cm("fresh", "1")})
	f.install(f.git.HTTPURL("app"), "", "")
	res := f.run()
	f.mustSucceed(res)
	for _, want := range []string{"adopted 2 objects made by others", "ConfigMap/" + f.ns + "/legacy (kubectl-client-side-apply)", "ConfigMap/" + f.ns + "/charted (helm)"} {
		if !strings.Contains(res.Message, want) {
			t.Errorf("message %q does not mention %q", res.Message, want)
		}
	}
	if strings.Contains(res.Message, "fresh") {
		t.Errorf("a created object is reported adopted: %q", res.Message)
	}
	t.Log(res.Message)
	if rec := f.inventory().Record; rec.LastRun.Message != res.Message {
		t.Errorf("recorded message %q, want %q", rec.LastRun.Message, res.Message)
	}

	f.commit(map[string]string{"deploy/a.yaml": cm("legacy", "2")})
	res = f.run()
	f.mustSucceed(res)
	if strings.Contains(res.Message, "adopted") {
		t.Errorf("objects already ours are reported adopted again: %q", res.Message)
	}
}
