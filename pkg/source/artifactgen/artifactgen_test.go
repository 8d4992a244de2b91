package artifactgen

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// tree writes files (path → content) below a new directory.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, c := range files {
		f := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// read returns the files below dir (path → content).
func read(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var monorepo = map[string]string{
	"infrastructure/controllers/kustomization.yaml": "c",
	"infrastructure/configs/issuers.yaml":           "i",
	"apps/base/podinfo/release.yaml":                "r",
	"apps/production/kustomization.yaml":            "p",
	"apps/production/README.md":                     "doc",
	"apps/production/testdata/x.yaml":               "t",
	"values.yaml":                                   "a: 1\nb:\n  c: 2\n  d: [1, 2]\n",
	"values-prod.yaml":                              "b:\n  d: [3]\n  e: 4\n",
}

// TestBuild checks source-watcher's cp-like rules, as the
// flux2-kustomize-helm-example repository uses them and as its
// documentation lists them.
func TestBuild(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  []Op
		want map[string]string
	}{{
		name: "dir/** copies the contents of dir",
		ops:  []Op{{From: "@repo/infrastructure/**", To: "@artifact/"}},
		want: map[string]string{"controllers/kustomization.yaml": "c", "configs/issuers.yaml": "i"},
	}, {
		name: "two trees into one artifact",
		ops: []Op{
			{From: "@repo/apps/base/**", To: "@artifact/base/"},
			{From: "@repo/apps/production/**", To: "@artifact/production/", Exclude: []string{"*.md", "testdata/**"}},
		},
		want: map[string]string{"base/podinfo/release.yaml": "r", "production/kustomization.yaml": "p"},
	}, {
		name: "a directory without a glob is copied as a subdirectory",
		ops:  []Op{{From: "@repo/apps/base/", To: "@artifact/x/"}},
		want: map[string]string{"x/base/podinfo/release.yaml": "r"},
	}, {
		name: "a file to a directory keeps its name, to a path takes that name",
		ops: []Op{
			{From: "@repo/values.yaml", To: "@artifact/chart/"},
			{From: "@repo/apps/production/README.md", To: "@artifact/docs/readme.txt"},
		},
		want: map[string]string{"chart/values.yaml": monorepo["values.yaml"], "docs/readme.txt": "doc"},
	}, {
		name: "other globs keep the matched path",
		ops:  []Op{{From: "@repo/apps/production/*.yaml", To: "@artifact/out/"}},
		want: map[string]string{"out/apps/production/kustomization.yaml": "p"},
	}, {
		name: "later operations overwrite earlier ones",
		ops: []Op{
			{From: "@repo/values.yaml", To: "@artifact/v.yaml"},
			{From: "@repo/values-prod.yaml", To: "@artifact/v.yaml"},
		},
		want: map[string]string{"v.yaml": monorepo["values-prod.yaml"]},
	}, {
		name: "Merge merges maps and replaces lists",
		ops: []Op{
			{From: "@repo/values.yaml", To: "@artifact/v.yaml"},
			{From: "@repo/values-prod.yaml", To: "@artifact/v.yaml", Merge: true},
		},
		want: map[string]string{"v.yaml": "a: 1\nb:\n  c: 2\n  d:\n  - 3\n  e: 4\n"},
	}, {
		name: "the root of a source",
		ops:  []Op{{From: "@repo/", To: "@artifact/", Exclude: []string{"apps/**", "infrastructure/**", "values-prod.yaml"}}},
		want: map[string]string{"values.yaml": monorepo["values.yaml"]},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			src := tree(t, monorepo)
			out := t.TempDir()
			if err := Build(t.Context(), tc.ops, map[string]string{"repo": src}, out, Options{}); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, read(t, out)); d != "" {
				t.Errorf("artifact (-want +got):\n%s", d)
			}
		})
	}
}

// TestBuildErrors checks that each error names the operation and what is
// wrong, and that nothing is read or written outside the trees.
func TestBuildErrors(t *testing.T) {
	src := tree(t, monorepo)
	outside := tree(t, map[string]string{"secret": "s"})
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		op   Op
		max  int64
		want string
	}{
		{"missing path", Op{From: "@repo/nope", To: "@artifact/"}, 0, "copy[0] from @repo/nope to @artifact/: @repo/nope does not exist"},
		{"unknown alias", Op{From: "@other/x", To: "@artifact/"}, 0, "no source has the alias other"},
		{"nothing matches", Op{From: "@repo/*.json", To: "@artifact/"}, 0, "no file of @repo matches *.json"},
		{"all excluded", Op{From: "@repo/*.yaml", To: "@artifact/", Exclude: []string{"*.yaml"}}, 0, "every file of @repo matching *.yaml is excluded"},
		{"escape from the artifact", Op{From: "@repo/values.yaml", To: "@artifact/../../x"}, 0, ""},
		{"symlink out of the source", Op{From: "@repo/link", To: "@artifact/"}, 0, "link"},
		{"size cap", Op{From: "@repo/**", To: "@artifact/"}, 5, ErrTooLarge.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			err := Build(t.Context(), []Op{tc.op}, map[string]string{"repo": src}, out, Options{MaxSize: tc.max})
			if tc.name == "escape from the artifact" {
				// "../../x" is cleaned to x below the artifact, never above it.
				if err != nil {
					t.Fatal(err)
				}
				if _, err := os.Stat(filepath.Join(out, "x")); err != nil {
					t.Errorf("want x inside the artifact: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			if tc.max > 0 && !errors.Is(err, ErrTooLarge) {
				t.Errorf("want ErrTooLarge, got %v", err)
			}
			if got := read(t, out); got["secret"] != "" || got["link"] != "" {
				t.Errorf("read outside the source: %v", got)
			}
		})
	}
}
