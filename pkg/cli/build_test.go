package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/names"
)

// buildFiles is the tree of TestBuild: a namespaced object without a
// namespace (it gets the sync's), one with its own, and a cluster-scoped one.
var buildFiles = map[string]string{
	"a.yaml": configMapYAML("a", "1"),
	"svc.yaml": `apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: elsewhere
spec:
  ports:
  - port: 80
`,
	"role.yaml": `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: reader
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get]
`,
}

func TestBuild(t *testing.T) {
	f := newPipelineFixture(t)
	files := map[string]string{}
	for name, content := range buildFiles {
		files["deploy/"+name] = content
	}
	f.commit(files)
	f.installSpec("  commonMetadata:\n    labels:\n      team: web\n")

	out, _, err := f.cli(t.Context(), "build", "app")
	wantExit(t, err, ExitOK, "")
	golden(t, "testdata/build/app.yaml", f.normalize(out))

	jsonOut, _, err := f.cli(t.Context(), "build", "app", "-o", "json")
	wantExit(t, err, ExitOK, "")
	golden(t, "testdata/build/app.json", f.normalize(jsonOut))
	var list struct {
		Kind  string
		Items []struct {
			Kind     string
			Metadata struct {
				Name, Namespace string
				Labels          map[string]string
			}
		}
	}
	must(t, json.Unmarshal([]byte(jsonOut), &list))
	if list.Kind != "List" || len(list.Items) != 3 {
		t.Fatalf("JSON: kind %q, %d items", list.Kind, len(list.Items))
	}
	for _, it := range list.Items {
		l := it.Metadata.Labels
		if l[inventory.LabelApplySetPartOf] != inventory.ApplySetID(inventory.InventoryName("app"), f.ns) ||
			l[inventory.LabelSync] != "app" || l[names.LabelSyncNamespace] != f.ns || l["team"] != "web" {
			t.Errorf("%s %s: labels %v", it.Kind, it.Metadata.Name, l)
		}
	}

	t.Run("-o name and jsonpath", func(t *testing.T) {
		out, _, err := f.cli(t.Context(), "build", "app", "-o", "name")
		wantExit(t, err, ExitOK, "")
		var items struct {
			Items []unstructured.Unstructured
		}
		must(t, json.Unmarshal([]byte(jsonOut), &items))
		var want []string
		for _, it := range items.Items {
			kind := strings.ToLower(it.GetKind())
			if g := it.GroupVersionKind().Group; g != "" {
				kind += "." + g
			}
			want = append(want, kind+"/"+it.GetName())
		}
		if diff := cmp.Diff(strings.Join(want, "\n")+"\n", out); diff != "" {
			t.Errorf("-o name (-want +got):\n%s", diff)
		}
		out, _, err = f.cli(t.Context(), "build", "app", "-o", "jsonpath={.items[*].metadata.labels.team}")
		wantExit(t, err, ExitOK, "")
		if out != "web web web" {
			t.Errorf("-o jsonpath: %q", out)
		}
	})

	t.Run("--path renders a local tree the same way", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "deploy")
		must(t, os.MkdirAll(dir, 0o755))
		for name, content := range buildFiles {
			must(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
		}
		local, _, err := f.cli(t.Context(), "build", "app", "--path", dir)
		wantExit(t, err, ExitOK, "")
		if diff := cmp.Diff(out, local); diff != "" {
			t.Errorf("--path output differs from the source's (-source +local):\n%s", diff)
		}
	})

	t.Run("--path inside a work tree may use ../base", func(t *testing.T) {
		repo := t.TempDir()
		for name, content := range map[string]string{
			".git/HEAD":                          "ref: refs/heads/main\n",
			"base/kustomization.yaml":            "resources: [cm.yaml]\n",
			"base/cm.yaml":                       configMapYAML("cm", "base"),
			"overlays/prod/kustomization.yaml":   "resources: [../../base]\nnamePrefix: prod-\n",
			"outside-the-overlay-but-in-repo.md": "",
		} {
			p := filepath.Join(repo, name)
			must(t, os.MkdirAll(filepath.Dir(p), 0o755))
			must(t, os.WriteFile(p, []byte(content), 0o644))
		}
		out, _, err := f.cli(t.Context(), "build", "app", "--path", filepath.Join(repo, "overlays", "prod"))
		wantExit(t, err, ExitOK, "")
		if !strings.Contains(out, "name: prod-cm\n") || !strings.Contains(out, "value: base\n") {
			t.Errorf("overlay build:\n%s", out)
		}
	})

	t.Run("a namespaced install keeps build to its scope", func(t *testing.T) {
		g := newPipelineFixture(t)
		g.commit(files)
		g.installCronJob(g.installSpec("")) // install's default: --scope namespace
		_, _, err := g.cli(t.Context(), "build", "app")
		wantExit(t, err, ExitError, "the render leaves the sync's scope")
		for _, want := range []string{
			"ClusterRole.rbac.authorization.k8s.io/reader: cluster-scoped objects are not allowed",
			"Service/elsewhere/web: namespace elsewhere is outside this namespaced sync",
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error lacks %q:\n%v", want, err)
			}
		}
	})

	t.Run("errors", func(t *testing.T) {
		_, _, err := f.cli(t.Context(), "build", "app", "-o", "wide")
		wantExit(t, err, ExitError, "--output:")
		_, _, err = f.cli(t.Context(), "build", "app", "--path", filepath.Join(t.TempDir(), "missing"))
		wantExit(t, err, ExitError, "--path:")
		_, _, err = f.cli(t.Context(), "build", "nosuch")
		wantExit(t, err, ExitError, "no such sync")
	})
}

// TestBuildAndDiffHelmChart: build and diff work for charts too (Flux has
// neither for HelmReleases).
func TestBuildAndDiffHelmChart(t *testing.T) {
	f := newPipelineFixture(t)
	f.commit(map[string]string{
		"deploy/Chart.yaml":            "apiVersion: v2\nname: app\nversion: 0.1.0\n",
		"deploy/values.yaml":           "greeting: hello\n",
		"deploy/templates/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\ndata:\n  greeting: {{ .Values.greeting | quote }}\n",
	})
	f.installSpec("  helm:\n    values:\n      greeting: from-spec\n")

	out, _, err := f.cli(t.Context(), "build", "app")
	wantExit(t, err, ExitOK, "")
	for _, want := range []string{"name: app-config", "greeting: from-spec", "namespace: " + f.ns} {
		if !strings.Contains(out, want) {
			t.Errorf("build output does not contain %q:\n%s", want, out)
		}
	}
	out, _, err = f.cli(t.Context(), "diff", "app")
	wantExit(t, err, ExitFailed, "1 created")
	if !strings.Contains(out, "+  greeting: from-spec") {
		t.Errorf("diff does not show the new object:\n%s", out)
	}
	_, _, err = f.cli(t.Context(), "run", "app", "--local")
	wantExit(t, err, ExitOK, "")
	out, _, err = f.cli(t.Context(), "diff", "app")
	wantExit(t, err, ExitOK, "")
	if out != "" {
		t.Errorf("diff after the run is not empty:\n%s", out)
	}
}
