package syncrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
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
	files, docs := readTree(t, dir)
	if syncPath == "" {
		syncPath = bootstrapPath(docs)
		if syncPath == "" {
			t.Fatalf("%s: no clusters/*/flux-system/gotk-sync.yaml; give the path as DIR=PATH in %s", dir, EnvRealRepos)
		}
	}
	t.Logf("%s: %d files, %d Flux objects; syncing %s", dir, len(files), len(docs), syncPath)
	checkStatic(t, docs)

	ctx := t.Context()
	ns := flux.DefaultFluxNamespace
	before := namespaces(t)
	if _, err := env.Client().CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.WithoutCancel(ctx)
		// The next tree starts from a cluster without this one's
		// namespaces (and what is in them).
		for n := range namespaces(t) {
			if !before[n] || n == ns {
				_ = env.Client().CoreV1().Namespaces().Delete(ctx, n, metav1.DeleteOptions{})
			}
		}
	})
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
	case errors.Is(u.Err, flux.ErrNotFound) || strings.Contains(msg, "not found"):
		return "not-found"
	case unreachable.MatchString(msg):
		return "unreachable"
	case errors.Is(u.Err, flux.ErrInvalid):
		return "invalid"
	}
	return "other"
}

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

// readTree reads the files of an exported tree (path → content), and the
// Flux objects of its YAML files.
func readTree(t *testing.T, dir string) (map[string]string, []fluxDoc) {
	t.Helper()
	files := map[string]string{}
	var docs []fluxDoc
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
			docs = append(docs, fluxDocs(filepath.ToSlash(rel), b)...)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, docs
}

// fluxDocs returns the Flux objects of one YAML file; a file that is not
// Kubernetes YAML (a Helm template, a SOPS file) yields what parsed.
func fluxDocs(file string, b []byte) []fluxDoc {
	var out []fluxDoc
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			return out // io.EOF, or not Kubernetes YAML
		}
		u := &unstructured.Unstructured{Object: m}
		if m == nil || !flux.IsFlux(u) {
			continue
		}
		out = append(out, fluxDoc{file: file, obj: u})
	}
}

// bootstrapPath returns the path of the Kustomization of the first
// gotk-sync.yaml, "" without one.
func bootstrapPath(docs []fluxDoc) string {
	for _, d := range docs {
		if filepath.Base(d.file) == flux.SyncFile && d.obj.GetKind() == flux.KindKustomization {
			p, _, _ := unstructured.NestedString(d.obj.Object, "spec", "path")
			return p
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

func namespaces(t *testing.T) map[string]bool {
	t.Helper()
	l, err := env.Client().CoreV1().Namespaces().List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, n := range l.Items {
		out[n.Name] = true
	}
	return out
}
