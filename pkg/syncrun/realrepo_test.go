package syncrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/gitsync/gitsync/pkg/flux"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/tests/gitserver"
)

// EnvRealRepos lists exported trees of real Flux repositories for
// TestRealRepository, comma separated, each DIR or DIR=PATH (PATH the
// directory the sync renders; by default the path of the Kustomization in
// the first clusters/*/flux-system/gotk-sync.yaml).
const EnvRealRepos = "GITSYNC_REAL_REPOS"

// TestRealRepository runs a sync on each tree of GITSYNC_REAL_REPOS, served
// unchanged by the test Git server, against the test API server. Nothing
// outside the machine is reachable, so units whose sources are on the
// internet fail; what the test checks is that the run holds together:
//   - Run returns (no crash), and every unit has an outcome and, unless it
//     succeeded, a message; no message says "gitsync bug";
//   - a failure is one of the kinds a user can act on: a source out of
//     reach naming its URL or host, a refused field or kind naming the
//     object and field, a reference no object defines, a dependency that
//     did not succeed; anything else fails the test;
//   - dependsOn order: a unit ran only after each of its dependencies
//     succeeded, else it was skipped naming the dependency;
//   - every Flux object of the tree's YAML files decodes, or its error
//     names the object and the field or kind (flux.Decode, statically).
//
// Run it with, for example:
//
//	GITSYNC_REAL_REPOS=/tmp/flux2-kustomize-helm-example,/tmp/home-ops=kubernetes/flux/cluster \
//	  go test -count=1 -run TestRealRepository -v ./pkg/syncrun/
func TestRealRepository(t *testing.T) {
	list := os.Getenv(EnvRealRepos)
	if list == "" {
		t.Skipf("%s is not set", EnvRealRepos)
	}
	for _, entry := range strings.Split(list, ",") {
		dir, syncPath, _ := strings.Cut(strings.TrimSpace(entry), "=")
		t.Run(filepath.Base(dir), func(t *testing.T) {
			runRealRepository(t, dir, syncPath)
		})
	}
}

func runRealRepository(t *testing.T, dir, syncPath string) {
	files, docs, kinds := readTreeKinds(t, dir)
	if syncPath == "" {
		syncPath = bootstrapPath(files, docs)
		if syncPath == "" {
			t.Fatalf("%s: no clusters/*/flux-system/gotk-sync.yaml; give the path as DIR=PATH in %s", dir, EnvRealRepos)
		}
	}
	t.Logf("%s: %d files, %d Flux objects; syncing %s", dir, len(files), len(docs), syncPath)
	checkStatic(t, docs)

	ctx := t.Context()
	ns := flux.DefaultFluxNamespace
	before := namespaces(t, ctx)
	if _, err := env.Client().CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.WithoutCancel(ctx)
		// The next tree starts from a cluster without this one's
		// namespaces (and what is in them).
		for n := range namespaces(t, ctx) {
			if !before[n] || n == ns {
				_ = env.Client().CoreV1().Namespaces().Delete(ctx, n, metav1.DeleteOptions{})
			}
		}
		// Deletion ends when the namespace controller emptied them.
		for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
			left := 0
			for n := range namespaces(t, ctx) {
				if !before[n] || n == ns {
					left++
				}
			}
			if left == 0 {
				return
			}
		}
		t.Logf("namespaces of %s still terminating", dir)
	})
	standInCRDs(t, kinds)
	git := gitserver.StartTest(t, gitserver.Options{})
	name := "real-" + strings.Trim(regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(filepath.Base(dir)), "-"), "-")
	if len(name) > 40 {
		name = strings.TrimRight(name[:40], "-")
	}
	repo, err := git.CreateRepo(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ns: ns, name: name, git: git, repo: repo}
	f.commit(files)
	f.writeSpec(fmt.Sprintf(`apiVersion: gitsync.io/v1alpha1
kind: Sync
metadata: {name: %s, namespace: %s}
spec:
  source:
    git:
      url: %s
      insecure: true
      ref: {branch: main}
  path: %s
  # The cluster a repository was written for has kube-system and default
  # already; here an earlier tree of the same test may have taken them.
  adopt: true
`, name, ns, git.HTTPURL(name), syncPath))

	res := f.run()
	t.Logf("run: %s: %s", res.Outcome, firstLine(res.Message))
	if res.FluxInstallation != "" {
		t.Logf("%s", res.FluxInstallation)
	}
	if res.Err != nil && strings.Contains(res.Err.Error(), "gitsync bug") {
		t.Errorf("run: %v", res.Err)
	}
	counts := map[string]int{}
	for _, u := range res.Units {
		kind := classify(u)
		counts[string(u.Outcome)+"/"+kind]++
		t.Logf("unit %-60s %-9s %-12s %s", u.ID, u.Outcome, kind, firstLine(u.Message))
		if kind == "unexplained" {
			t.Errorf("unit %s: %s without a message a user can act on: %s", u.ID, u.Outcome, u.Message)
		}
	}
	t.Logf("units: %d %v", len(res.Units), counts)
	if len(res.Units) == 0 {
		t.Errorf("no units: the tree's Flux objects were not run")
	}
	checkOrder(t, f, res)
}

// classify sorts a unit's outcome into what a user would do about it.
func classify(u UnitResult) string {
	msg := u.Message
	if u.Err != nil {
		msg += "\n" + u.Err.Error()
	}
	switch {
	case u.Outcome == Succeeded:
		return "ok"
	case strings.TrimSpace(u.Message) == "", strings.Contains(msg, "gitsync bug"), strings.Contains(msg, "panic"):
		return "unexplained"
	case u.Outcome == Skipped && (errors.Is(u.Err, flux.ErrDependency) || u.BlockedBy != ""):
		return "dependency"
	case errors.Is(u.Err, flux.ErrUnsupported) || strings.Contains(msg, "not supported") || strings.Contains(msg, "is refused"):
		return "refused"
	case strings.Contains(msg, "is not served by the cluster"):
		return "no-crd" // names the object and its kind
	case fieldNamed.MatchString(msg):
		return "refused" // a field the user must change, named
	case errors.Is(u.Err, flux.ErrNotFound) || strings.Contains(msg, "not found"):
		return "not-found"
	case unreachable.MatchString(msg):
		return "unreachable"
	case errors.Is(u.Err, flux.ErrInvalid):
		return "invalid"
	}
	return "other"
}

// fieldNamed matches an error naming the field to change and why.
var fieldNamed = regexp.MustCompile(`spec\.[A-Za-z.\[\]0-9]+: (Required value|Invalid value|Unsupported value)`)

// unreachable matches the errors of a source on the internet, which this
// machine cannot reach; each names the URL or host it tried.
var unreachable = regexp.MustCompile(`(https?|oci|ssh)://[^ ]+.*(no such host|dial tcp|connection refused|i/o timeout|network is unreachable|server misbehaving|lookup )|` +
	`lookup [^ ]+.*(no such host|server misbehaving)`)

// checkOrder checks the recorded units against their dependsOn.
func checkOrder(t *testing.T, f *fixture, res *Result) {
	t.Helper()
	byID := map[string]inventory.UnitRecord{}
	for _, u := range f.inventory().Record.Units {
		byID[u.Kind+"/"+u.Namespace+"/"+u.Name] = u
	}
	for _, u := range res.Units {
		for _, dep := range u.DependsOn {
			d, ok := byID[dep.String()]
			self := byID[u.ID.String()]
			switch {
			case u.Outcome == Skipped:
				if u.BlockedBy == "" {
					t.Errorf("unit %s: skipped without naming what blocked it: %s", u.ID, u.Message)
				}
			case !ok || d.Result != inventory.ResultSucceeded:
				t.Errorf("unit %s ran (%s) although its dependency %s did not succeed (%v)", u.ID, u.Outcome, dep, d.Result)
			case d.End.IsZero() || self.Start.Before(d.End):
				t.Errorf("unit %s started at %s, before its dependency %s ended at %s", u.ID, self.Start, dep, d.End)
			}
		}
	}
}

// fluxDoc is one Flux object of a tree's files.
type fluxDoc struct {
	file string
	obj  *unstructured.Unstructured
}

// readTreeKinds reads the files of an exported tree (path → content), the
// Flux objects of its YAML files, and every apiVersion and kind in them.
func readTreeKinds(t *testing.T, dir string) (map[string]string, []fluxDoc, map[schema.GroupVersionKind]bool) {
	t.Helper()
	files := map[string]string{}
	var docs []fluxDoc
	kinds := map[schema.GroupVersionKind]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = string(b)
		if ext := filepath.Ext(p); (ext == ".yaml" || ext == ".yml") && !strings.HasPrefix(rel, ".") {
			docs = append(docs, fluxDocs(filepath.ToSlash(rel), b, kinds)...)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, docs, kinds
}

// fluxDocs returns the Flux objects of one YAML file; a file that is not
// Kubernetes YAML (a Helm template, a SOPS file) yields what parsed.
func fluxDocs(file string, b []byte, kinds map[schema.GroupVersionKind]bool) []fluxDoc {
	var out []fluxDoc
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			return out // io.EOF, or not Kubernetes YAML
		}
		u := &unstructured.Unstructured{Object: m}
		if m == nil {
			continue
		}
		if gvk := u.GroupVersionKind(); gvk.Kind != "" && gvk.Version != "" && !strings.Contains(u.GetAPIVersion(), "${") {
			kinds[gvk] = kinds[gvk] || u.GetNamespace() != ""
		}
		if !flux.IsFlux(u) {
			continue
		}
		out = append(out, fluxDoc{file: file, obj: u})
	}
}

// bootstrapPath returns the path of the Kustomization of the first
// gotk-sync.yaml; else, for a gotk-sync.yaml without objects (Flux's
// example repositories keep one that says flux bootstrap will write it),
// the directory holding its flux-system directory; "" without one.
func bootstrapPath(files map[string]string, docs []fluxDoc) string {
	for _, d := range docs {
		if filepath.Base(d.file) == flux.SyncFile && d.obj.GetKind() == flux.KindKustomization {
			p, _, _ := unstructured.NestedString(d.obj.Object, "spec", "path")
			return p
		}
	}
	for _, p := range slices.Sorted(maps.Keys(files)) {
		if path.Base(p) == flux.SyncFile && path.Base(path.Dir(p)) == flux.DefaultFluxNamespace {
			return "./" + path.Dir(path.Dir(p))
		}
	}
	return ""
}

// checkStatic decodes every Flux object of the tree: each decodes, or its
// error names the object and says what is refused or invalid.
func checkStatic(t *testing.T, docs []fluxDoc) {
	t.Helper()
	kinds := map[string]int{}
	refused := map[string]int{}
	for _, d := range docs {
		kinds[d.obj.GetKind()]++
		if strings.Contains(d.obj.GetName(), "${") || strings.Contains(d.obj.GetNamespace(), "${") {
			continue // substituted by postBuild before it is decoded
		}
		_, err := flux.Decode(d.obj, flux.DecodeOptions{DefaultNamespace: "default"})
		if err == nil {
			continue
		}
		id := flux.ID{Kind: d.obj.GetKind(), Namespace: d.obj.GetNamespace(), Name: d.obj.GetName()}
		if id.Namespace == "" {
			id.Namespace = "default"
		}
		msg := err.Error()
		if !strings.Contains(msg, id.String()) {
			t.Errorf("%s: %s: the error does not name the object: %v", d.file, id, err)
		}
		var fe *flux.FieldError
		switch {
		case errors.As(err, &fe):
			refused[fe.Path]++
		case errors.Is(err, flux.ErrUnsupported):
			refused["kind "+d.obj.GetKind()]++
		case strings.Contains(msg, "${"):
			// A variable postBuild would substitute.
		default:
			t.Errorf("%s: %s: neither a field nor a kind is named: %v", d.file, id, err)
		}
		t.Logf("static: %s: %s", d.file, firstLine(msg))
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range refused {
			if !yield(k) {
				return
			}
		}
	})
	t.Logf("static: kinds %v; refused or invalid: %v", kinds, keys)
}

// standInCRDs creates, for each custom kind of the tree that the API
// server does not serve, a CRD accepting any content, as the cluster the
// repository was written for has them (installed by a chart the run cannot
// fetch here, or by the cluster's bootstrap). Flux kinds get none: a run
// never applies them. They are deleted at the end.
func standInCRDs(t *testing.T, kinds map[schema.GroupVersionKind]bool) {
	t.Helper()
	ctx := t.Context()
	crds := env.Dynamic().Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	type crd struct {
		group, kind string
		versions    []string
		namespaced  bool
	}
	want := map[schema.GroupKind]*crd{}
	for gvk, namespaced := range kinds {
		if !strings.Contains(gvk.Group, ".") || (strings.HasSuffix(gvk.Group, ".k8s.io") && !strings.HasSuffix(gvk.Group, ".x-k8s.io") &&
			gvk.Group != "gateway.networking.k8s.io") || strings.HasSuffix(gvk.Group, "fluxcd.io") ||
			strings.Contains(gvk.Group, "kustomize.config") {
			continue
		}
		if _, err := env.Dynamic().Resource(gvk.GroupVersion().WithResource(standInPlural(gvk.Kind))).List(ctx, metav1.ListOptions{Limit: 1}); err == nil {
			continue // served
		}
		c := want[gvk.GroupKind()]
		if c == nil {
			c = &crd{group: gvk.Group, kind: gvk.Kind}
			want[gvk.GroupKind()] = c
		}
		c.namespaced = c.namespaced || namespaced || !strings.HasPrefix(gvk.Kind, "Cluster")
		if !slices.Contains(c.versions, gvk.Version) {
			c.versions = append(c.versions, gvk.Version)
		}
	}
	for _, c := range want {
		scope := "Cluster"
		if c.namespaced {
			scope = "Namespaced"
		}
		var versions []any
		slices.Sort(c.versions)
		for i, v := range c.versions {
			versions = append(versions, map[string]any{"name": v, "served": true, "storage": i == 0,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}}})
		}
		name := standInPlural(c.kind) + "." + c.group
		obj := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
			"metadata": map[string]any{"name": name},
			"spec": map[string]any{"group": c.group, "scope": scope, "versions": versions,
				"names": map[string]any{"kind": c.kind, "plural": standInPlural(c.kind), "singular": strings.ToLower(c.kind), "listKind": c.kind + "List"}},
		}}
		if _, err := crds.Create(ctx, obj, metav1.CreateOptions{}); err != nil {
			t.Logf("stand-in CRD %s: %v", name, err)
			continue
		}
		t.Cleanup(func() { _ = crds.Delete(context.WithoutCancel(ctx), name, metav1.DeleteOptions{}) })
	}
	if len(want) > 0 {
		t.Logf("%d stand-in CRDs", len(want))
		time.Sleep(3 * time.Second) // established and in discovery
	}
}

// standInPlural is the resource name of kind, by English rules most CRDs follow.
func standInPlural(kind string) string {
	k := strings.ToLower(kind)
	switch {
	case strings.HasSuffix(k, "y") && !strings.HasSuffix(k, "ay") && !strings.HasSuffix(k, "ey"):
		return k[:len(k)-1] + "ies"
	case strings.HasSuffix(k, "s"), strings.HasSuffix(k, "x"), strings.HasSuffix(k, "ch"):
		return k + "es"
	}
	return k + "s"
}

func namespaces(t *testing.T, ctx context.Context) map[string]bool {
	t.Helper()
	l, err := env.Client().CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, n := range l.Items {
		out[n.Name] = true
	}
	return out
}
