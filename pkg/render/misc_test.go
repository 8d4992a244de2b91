package render

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func names(res *Result) []string {
	var out []string
	for _, o := range res.Objects {
		out = append(out, o.GetKind()+"/"+o.GetName())
	}
	return out
}

func TestRenderCases(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		opts    Options
		want    []string // Kind/name in output order
		wantSrc []string
	}{
		{
			name:  "empty directory renders nothing",
			files: map[string]string{"README.md": "# nothing\n", "only-comments.yaml": "# c\n---\n---\n"},
			want:  nil,
		},
		{
			name:  "empty directory with options renders nothing",
			files: map[string]string{"README.md": "# nothing\n"},
			opts:  Options{TargetNamespace: "x", NamePrefix: "p-"},
			want:  nil,
		},
		{
			name: "symlinks inside the root are followed",
			files: map[string]string{
				"real/cm.yaml":       cmA,
				"deploy/linked.yaml": "symlink:../real/cm.yaml",
				"deploy/dir":         "symlink:../shared",
				"shared/b.yaml":      cmB,
			},
			opts:    Options{Path: "deploy"},
			want:    []string{"ConfigMap/a", "ConfigMap/b"},
			wantSrc: []string{"deploy/linked.yaml", "deploy/dir/b.yaml"},
		},
		{
			name:    "path with dots inside the root",
			files:   map[string]string{"a/b/cm.yaml": cmA},
			opts:    Options{Path: "a/../a/./b"},
			want:    []string{"ConfigMap/a"},
			wantSrc: []string{"a/b/cm.yaml"},
		},
		{
			name: "kustomization loads files from a parent directory inside the root",
			files: map[string]string{
				"clusters/prod/kustomization.yaml": "resources: [../../apps/cm.yaml]\npatches:\n- path: ../patch.yaml\n",
				"clusters/patch.yaml":              "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: x}\ndata: {patched: \"true\"}\n",
				"apps/cm.yaml":                     cmA,
			},
			opts:    Options{Path: "clusters/prod"},
			want:    []string{"ConfigMap/a"},
			wantSrc: []string{"apps/cm.yaml"},
		},
		{
			name: "List kinds are expanded through kustomize too",
			files: map[string]string{
				"list.yaml": "apiVersion: v1\nkind: List\nitems:\n- " + strings.ReplaceAll(cmA, "\n", "\n  ") + "\n- " + strings.ReplaceAll(cmB, "\n", "\n  ") + "\n",
			},
			opts: Options{NamePrefix: "p-"},
			want: []string{"ConfigMap/p-a", "ConfigMap/p-b"},
		},
		{
			name: "objects sort by group, kind, namespace, name",
			files: map[string]string{
				"z.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\n---\n" +
					"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: z}\n---\n" +
					"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: a}\n---\n" +
					"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
			},
			want: []string{"ConfigMap/a", "ConfigMap/c", "ConfigMap/b", "Deployment/a"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeFiles(t, root, tc.files)
			opts := tc.opts
			opts.Root = root
			res, err := Render(t.Context(), opts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, names(res)); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
			if tc.wantSrc != nil {
				if diff := cmp.Diff(tc.wantSrc, res.Sources); diff != "" {
					t.Errorf("sources (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestPathForms(t *testing.T) {
	var digests []string
	for _, p := range []string{"", ".", "./"} {
		res, err := Render(t.Context(), Options{Root: "testdata/plain", Path: p})
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, res.Digest)
	}
	if digests[0] != digests[1] || digests[1] != digests[2] {
		t.Errorf("digests differ: %v", digests)
	}
	abs, err := filepath.Abs("testdata/plain")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Render(t.Context(), Options{Root: abs})
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != digests[0] {
		t.Errorf("absolute root gives digest %s, want %s", res.Digest, digests[0])
	}
}

// TestDigest checks the digest follows content, not file layout.
func TestDigest(t *testing.T) {
	a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
	writeFiles(t, a, map[string]string{"one.yaml": cmA + "---\n" + cmB})
	writeFiles(t, b, map[string]string{"x/b.yaml": cmB, "y/a.yaml": "metadata:\n  namespace: x\n  name: a\nkind: ConfigMap\napiVersion: v1\n"})
	writeFiles(t, c, map[string]string{"one.yaml": cmA + "data: {k: v}\n---\n" + cmB})
	digest := func(root string) string {
		res, err := Render(t.Context(), Options{Root: root})
		if err != nil {
			t.Fatal(err)
		}
		return res.Digest
	}
	if digest(a) != digest(b) {
		t.Error("same objects in a different layout give a different digest")
	}
	if digest(a) == digest(c) {
		t.Error("different objects give the same digest")
	}
	if !strings.HasPrefix(digest(a), "sha256:") || len(digest(a)) != len("sha256:")+64 {
		t.Errorf("digest %q is not sha256:<hex>", digest(a))
	}
}

// TestConcurrentRenders runs kustomize builds in parallel, including ones
// that panic, to show the build lock is released and results are stable.
func TestConcurrentRenders(t *testing.T) {
	panicRoot := t.TempDir()
	writeFiles(t, panicRoot, map[string]string{
		"kustomization.yaml": "namespace: test\nnamePrefix: test\nresources: [s.yaml]\n",
		"s.yaml":             "apiVersion: ENC[a,b:c]\nkind: ENC[a,b:c]\nmetadata:\n  name: ENC[a,b:c]\n  namespace: ENC[a,b:c]\n",
	})
	opts := Options{Root: "testdata/kust", Path: "overlays/prod", TargetNamespace: "t"}
	want, err := Render(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 8 {
		wg.Go(func() {
			if i%2 == 0 {
				if _, err := Render(t.Context(), Options{Root: panicRoot}); err == nil || !strings.Contains(err.Error(), "panicked") {
					errs <- errors.New("expected a recovered panic")
				}
				return
			}
			got, err := Render(t.Context(), opts)
			if err != nil {
				errs <- err
				return
			}
			if got.Digest != want.Digest {
				errs <- errors.New("digest changed between runs")
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Render(ctx, Options{Root: "testdata/plain"}); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if _, err := Render(t.Context(), Options{Root: "testdata/plain", Logger: log}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"kustomize":false`) || !strings.Contains(buf.String(), `"objects":9`) {
		t.Errorf("log %q lacks the build path or object count", buf.String())
	}
}

func TestMergeImages(t *testing.T) {
	existing := []any{
		map[string]any{"name": "nginx", "newTag": "1.0", "newName": "mirror/nginx"},
		map[string]any{"name": "redis", "digest": "sha256:aaa"},
	}
	got := mergeImages(existing, []Image{
		{Name: "nginx", NewTag: "2.0"},
		{Name: "redis", NewTag: "7"},
		{Name: "busybox", NewName: "mirror/busybox"},
	})
	want := []any{
		map[string]any{"name": "nginx", "newTag": "2.0", "newName": "mirror/nginx"},
		map[string]any{"name": "redis", "newTag": "7"},
		map[string]any{"name": "busybox", "newName": "mirror/busybox"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("images (-want +got):\n%s", diff)
	}
}
