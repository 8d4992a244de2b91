package render

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gitsync/gitsync/pkg/redact"
	"github.com/gitsync/gitsync/pkg/render/internal/manifest"
)

// laughs returns a YAML mapping body (indented under a key) whose anchors
// nest levels deep, each referring nine times to the one before: 9^levels
// nodes once expanded, from a few hundred bytes.
func laughs(levels int) string {
	var b strings.Builder
	b.WriteString("  l0: &l0 [" + strings.TrimSuffix(strings.Repeat(`"lol",`, 9), ",") + "]\n")
	for i := 1; i < levels; i++ {
		refs := strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d,", i-1), 9), ",")
		fmt.Fprintf(&b, "  l%d: &l%d [%s]\n", i, i, refs)
	}
	return b.String()
}

// TestRenderRefusesBombsAndHugeFiles feeds Render YAML bombs and huge files
// on each of its paths (direct, linear, kustomize) and in each kind of
// file it reads. Each must fail fast, naming the file, without expanding
// or reading the bomb: before the check, a bomb nine deep in a resource of
// a kustomization took kustomize minutes and gigabytes (7 deep: 36 s and
// 2.5 GiB), and a 1 GiB file was read whole.
func TestRenderRefusesBombsAndHugeFiles(t *testing.T) {
	thing := "apiVersion: example.com/v1\nkind: Thing\nmetadata:\n  name: bomb\n  namespace: x\nspec:\n" + laughs(9)
	tests := []struct {
		name  string
		files map[string]string
		big   map[string]int64 // sparse files of these sizes
		opts  Options
		is    error
		want  string // the file the error names
	}{
		{name: "bomb in a plain directory", files: map[string]string{"a.yaml": cmA, "bomb.yaml": thing},
			is: manifest.ErrAliasBomb, want: "bomb.yaml"},
		{name: "bomb in a resource, kustomize path",
			files: map[string]string{"kustomization.yaml": "resources: [a.yaml, bomb.yaml]\nconfigMapGenerator:\n- name: g\n  literals: [a=b]\n", "a.yaml": cmA, "bomb.yaml": thing},
			is:    manifest.ErrAliasBomb, want: "bomb.yaml"},
		{name: "bomb in a resource, linear path",
			files: map[string]string{"kustomization.yaml": "resources: [sub/bomb.yaml]\n", "sub/bomb.yaml": thing},
			opts:  Options{NamePrefix: "p-"}, is: manifest.ErrAliasBomb, want: "sub/bomb.yaml"},
		{name: "bomb in a patch file",
			files: map[string]string{"kustomization.yaml": "resources: [a.yaml]\npatches:\n- path: patch.yaml\n", "a.yaml": cmA,
				"patch.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: x\ndata:\n" + laughs(9)},
			is: manifest.ErrAliasBomb, want: "patch.yaml"},
		{name: "bomb in a kustomization",
			files: map[string]string{"app/kustomization.yaml": "resources: [../a.yaml]\nx-bomb:\n" + laughs(9), "a.yaml": cmA},
			opts:  Options{Path: "app"}, is: manifest.ErrAliasBomb, want: "app/kustomization.yaml"},
		{name: "bomb in a generator's env file",
			files: map[string]string{"kustomization.yaml": "configMapGenerator:\n- name: g\n  files: [cfg.yaml]\n", "cfg.yaml": "x:\n" + laughs(9)},
			is:    manifest.ErrAliasBomb, want: "cfg.yaml"},
		{name: "1 GiB manifest in a plain directory", files: map[string]string{"a.yaml": cmA},
			big: map[string]int64{"huge.yaml": 1 << 30}, is: ErrFileTooLarge, want: "huge.yaml"},
		{name: "100 MiB resource of a kustomization",
			files: map[string]string{"kustomization.yaml": "namespace: y\nresources: [a.yaml, huge.yaml]\n", "a.yaml": cmA},
			big:   map[string]int64{"huge.yaml": 100 << 20}, is: ErrFileTooLarge, want: "huge.yaml"},
		{name: "huge kustomization", files: map[string]string{"a.yaml": cmA},
			big: map[string]int64{"kustomization.yaml": 1 << 30}, is: ErrFileTooLarge, want: "kustomization.yaml"},
		{name: "file past a lower limit",
			files: map[string]string{"a.yaml": cmA, "b.yaml": cmB + "data:\n  x: " + strings.Repeat("y", 200) + "\n"},
			opts:  Options{MaxFileSize: 128}, is: ErrFileTooLarge, want: "b.yaml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeFiles(t, root, tc.files)
			for name, size := range tc.big {
				if err := os.Truncate(filepath.Join(root, name), 0); errors.Is(err, os.ErrNotExist) {
					writeFiles(t, root, map[string]string{name: ""})
				}
				if err := os.Truncate(filepath.Join(root, name), size); err != nil {
					t.Fatal(err)
				}
			}
			opts := tc.opts
			opts.Root = root
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			res, err := Render(t.Context(), opts)
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatalf("Render succeeded with %d objects", len(res.Objects))
			}
			if !errors.Is(err, tc.is) {
				t.Errorf("error %q does not wrap %q", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %s", err, tc.want)
			}
			if took > 5*time.Second {
				t.Errorf("Render took %v", took)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
				t.Errorf("Render allocated %d MiB", alloc>>20)
			}
			t.Logf("%v in %v", err, took.Round(time.Millisecond))
		})
	}
}

// TestRenderAllowsOrdinaryAnchors keeps what people do with anchors
// working on every path: a shared block referred to a few times.
func TestRenderAllowsOrdinaryAnchors(t *testing.T) {
	doc := cmA + "data:\n  a: &v value\n  b: *v\n  c: *v\n"
	for name, opts := range map[string]Options{"direct": {}, "linear": {NamePrefix: "p-"}, "kustomize": {TargetNamespace: "z"}} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			writeFiles(t, root, map[string]string{"a.yaml": doc})
			opts.Root = root
			res, err := Render(t.Context(), opts)
			if err != nil {
				t.Fatal(err)
			}
			if got, _, _ := unstructured.NestedString(res.Objects[0].Object, "data", "c"); got != "value" {
				t.Errorf("data.c = %q", got)
			}
		})
	}
}

// TestRenderReportsDecryptedValues: Options.Secrets receives what SOPS
// decryption revealed (a YAML value, a dotenv value), and not the names
// and kinds of the objects, which messages must keep showing.
func TestRenderReportsDecryptedValues(t *testing.T) {
	dir, keys := writeEncrypted(t, true)
	var secrets redact.Secrets
	if _, err := Render(t.Context(), Options{Root: dir, Decryption: keys, Secrets: &secrets}); err != nil {
		t.Fatal(err)
	}
	for text, want := range map[string]string{
		`password "hunter2-plaintext" refused`: `password "xxxxx" refused`,
		"TOKEN is env-plaintext":               "TOKEN is xxxxx",
		"Secret/db: invalid":                   "Secret/db: invalid",
	} {
		if got := secrets.Text(text); got != want {
			t.Errorf("Text(%q) = %q, want %q", text, got, want)
		}
	}
}

// TestRenderRefusesInvalidNames: a name or namespace the API server would
// refuse fails the render, naming object, file and line, instead of
// failing its apply after the objects before it were applied.
func TestRenderRefusesInvalidNames(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"underscore in a ConfigMap", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n", `Bad_Name"`},
		{"namespace with a dot", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n  namespace: a.b\n", `metadata.namespace "a.b"`},
		{"Service with a dot", "apiVersion: v1\nkind: Service\nmetadata:\n  name: a.svc\n", `a.svc"`},
		{"Deployment name too long", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " + strings.Repeat("a", 254) + "\n", "metadata.name"},
		{"custom resource with a slash", "apiVersion: example.com/v1\nkind: Thing\nmetadata:\n  name: a/b\n", `a/b"`},
		{"control character", "apiVersion: example.com/v1\nkind: Thing\nmetadata:\n  name: \"a\\x1bb\"\n", `a\x1bb"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeFiles(t, root, map[string]string{"ok.yaml": cmA, "sub/bad.yaml": "# first\n---\n" + tc.doc})
			for _, opts := range []Options{{Root: root}, {Root: root, NamePrefix: "p-"}} {
				if opts.NamePrefix != "" && (strings.Contains(tc.name, "long") || strings.Contains(tc.name, "Service")) {
					continue
				}
				_, err := Render(t.Context(), opts)
				if !errors.Is(err, ErrInvalidObject) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "sub/bad.yaml") {
					t.Errorf("prefix %q: %v; want ErrInvalidObject naming sub/bad.yaml and %s", opts.NamePrefix, err, tc.want)
				}
			}
		})
	}
	// What the API server accepts passes: RBAC names with colons, dotted
	// names, custom resources with capitals.
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"ok.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: system:x:y\n" +
		"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a.b-c\n  namespace: x\n" +
		"---\napiVersion: example.com/v1\nkind: Thing\nmetadata:\n  name: Some_Thing\n"})
	if _, err := Render(t.Context(), Options{Root: root}); err != nil {
		t.Fatal(err)
	}
}
