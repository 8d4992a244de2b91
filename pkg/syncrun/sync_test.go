package syncrun

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gitsync/gitsync/pkg/health"
	"github.com/gitsync/gitsync/pkg/health/celeval"
	"github.com/gitsync/gitsync/pkg/health/celexec"
	"github.com/gitsync/gitsync/pkg/helm"
	"github.com/gitsync/gitsync/pkg/helm/chartrender"
	"github.com/gitsync/gitsync/pkg/helm/helmexec"
	"github.com/gitsync/gitsync/pkg/helm/sdk"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/lease"
	"github.com/gitsync/gitsync/pkg/source/oci"
	"github.com/gitsync/gitsync/pkg/source/oci/sigcheck"
	sigsdk "github.com/gitsync/gitsync/pkg/source/oci/sigcheck/sdk"
	"github.com/gitsync/gitsync/pkg/source/oci/sigcheck/sigexec"
	"github.com/gitsync/gitsync/pkg/spec"
	"github.com/gitsync/gitsync/tests/cluster"
	"github.com/gitsync/gitsync/tests/gitserver"
)

var env *cluster.Cluster

// inProcess is the package's chart renderer: in the test process (as
// the plugin), or the child with GITSYNC_HELM_RENDERER (see TestMain).
var inProcess chartrender.Renderer = sdk.Renderer{}

func TestMain(m *testing.M) {
	// Charts render in process (helmrenderer_test.go runs the child);
	// with GITSYNC_HELM_RENDERER set, every chart renders in that program,
	// as in sync-job.
	// Sigstore signatures likewise: in process, or in `sync-job-helm
	// verify` with GITSYNC_HELM_RENDERER set.
	// And CEL health expressions.
	var checker sigcheck.Checker = sigsdk.Checker{}
	var cel health.Engine = celeval.Engine{}
	if os.Getenv(helmexec.EnvProgram) != "" {
		inProcess = helmexec.Renderer{}
		checker = sigexec.Checker{}
		cel = celexec.New("")
	}
	helm.UseRenderer(inProcess)
	oci.UseChecker(checker)
	health.UseEngine(cel)
	os.Exit(cluster.Run(m, cluster.Options{}, &env))
}

// fixture is one sync in its own namespace, fed by its own Git repository.
type fixture struct {
	t    *testing.T
	ns   string
	name string
	git  *gitserver.Server
	repo *gitserver.Repo
}

func newFixture(t *testing.T, opts gitserver.Options) *fixture {
	t.Helper()
	ctx := t.Context()
	git := gitserver.StartTest(t, opts)
	repo, err := git.CreateRepo(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, ns: env.NewNamespace(t), name: "app", git: git, repo: repo}
}

// commit writes files (path → content) as one commit.
func (f *fixture) commit(files map[string]string) string {
	f.t.Helper()
	sha, err := f.repo.Commit(f.t.Context(), "update", files)
	if err != nil {
		f.t.Fatal(err)
	}
	return sha
}

func (f *fixture) remove(paths ...string) {
	f.t.Helper()
	if _, err := f.repo.Remove(f.t.Context(), "remove", paths...); err != nil {
		f.t.Fatal(err)
	}
}

// install writes the sync's spec ConfigMap; extra is YAML indented under
// spec: (two spaces).
func (f *fixture) install(url, ref, extra string) {
	f.t.Helper()
	if ref == "" {
		ref = "branch: main"
	}
	doc := fmt.Sprintf(`apiVersion: gitsync.io/v1alpha1
kind: Sync
metadata:
  name: %s
  namespace: %s
spec:
  source:
    git:
      url: %s
      insecure: %v
      ref:
        %s
  path: ./deploy
%s`, f.name, f.ns, url, strings.HasPrefix(url, "http://"), ref, extra)
	f.writeSpec(doc)
}

// writeSpec checks that doc parses and writes it as the sync's spec
// ConfigMap, creating or replacing it.
func (f *fixture) writeSpec(doc string) {
	f.t.Helper()
	if _, err := spec.Parse([]byte(doc)); err != nil {
		f.t.Fatalf("test spec does not parse: %v\n%s", err, doc)
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: spec.ConfigMapName(f.name), Namespace: f.ns},
		Data:       map[string]string{spec.ConfigMapKey: doc},
	}
	cms := env.Client().CoreV1().ConfigMaps(f.ns)
	if _, err := cms.Create(f.t.Context(), cm, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
		if _, err := cms.Update(f.t.Context(), cm, metav1.UpdateOptions{}); err != nil {
			f.t.Fatal(err)
		}
	} else if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) run() *Result {
	f.t.Helper()
	return f.runWith(Options{})
}

func (f *fixture) runWith(o Options) *Result {
	f.t.Helper()
	o.Name, o.Namespace = f.name, f.ns
	if o.Config == nil {
		o.Config = env.Config()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(testWriter{f.t}, nil))
	}
	res, err := Run(f.t.Context(), o)
	if err != nil {
		f.t.Fatalf("Run: %v", err)
	}
	return res
}

func (f *fixture) mustSucceed(res *Result) {
	f.t.Helper()
	if res.Outcome != Succeeded {
		f.t.Fatalf("run %s: %v (%s)", res.Outcome, res.Err, res.Message)
	}
}

func (f *fixture) configMap(name string) (*corev1.ConfigMap, error) {
	return env.Client().CoreV1().ConfigMaps(f.ns).Get(f.t.Context(), name, metav1.GetOptions{})
}

// configMapData returns ConfigMap name's data; a missing one fails the
// test.
func (f *fixture) configMapData(name string) map[string]string {
	f.t.Helper()
	c, err := f.configMap(name)
	if err != nil {
		f.t.Fatal(err)
	}
	return c.Data
}

func (f *fixture) mustHave(names ...string) {
	f.t.Helper()
	for _, n := range names {
		if _, err := f.configMap(n); err != nil {
			f.t.Errorf("ConfigMap %s: %v", n, err)
		}
	}
}

func (f *fixture) mustNotHave(names ...string) {
	f.t.Helper()
	for _, n := range names {
		if _, err := f.configMap(n); !apierrors.IsNotFound(err) {
			f.t.Errorf("ConfigMap %s: want NotFound, got %v", n, err)
		}
	}
}

func (f *fixture) inventory() *inventory.Inventory {
	f.t.Helper()
	s := &inventory.Store{Client: env.Client(), Namespace: f.ns, Sync: f.name}
	inv, err := s.Load(f.t.Context())
	if err != nil {
		f.t.Fatal(err)
	}
	return inv
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func cm(name, value string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\ndata:\n  value: %q\n", name, value)
}

func TestCreateUpdatePrune(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	sha1 := f.commit(map[string]string{
		"deploy/a.yaml": cm("a", "1"),
		"deploy/b.yaml": cm("b", "1"),
		"README.md":     "not a manifest, outside path",
	})
	f.install(f.git.HTTPURL("app"), "", "  targetNamespace: "+"\"\"\n")
	res := f.run()
	f.mustSucceed(res)
	if want := "main@sha1:" + sha1; res.Revision != want {
		t.Errorf("revision %q, want %q", res.Revision, want)
	}
	f.mustHave("a", "b")
	a, _ := f.configMap("a")
	if a.Labels[inventory.LabelApplySetPartOf] == "" || a.Labels[inventory.LabelSync] != f.name {
		t.Errorf("applied object lacks gitsync labels: %v", a.Labels)
	}
	inv := f.inventory()
	if len(inv.Entries) != 2 || inv.Record.LastAppliedRevision != res.Revision {
		t.Fatalf("inventory %d entries, record %+v", len(inv.Entries), inv.Record)
	}
	events, err := env.Client().CoreV1().Events(f.ns).List(t.Context(), metav1.ListOptions{
		FieldSelector: "involvedObject.kind=ConfigMap,involvedObject.name=" + spec.ConfigMapName(f.name),
	})
	if err != nil || len(events.Items) != 1 || events.Items[0].Reason != "Synced" || !strings.Contains(events.Items[0].Message, sha1) {
		t.Errorf("Events on the spec ConfigMap: %+v, %v; want one Synced naming the revision", events, err)
	}

	// Update a, remove b, add c.
	f.commit(map[string]string{"deploy/a.yaml": cm("a", "2"), "deploy/c.yaml": cm("c", "1")})
	f.remove("deploy/b.yaml")
	res = f.run()
	f.mustSucceed(res)
	f.mustHave("a", "c")
	f.mustNotHave("b")
	a, _ = f.configMap("a")
	if a.Data["value"] != "2" {
		t.Errorf("a.value = %q, want 2", a.Data["value"])
	}
	if got := len(f.inventory().Entries); got != 2 {
		t.Errorf("inventory has %d entries after prune, want 2", got)
	}

	// Nothing changed: no render, no writes to the objects.
	before, _ := f.configMap("a")
	res = f.run()
	f.mustSucceed(res)
	if res.Rendered {
		t.Error("an unchanged revision was fetched and rendered again")
	}
	after, _ := f.configMap("a")
	if before.ResourceVersion != after.ResourceVersion {
		t.Error("an unchanged object was written")
	}
	hist, err := (&inventory.Store{Client: env.Client(), Namespace: f.ns, Sync: f.name}).ListHistory(t.Context())
	if err != nil || len(hist) != 2 {
		t.Errorf("history: %d entries, %v; want 2 (one per applied revision)", len(hist), err)
	}
}

func TestDriftIsCorrected(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	f.commit(map[string]string{"deploy/a.yaml": cm("a", "git"), "deploy/b.yaml": cm("b", "git"), "deploy/c.yaml": cm("c", "git")})
	f.install(f.git.HTTPURL("app"), "", "")
	f.mustSucceed(f.run())

	// kubectl edit of a, kubectl delete of b.
	a, _ := f.configMap("a")
	a.Data["value"] = "edited"
	if _, err := env.Client().CoreV1().ConfigMaps(f.ns).Update(t.Context(), a, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	if err := env.Client().CoreV1().ConfigMaps(f.ns).Delete(t.Context(), "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	cBefore, _ := f.configMap("c")

	res := f.run()
	f.mustSucceed(res)
	if len(res.Drifted) != 2 {
		t.Errorf("drifted = %v, want a and b", res.Drifted)
	}
	a, _ = f.configMap("a")
	if a.Data["value"] != "git" {
		t.Errorf("edit not reverted: %q", a.Data["value"])
	}
	f.mustHave("b")
	cAfter, _ := f.configMap("c")
	if cBefore.ResourceVersion != cAfter.ResourceVersion {
		t.Error("an object without drift was written")
	}
	// And the next run finds nothing.
	res = f.run()
	f.mustSucceed(res)
	if len(res.Drifted) != 0 || res.Rendered {
		t.Errorf("second run: drifted %v, rendered %v", res.Drifted, res.Rendered)
	}
}

func TestCRDAndCustomResourceInOneCommit(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	group := strings.ReplaceAll(f.ns, "-", "") + ".example.com"
	crd := fmt.Sprintf(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.%[1]s
spec:
  group: %[1]s
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
`, group)
	cr := fmt.Sprintf("apiVersion: %s/v1\nkind: Widget\nmetadata:\n  name: w1\nspec:\n  size: 3\n", group)
	f.commit(map[string]string{"deploy/crd.yaml": crd, "deploy/widget.yaml": cr})
	f.install(f.git.HTTPURL("app"), "", "")
	f.mustSucceed(f.run())
	t.Cleanup(func() {
		_ = env.Dynamic().Resource(crdGVR).Delete(context.WithoutCancel(t.Context()), "widgets."+group, metav1.DeleteOptions{})
	})
	w, err := env.Dynamic().Resource(widgetGVR(group)).Namespace(f.ns).Get(t.Context(), "w1", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("custom resource not applied: %v", err)
	}
	if size, _, _ := unstructuredInt(w.Object, "spec", "size"); size != 3 {
		t.Errorf("spec.size = %d", size)
	}
}

func TestBadRenderAppliesNothing(t *testing.T) {
	cases := map[string]struct {
		files    map[string]string
		wantText []string
	}{
		"invalid YAML": {
			files:    map[string]string{"deploy/ok.yaml": cm("ok", "1"), "deploy/broken.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: [name: x\n"},
			wantText: []string{"broken.yaml"},
		},
		"missing kind": {
			files:    map[string]string{"deploy/ok.yaml": cm("ok", "1"), "deploy/nokind.yaml": "apiVersion: v1\nmetadata:\n  name: x\n"},
			wantText: []string{"nokind.yaml", "kind"},
		},
		"duplicate object": {
			files:    map[string]string{"deploy/ok.yaml": cm("ok", "1"), "deploy/dup.yaml": cm("ok", "2")},
			wantText: []string{"ok"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, gitserver.Options{})
			f.commit(tc.files)
			f.install(f.git.HTTPURL("app"), "", "")
			res := f.run()
			if res.Outcome != Failed {
				t.Fatalf("outcome %s, want Failed", res.Outcome)
			}
			for _, want := range tc.wantText {
				if !strings.Contains(res.Err.Error(), want) {
					t.Errorf("error %q does not name %q", res.Err, want)
				}
			}
			f.mustNotHave("ok")
			inv := f.inventory()
			if len(inv.Entries) != 0 || inv.Record.LastRun.Result != inventory.ResultFailed {
				t.Errorf("inventory after failed render: %d entries, last run %+v", len(inv.Entries), inv.Record.LastRun)
			}
		})
	}
}

func TestEmptyRenderIsRefused(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	f.commit(map[string]string{"deploy/a.yaml": cm("a", "1"), "deploy/.keep": ""})
	f.install(f.git.HTTPURL("app"), "", "")
	f.mustSucceed(f.run())
	f.remove("deploy/a.yaml")
	res := f.run()
	if res.Outcome != Failed || !strings.Contains(res.Err.Error(), "allowEmpty") {
		t.Fatalf("empty render: outcome %s, err %v; want Failed naming allowEmpty", res.Outcome, res.Err)
	}
	f.mustHave("a")
	f.install(f.git.HTTPURL("app"), "", "  allowEmpty: true\n")
	f.mustSucceed(f.run())
	f.mustNotHave("a")
}

func TestSubstitution(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	f.commit(map[string]string{"deploy/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  env: ${env}\n  region: ${region:=eu}\n  literal: $${env}\n  cluster: ${cluster_name}\n"})
	vars := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "vars", Namespace: f.ns}, Data: map[string]string{"cluster_name": "test-1", "env": "from-cm"}}
	if _, err := env.Client().CoreV1().ConfigMaps(f.ns).Create(t.Context(), vars, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.install(f.git.HTTPURL("app"), "", "  postBuild:\n    substitute:\n      env: prod\n    substituteFrom:\n    - kind: ConfigMap\n      name: vars\n    - kind: Secret\n      name: missing\n      optional: true\n")
	f.mustSucceed(f.run())
	a, err := f.configMap("a")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"env": "prod", "region": "eu", "literal": "${env}", "cluster": "test-1"}
	for k, v := range want {
		if a.Data[k] != v {
			t.Errorf("data.%s = %q, want %q", k, a.Data[k], v)
		}
	}

	// A changed variable in the ConfigMap is a reason to render again.
	vars.Data["cluster_name"] = "test-2"
	if _, err := env.Client().CoreV1().ConfigMaps(f.ns).Update(t.Context(), vars, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	res := f.run()
	f.mustSucceed(res)
	a, _ = f.configMap("a")
	if !res.Rendered || a.Data["cluster"] != "test-2" {
		t.Errorf("changed substituteFrom not applied: rendered %v, cluster %q", res.Rendered, a.Data["cluster"])
	}

	// An undefined variable without a default fails and applies nothing.
	f.commit(map[string]string{"deploy/b.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\ndata:\n  x: ${undefined_var}\n"})
	res = f.run()
	if res.Outcome != Failed || !strings.Contains(res.Err.Error(), "undefined_var") {
		t.Fatalf("undefined variable: outcome %s, err %v", res.Outcome, res.Err)
	}
	f.mustNotHave("b")
}

func TestRefsAndAuth(t *testing.T) {
	f := newFixture(t, gitserver.Options{Username: "git", Password: "s3cret", BearerToken: "tok3n"})
	f.commit(map[string]string{"deploy/a.yaml": cm("a", "v1")})
	if _, err := f.repo.Tag(t.Context(), "v1.0.0"); err != nil {
		t.Fatal(err)
	}
	f.commit(map[string]string{"deploy/a.yaml": cm("a", "v1.1")})
	if _, err := f.repo.AnnotatedTag(t.Context(), "v1.1.0", "release"); err != nil {
		t.Fatal(err)
	}
	f.commit(map[string]string{"deploy/a.yaml": cm("a", "v2")})
	if _, err := f.repo.Tag(t.Context(), "v2.0.0"); err != nil {
		t.Fatal(err)
	}
	secret := func(data map[string]string) {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "git-auth", Namespace: f.ns}, StringData: data}
		_ = env.Client().CoreV1().Secrets(f.ns).Delete(t.Context(), "git-auth", metav1.DeleteOptions{})
		if _, err := env.Client().CoreV1().Secrets(f.ns).Create(t.Context(), s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	auth := "      secretRef:\n        name: git-auth\n"
	check := func(want string) {
		t.Helper()
		res := f.run()
		f.mustSucceed(res)
		a, _ := f.configMap("a")
		if a.Data["value"] != want {
			t.Errorf("value %q, want %q (revision %s)", a.Data["value"], want, res.Revision)
		}
	}
	withAuth := func(url, ref string) {
		f.install(url, ref+"\n"+auth, "")
	}

	secret(map[string]string{"username": "git", "password": "s3cret", "ca.crt": string(f.git.CACert())})
	withAuth(f.git.HTTPSURL("app"), "semver: \">=1.0.0 <2.0.0\"")
	check("v1.1")
	withAuth(f.git.HTTPSURL("app"), "tag: v1.0.0")
	check("v1")

	secret(map[string]string{"bearerToken": "tok3n", "ca.crt": string(f.git.CACert())})
	withAuth(f.git.HTTPSURL("app"), "branch: main")
	check("v2")

	secret(map[string]string{"identity": string(f.git.ClientKey()), "known_hosts": string(f.git.KnownHosts())})
	withAuth(f.git.SSHURL("app"), "tag: v1.1.0")
	check("v1.1")

	// A host key that is not in known_hosts is refused, and nothing changes.
	other := gitserver.StartTest(t, gitserver.Options{})
	secret(map[string]string{"identity": string(f.git.ClientKey()), "known_hosts": strings.ReplaceAll(string(other.KnownHosts()), other.SSHAddr(), f.git.SSHAddr())})
	res := f.run()
	if res.Outcome != Failed {
		t.Errorf("unknown host key: outcome %s, want Failed", res.Outcome)
	}

	// Wrong password.
	secret(map[string]string{"username": "git", "password": "wrong", "ca.crt": string(f.git.CACert())})
	withAuth(f.git.HTTPSURL("app"), "branch: main")
	if res := f.run(); res.Outcome != Failed {
		t.Errorf("wrong password: outcome %s, want Failed", res.Outcome)
	}
}

func TestForcePushedBranch(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	first := f.commit(map[string]string{"deploy/a.yaml": cm("a", "1")})
	f.commit(map[string]string{"deploy/a.yaml": cm("a", "2")})
	f.install(f.git.HTTPURL("app"), "", "")
	f.mustSucceed(f.run())
	if err := f.repo.ForcePush(t.Context(), first); err != nil {
		t.Fatal(err)
	}
	res := f.run()
	f.mustSucceed(res)
	a, _ := f.configMap("a")
	if a.Data["value"] != "1" || !strings.HasSuffix(res.Revision, first) {
		t.Errorf("after force-push: value %q, revision %s", a.Data["value"], res.Revision)
	}
}

func TestTwoRunsAtOnce(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	f.commit(map[string]string{"deploy/a.yaml": cm("a", "1")})
	f.install(f.git.HTTPURL("app"), "", "")
	// Another run holds the Lease.
	l := holdLease(t, f, time.Minute)
	res := f.run()
	if res.Outcome != Busy {
		t.Fatalf("outcome %s, want Busy", res.Outcome)
	}
	f.mustNotHave("a")
	if err := l.Release(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.mustSucceed(f.run())
}

func TestKilledRunIsRepaired(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	f.commit(map[string]string{"deploy/a.yaml": cm("a", "1"), "deploy/b.yaml": cm("b", "1")})
	f.install(f.git.HTTPURL("app"), "", "")
	f.mustSucceed(f.run())

	// The next run is killed after apply and before record: its Lease stays,
	// its record says nothing, but its union inventory is written.
	f.commit(map[string]string{"deploy/c.yaml": cm("c", "1")})
	f.remove("deploy/b.yaml")
	res := f.runWith(Options{LeaseDuration: 2 * time.Second, stopAfterApply: true})
	if res.Outcome != "" {
		t.Fatalf("killed run recorded an outcome %s", res.Outcome)
	}
	f.mustHave("a", "b", "c")
	if got := len(f.inventory().Entries); got != 3 {
		t.Fatalf("union inventory has %d entries, want 3", got)
	}

	// The next run waits out the dead run's Lease and repairs everything.
	time.Sleep(3 * time.Second)
	f.mustSucceed(f.run())
	f.mustHave("a", "c")
	f.mustNotHave("b")
	if got := len(f.inventory().Entries); got != 2 {
		t.Errorf("inventory has %d entries, want 2", got)
	}
}

func TestForeignObjectIsNotPruned(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	f.commit(map[string]string{"deploy/a.yaml": cm("a", "1"), "deploy/b.yaml": cm("b", "1")})
	f.install(f.git.HTTPURL("app"), "", "")
	f.mustSucceed(f.run())
	// Someone strips gitsync's labels from b: it is no longer ours.
	patch := []byte(`{"metadata":{"labels":null}}`)
	if _, err := env.Client().CoreV1().ConfigMaps(f.ns).Patch(t.Context(), "b", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	f.remove("deploy/b.yaml")
	f.mustSucceed(f.run())
	f.mustHave("a", "b")
}

func TestSpecErrors(t *testing.T) {
	ns := env.NewNamespace(t)
	_, err := Run(t.Context(), Options{Name: "missing", Namespace: ns, Config: env.Config()})
	var se *SpecError
	if !errors.As(err, &se) {
		t.Fatalf("missing spec: err %v, want a SpecError", err)
	}
	bad := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: spec.ConfigMapName("bad"), Namespace: ns},
		Data:       map[string]string{spec.ConfigMapKey: "apiVersion: gitsync.io/v1alpha1\nkind: Sync\nmetadata: {name: bad}\nspec:\n  source: {git: {url: 'https://x/y'}}\n  prunee: true\n"},
	}
	if _, err := env.Client().CoreV1().ConfigMaps(ns).Create(t.Context(), bad, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = Run(t.Context(), Options{Name: "bad", Namespace: ns, Config: env.Config()})
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "spec.prunee") {
		t.Fatalf("unknown field: err %v, want a SpecError naming spec.prunee", err)
	}
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

func widgetGVR(group string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: group, Version: "v1", Resource: "widgets"}
}

func unstructuredInt(obj map[string]any, fields ...string) (int64, bool, error) {
	return unstructured.NestedInt64(obj, fields...)
}

// holdLease takes the sync's Lease as another run would.
func holdLease(t *testing.T, f *fixture, d time.Duration) *lease.Lease {
	t.Helper()
	l, err := lease.Acquire(t.Context(), env.Client(), f.ns, lease.Name(f.name), lease.Options{Holder: "other-run", Duration: d})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestNamespaceScope(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	f.commit(map[string]string{
		"deploy/a.yaml":  cm("a", "1"),
		"deploy/cr.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: " + f.ns + "-reader\nrules: []\n",
		"deploy/b.yaml":  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  namespace: kube-system\n",
	})
	f.install(f.git.HTTPURL("app"), "", "")
	res := f.runWith(Options{NamespaceScoped: true})
	if res.Outcome != Failed {
		t.Fatalf("outcome %s, want Failed", res.Outcome)
	}
	for _, want := range []string{"ClusterRole.rbac.authorization.k8s.io/" + f.ns + "-reader: cluster-scoped", "ConfigMap/kube-system/b: namespace kube-system is outside"} {
		if !strings.Contains(res.Err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, res.Err)
		}
	}
	f.mustNotHave("a")
	f.remove("deploy/cr.yaml", "deploy/b.yaml")
	f.mustSucceed(f.runWith(Options{NamespaceScoped: true}))
	f.mustHave("a")
}

// TestInterruptedRunRecordsFailure cancels the run's context (what SIGTERM
// does in sync-job) as soon as the first object is applied: the run must
// stop, record Failed and release the Lease, so the next run starts at once.
func TestInterruptedRunRecordsFailure(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	files := map[string]string{}
	for i := range 50 {
		files[fmt.Sprintf("deploy/cm-%02d.yaml", i)] = cm(fmt.Sprintf("cm-%02d", i), "1")
	}
	f.commit(files)
	f.install(f.git.HTTPURL("app"), "", "")

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cfg := env.Config()
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(req *http.Request) (*http.Response, error) {
			if req.Method == http.MethodPatch && strings.Contains(req.Header.Get("Content-Type"), "apply-patch") {
				cancel()
			}
			return rt.RoundTrip(req)
		})
	})
	start := time.Now()
	res, err := Run(ctx, Options{Name: f.name, Namespace: f.ns, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != Failed || !errors.Is(res.Err, context.Canceled) {
		t.Fatalf("outcome %s, err %v; want Failed with context.Canceled", res.Outcome, res.Err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("interrupted run took %s to stop", d)
	}
	if got := f.inventory().Record.LastRun.Result; got != inventory.ResultFailed {
		t.Errorf("recorded result %q, want Failed", got)
	}
	// The Lease was released: the next run is not Busy.
	f.mustSucceed(f.run())
	f.mustHave("cm-00", "cm-49")
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
