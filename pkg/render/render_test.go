package render

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	sigsyaml "sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// dump renders a Result as reviewable YAML: the digest, then each object
// preceded by the file it came from.
func dump(t *testing.T, res *Result) []byte {
	t.Helper()
	var b bytes.Buffer
	fmt.Fprintf(&b, "# digest: %s\n", res.Digest)
	for i, o := range res.Objects {
		y, err := sigsyaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "---\n# source: %s\n%s", res.Sources[i], y)
	}
	return b.Bytes()
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".yaml")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

// treeHash fingerprints a directory so tests can prove Render left it as it
// was.
func treeHash(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %v\n", p, d.Type())
		if d.Type().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Write(data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

func TestRenderGolden(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{
			// Generated kustomization: YAML files recursively, a subdirectory
			// with its own kustomization as a unit, a List expanded, empty
			// documents, hidden directories, CI files, JSON and local-config
			// objects left out.
			name: "plain",
			opts: Options{Root: "testdata/plain"},
		},
		{
			// The same directory with every option that needs kustomize's
			// transformers, as a Flux Kustomization spec would set them.
			name: "plain-options",
			opts: Options{
				Root:            "testdata/plain",
				Path:            ".",
				TargetNamespace: "team-a",
				NamePrefix:      "pre-",
				NameSuffix:      "-suf",
				CommonMetadata: &CommonMetadata{
					Labels:      map[string]string{"owner": "team-a"},
					Annotations: map[string]string{"gitsync.io/note": "common"},
				},
				Images: []Image{{Name: "nginx", NewName: "registry.local/nginx", NewTag: "1.28"}},
				Patches: []Patch{
					{
						Patch:  "- op: add\n  path: /metadata/annotations\n  value: {patched: json6902}\n",
						Target: &Selector{Kind: "Service", Name: "web"},
					},
					{
						Patch:  "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: not-used\nspec:\n  replicas: 5\n",
						Target: &Selector{Group: "apps", Kind: "Deployment", LabelSelector: "app=web"},
					},
					{
						// No target: the patch names its object itself.
						Patch: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\n  namespace: apps\ndata:\n  LOG_LEVEL: debug\n",
					},
				},
			},
		},
		{
			// An overlay using a base, a generator, an image override and a
			// patch file from outside its directory (inside the root).
			name: "kust-overlay",
			opts: Options{Root: "testdata/kust", Path: "overlays/prod"},
		},
		{
			// Flux merges its spec into the overlay: targetNamespace wins
			// over the file's namespace, images merge by name, patches and
			// components are appended.
			name: "kust-overlay-options",
			opts: Options{
				Root:            "testdata/kust",
				Path:            "overlays/prod",
				TargetNamespace: "team-b",
				NamePrefix:      "b-",
				Images:          []Image{{Name: "nginx", NewTag: "1.28"}},
				Components:      []string{"../../components/monitoring"},
				Patches: []Patch{{
					Patch:  "- op: replace\n  path: /spec/minAvailable\n  value: 2\n",
					Target: &Selector{Group: "policy", Version: "v1", Kind: "PodDisruptionBudget"},
				}},
				CommonMetadata: &CommonMetadata{Labels: map[string]string{"tier": "backend"}},
			},
		},
		{
			name: "subst",
			opts: Options{
				Root: "testdata/subst",
				Substitute: map[string]string{
					"env":      "prod",
					"empty":    "",
					"cluster":  "eu-central",
					"image":    "nginx:1.27",
					"replicas": "3",
					"multi":    "no\nnewlines\n",
				},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := treeHash(t, tc.opts.Root)
			res, err := Render(t.Context(), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name, dump(t, res))
			if after := treeHash(t, tc.opts.Root); after != before {
				t.Error("Render changed the source directory")
			}
		})
	}
}

// TestDirectMatchesKustomize proves that reading plain trees directly gives
// exactly what kustomize gives for the same tree.
func TestDirectMatchesKustomize(t *testing.T) {
	generated := t.TempDir()
	writeWorkload(t, generated, 300, false)
	listed := t.TempDir()
	writeWorkload(t, listed, 300, true)
	nested := t.TempDir()
	writeFiles(t, nested, map[string]string{
		"kustomization.yaml":     "resources: [apps, crds.yaml]\n",
		"crds.yaml":              "apiVersion: v1\nkind: ConfigMapList\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a, namespace: x}\n  data: {n: \"012\", b: yes, i: 012, f: 1.50, t: 2024-01-02}\n",
		"apps/kustomization.yml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- app.yaml\n",
		"apps/app.yaml":          "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  annotations: {config.kubernetes.io/local-config: \"false\"}\ndata:\n  80: port\n  key: |\n    multi\n    line\n",
	})
	// What kustomize changes in any build: empty or null annotations
	// removed, its own annotations stripped, List items through JSON,
	// anchors and merge keys expanded its way; and what only kustomize can
	// do (an annotation value that is not a string becomes one from its
	// YAML text).
	quirks := t.TempDir()
	writeFiles(t, quirks, map[string]string{
		"annotations.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: empty\n  annotations: {}\n---\n" +
			"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nulled\n  annotations:\n---\n" +
			"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kio\n  annotations: {config.kubernetes.io/path: x, config.kubernetes.io/index: \"0\", keep: \"yes\"}\n",
		"list.yaml":    "apiVersion: v1\nkind: ConfigMapList\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: listed}\n  data: {f: 1.0, g: 2.50, i: 7}\n",
		"anchors.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: anchored\nx: &x {a: 1, b: 1}\ny: &y {b: 2, c: 2}\ndata:\n  <<: [*x, *y]\n  d: *x\n",
	})
	notString := t.TempDir()
	writeFiles(t, notString, map[string]string{
		"a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  annotations: {replicas: 3, config.kubernetes.io/local-config: false}\n",
	})
	for _, tc := range []struct {
		name string
		opts Options
		want buildPath
	}{
		{"fixture-plain", Options{Root: "testdata/plain"}, pathDirect},
		{"generated", Options{Root: generated}, pathDirect},
		{"listed", Options{Root: listed}, pathDirect},
		{"nested", Options{Root: nested}, pathDirect},
		{"substitute-and-metadata", Options{Root: "testdata/subst",
			Substitute:     map[string]string{"env": "a", "cluster": "c", "image": "i", "replicas": "1", "multi": "m"},
			CommonMetadata: &CommonMetadata{Labels: map[string]string{"x": "y"}}}, pathDirect},
		{"kustomize's reading", Options{Root: quirks}, pathDirect},
		{"annotations that are not strings", Options{Root: notString}, pathKustomize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			direct, path, err := render(t.Context(), tc.opts, pathAuto)
			if err != nil {
				t.Fatal(err)
			}
			if path != tc.want {
				t.Fatalf("built on the %s path, want %s", path, tc.want)
			}
			viaKustomize, _, err := render(t.Context(), tc.opts, pathKustomize)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(viaKustomize, direct); diff != "" {
				t.Errorf("direct read differs from kustomize (-kustomize +direct):\n%s", diff)
			}
		})
	}
}

// writeFiles creates files (and, for values starting with "symlink:",
// symlinks) below dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "symlink:"); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const (
	cmA = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: x\n"
	cmB = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  namespace: x\n"
)

func TestRenderErrors(t *testing.T) {
	outside := t.TempDir()
	writeFiles(t, outside, map[string]string{
		"secret.yaml":             "apiVersion: v1\nkind: Secret\nmetadata:\n  name: stolen\n",
		"base/kustomization.yaml": "resources: [secret.yaml]\n",
		"base/secret.yaml":        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: stolen\n",
	})
	tests := []struct {
		name  string
		files map[string]string
		opts  Options // Root is filled in
		is    error   // errors.Is target, optional
		want  []string
	}{
		{
			name:  "invalid YAML names file, document and line",
			files: map[string]string{"ok.yaml": cmA, "bad.yaml": cmB + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: x\n  name: y\n"},
			is:    ErrInvalidObject,
			want:  []string{"bad.yaml", "document 2", "line 10"},
		},
		{
			name:  "missing apiVersion",
			files: map[string]string{"sub/x.yaml": "# c\n---\nkind: ConfigMap\nmetadata:\n  name: a\n"},
			is:    ErrInvalidObject,
			want:  []string{"sub/x.yaml", "document 1 (line 3)", "missing apiVersion"},
		},
		{
			name:  "missing kind",
			files: map[string]string{"x.yaml": "apiVersion: v1\nmetadata:\n  name: a\n"},
			is:    ErrInvalidObject,
			want:  []string{"x.yaml", "missing kind"},
		},
		{
			name:  "missing name",
			files: map[string]string{"x.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n"},
			is:    ErrInvalidObject,
			want:  []string{"x.yaml", "missing metadata.name"},
		},
		{
			name:  "not a mapping",
			files: map[string]string{"x.yaml": "- a\n- b\n"},
			is:    ErrInvalidObject,
			want:  []string{"x.yaml", "not a mapping"},
		},
		{
			name:  "null list item",
			files: map[string]string{"x.yaml": cmA + "data:\n  x: y\nlist:\n  - a\n  -\n"},
			is:    ErrInvalidObject,
			want:  []string{"x.yaml", "list[1]: empty list item"},
		},
		{
			name:  "non-Kubernetes YAML in a plain directory",
			files: map[string]string{"values.yaml": "replicaCount: 2\n"},
			is:    ErrInvalidObject,
			want:  []string{"values.yaml", "missing kind"},
		},
		{
			name:  "duplicate across files names both",
			files: map[string]string{"one.yaml": cmA, "two/again.yaml": "---\n" + cmA},
			is:    ErrDuplicate,
			want:  []string{"ConfigMap/x/a", "one.yaml", "two/again.yaml:2"},
		},
		{
			name: "duplicate across API versions in a kustomization",
			files: map[string]string{
				"kustomization.yaml": "resources: [a.yaml, b.yaml]\n",
				"a.yaml":             "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n",
				"b.yaml":             "apiVersion: apps/v1beta1\nkind: Deployment\nmetadata: {name: d}\n",
			},
			is:   ErrDuplicate,
			want: []string{"Deployment/d", "a.yaml", "b.yaml"},
		},
		{
			name: "duplicate through kustomize",
			files: map[string]string{
				"kustomization.yaml": "namespace: y\nresources: [a.yaml, b.yaml]\n",
				"a.yaml":             cmA,
				"b.yaml":             cmA,
			},
			want: []string{"kustomize build", "ConfigMap", "a"},
		},
		{
			name:  "remote resource",
			files: map[string]string{"kustomization.yaml": "resources:\n- https://github.com/org/repo//deploy?ref=v1\n"},
			is:    ErrRemoteResource,
			want:  []string{"kustomization.yaml", "https://github.com/org/repo//deploy?ref=v1"},
		},
		{
			name: "remote base in a nested kustomization",
			files: map[string]string{
				"kustomization.yaml":     "namePrefix: p-\nresources: [base]\n",
				"base/kustomization.yml": "resources:\n- github.com/org/repo/base\n- ok.yaml\n",
				"base/ok.yaml":           cmA,
			},
			is:   ErrRemoteResource,
			want: []string{"base/kustomization.yml", "github.com/org/repo/base"},
		},
		{
			name: "remote git over ssh in a generated directory",
			files: map[string]string{
				"app.yaml":               cmA,
				"sub/kustomization.yaml": "resources: [git@github.com:org/repo.git]\n",
			},
			is:   ErrRemoteResource,
			want: []string{"sub/kustomization.yaml", "git@github.com:org/repo.git"},
		},
		{
			name: "remote patch file",
			files: map[string]string{
				"kustomization.yaml": "resources: [a.yaml]\npatches:\n- path: http://example.com/patch.yaml\n",
				"a.yaml":             cmA,
			},
			is:   ErrRemoteResource,
			want: []string{"kustomization.yaml", "patches"},
		},
		{
			name:  "path escapes the root",
			files: map[string]string{"a.yaml": cmA},
			opts:  Options{Path: "../x"},
			is:    ErrOutsideRoot,
		},
		{
			name:  "absolute path",
			files: map[string]string{"a.yaml": cmA},
			opts:  Options{Path: "/etc"},
			is:    ErrOutsideRoot,
		},
		{
			name:  "resource escapes the root",
			files: map[string]string{"app/kustomization.yaml": "resources: [{{outside}}/secret.yaml]\n"},
			opts:  Options{Path: "app"},
			is:    ErrOutsideRoot,
		},
		{
			name:  "symlinked file leads outside",
			files: map[string]string{"a.yaml": cmA, "secret.yaml": "symlink:" + filepath.Join(outside, "secret.yaml")},
			is:    ErrOutsideRoot,
			want:  []string{"secret.yaml", "symlink"},
		},
		{
			name:  "symlinked directory leads outside",
			files: map[string]string{"a.yaml": cmA, "vendor": "symlink:" + outside},
			is:    ErrOutsideRoot,
			want:  []string{"vendor"},
		},
		{
			name: "symlink outside, reached through a kustomization",
			files: map[string]string{
				"app/kustomization.yaml": "namePrefix: p-\nresources: [../ext/base]\n",
				"ext":                    "symlink:" + outside,
			},
			opts: Options{Path: "app"},
			is:   ErrOutsideRoot,
		},
		{
			name: "dangling symlink outside",
			files: map[string]string{
				"a.yaml": cmA,
				"gone":   "symlink:/nonexistent/gitsync/x.yaml",
			},
			is:   ErrOutsideRoot,
			want: []string{"gone"},
		},
		{
			name: "exec plugins are disabled",
			files: map[string]string{
				"kustomization.yaml": "resources: [a.yaml]\ngenerators: [gen.yaml]\n",
				"a.yaml":             cmA,
				"gen.yaml": "apiVersion: example.com/v1\nkind: Gen\nmetadata:\n  name: g\n  annotations:\n" +
					"    config.kubernetes.io/function: |\n      exec:\n        path: ./gen.sh\n",
				"gen.sh": "#!/bin/sh\ntouch ran\n",
			},
			want: []string{"kustomize build", "plugin"},
		},
		{
			name: "helm charts are disabled",
			files: map[string]string{
				"kustomization.yaml": "helmCharts:\n- name: podinfo\n  repo: https://stefanprodan.github.io/podinfo\n  version: 6.0.0\n",
			},
			want: []string{"kustomize build", "helm"},
		},
		{
			name:  "undefined variable names object and variable",
			files: map[string]string{"a.yaml": cmA + "data:\n  x: ${defined}\n  y: ${undefined_var}\n"},
			opts:  Options{Substitute: map[string]string{"defined": "1"}},
			is:    ErrUndefinedVariable,
			want:  []string{"ConfigMap/x/a", "a.yaml", `"undefined_var"`},
		},
		{
			name:  "undefined variable after kustomize names the file",
			files: map[string]string{"a.yaml": cmA + "data:\n  y: ${nope}\n"},
			opts:  Options{NamePrefix: "p-", Substitute: map[string]string{}},
			is:    ErrUndefinedVariable,
			want:  []string{"ConfigMap/x/p-a", "(a.yaml)", `"nope"`},
		},
		{
			name:  "invalid variable name",
			files: map[string]string{"a.yaml": cmA},
			opts:  Options{Substitute: map[string]string{"1bad": "x"}},
			want:  []string{`"1bad"`, "invalid"},
		},
		{
			name:  "operator Flux cannot parse",
			files: map[string]string{"a.yaml": cmA + "data:\n  y: ${v+x}\n"},
			opts:  Options{Substitute: map[string]string{"v": "x"}},
			is:    ErrBadSubstitution,
			want:  []string{"ConfigMap/x/a", "${v+x}"},
		},
		{
			name:  "substitution producing invalid YAML",
			files: map[string]string{"a.yaml": cmA + "data:\n  y: ${v}\n"},
			opts:  Options{Substitute: map[string]string{"v": "[unclosed"}},
			is:    ErrInvalidObject,
			want:  []string{"ConfigMap/x/a", "after substitution"},
		},
		{
			name: "kustomize panic becomes an error",
			files: map[string]string{
				"kustomization.yaml": "namespace: test\nnamePrefix: test\nresources: [secret.age.yaml]\n",
				"secret.age.yaml": "apiVersion: ENC[AES256_GCM,data:Rwz,iv:Du=,tag:Gg==,type:str]\n" +
					"kind: ENC[AES256_GCM,data:Rwz,iv:Du=,tag:Gg==,type:str]\nmetadata:\n" +
					"  name: ENC[AES256_GCM,data:Rwz,type:str]\n  namespace: ENC[AES256_GCM,data:Rw,type:str]\n",
			},
			want: []string{"panicked"},
		},
		{
			name:  "component must be local",
			files: map[string]string{"a.yaml": cmA},
			opts:  Options{Components: []string{"https://example.com/c"}},
			want:  []string{"components", "local relative path"},
		},
		{
			name:  "path is a file",
			files: map[string]string{"a.yaml": cmA},
			opts:  Options{Path: "a.yaml"},
			want:  []string{"a.yaml", "not a directory"},
		},
		{
			name:  "path does not exist",
			files: map[string]string{"a.yaml": cmA},
			opts:  Options{Path: "missing"},
			is:    fs.ErrNotExist,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "src")
			rel, err := filepath.Rel(filepath.Join(root, "app"), outside)
			if err != nil {
				t.Fatal(err)
			}
			files := map[string]string{}
			for k, v := range tc.files {
				files[k] = strings.ReplaceAll(v, "{{outside}}", rel)
			}
			writeFiles(t, root, files)
			opts := tc.opts
			opts.Root = root
			res, err := Render(t.Context(), opts)
			if err == nil {
				t.Fatalf("no error; rendered %d objects", len(res.Objects))
			}
			t.Log(err)
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %v", err, tc.is)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if _, err := os.Stat(filepath.Join(root, "ran")); err == nil {
				t.Error("an exec plugin ran")
			}
		})
	}
}
