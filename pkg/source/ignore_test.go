package source_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/tests/gitserver"
)

// writeTree writes files (path → content) below dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		check(t, "mkdir", os.MkdirAll(filepath.Dir(full), 0o755))
		check(t, "write", os.WriteFile(full, []byte(content), 0o644))
	}
}

// ptr returns a pointer to s.
func ptr(s string) *string { return &s }

// TestApplyIgnore applies Flux's exclusion rules: the defaults, the
// .sourceignore files, spec.ignore, and their precedence.
func TestApplyIgnore(t *testing.T) {
	tree := map[string]string{
		"deploy/app.yaml":          "app",
		"deploy/logo.png":          "png",
		"deploy/docs/README.md":    "docs",
		"deploy/.sops.yaml":        "sops",
		"charts/web.tar.gz":        "tgz",
		".github/workflows/ci.yml": "ci",
		".gitlab-ci.yml":           "ci",
		".gitignore":               "x",
		"nested/.gitattributes":    "x",
		"nested/keep/.flux.yaml":   "flux v1",
		"nested/keep/cm.yaml":      "cm",
		"tools/x.yaml":             "x",
	}
	tests := []struct {
		name  string
		extra map[string]string // more files, .sourceignore ones
		rules *string
		want  []string // what remains
	}{
		{"defaults", nil, nil, []string{"deploy/app.yaml", "deploy/docs/README.md", "nested/keep/cm.yaml", "tools/x.yaml"}},
		{"an empty spec.ignore keeps the defaults", nil, ptr("# nothing\n\n"),
			[]string{"deploy/app.yaml", "deploy/docs/README.md", "nested/keep/cm.yaml", "tools/x.yaml"}},
		{"spec.ignore replaces the defaults, not the VCS files", nil, ptr("*.md\n"), []string{
			"deploy/app.yaml", "deploy/logo.png", "deploy/.sops.yaml", "charts/web.tar.gz", ".github/workflows/ci.yml",
			".gitlab-ci.yml", "nested/keep/.flux.yaml", "nested/keep/cm.yaml", "tools/x.yaml"}},
		{"a .sourceignore replaces the defaults too", map[string]string{".sourceignore": "/tools/\n.github/\n*.png\n"}, nil, []string{
			".sourceignore", "deploy/app.yaml", "deploy/docs/README.md", "deploy/.sops.yaml", "charts/web.tar.gz",
			".gitlab-ci.yml", "nested/keep/.flux.yaml", "nested/keep/cm.yaml"}},
		{"a nested .sourceignore applies below its directory", map[string]string{"nested/.sourceignore": "*.yaml\n", "tools/.sourceignore": "# none\n"}, nil, []string{
			"nested/.sourceignore", "tools/.sourceignore", "deploy/app.yaml", "deploy/logo.png", "deploy/docs/README.md",
			"deploy/.sops.yaml", "charts/web.tar.gz", ".github/workflows/ci.yml", ".gitlab-ci.yml", "tools/x.yaml"}},
		{"spec.ignore wins over .sourceignore", map[string]string{".sourceignore": "deploy/\n"}, ptr("!deploy/app.yaml\n"), []string{
			".sourceignore", "deploy/app.yaml", "charts/web.tar.gz", ".github/workflows/ci.yml", ".gitlab-ci.yml",
			"nested/keep/.flux.yaml", "nested/keep/cm.yaml", "tools/x.yaml"}},
		{"Flux's example: only deploy, without docs", nil, ptr("# exclude all\n/*\n# include deploy dir\n!/deploy\n/deploy/**/*.md\n"), []string{
			"deploy/app.yaml", "deploy/logo.png", "deploy/.sops.yaml"}},
		{"a VCS file can be kept", nil, ptr("!.gitignore\n"), []string{".gitignore", "deploy/app.yaml", "deploy/logo.png",
			"deploy/docs/README.md", "deploy/.sops.yaml", "charts/web.tar.gz", ".github/workflows/ci.yml", ".gitlab-ci.yml",
			"nested/keep/.flux.yaml", "nested/keep/cm.yaml", "tools/x.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, tree)
			writeTree(t, dir, tt.extra)
			removed, err := source.ApplyIgnore(t.Context(), dir, tt.rules)
			check(t, "ApplyIgnore", err)
			got := readTree(t, dir)
			want := map[string]string{}
			for _, p := range tt.want {
				want[p] = tree[p]
				if c, ok := tt.extra[p]; ok {
					want[p] = c
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("remaining files (-want +got):\n%s", diff)
			}
			if total := len(tree) + len(tt.extra); removed != total-len(got) {
				t.Errorf("ApplyIgnore removed %d, the tree lost %d", removed, total-len(got))
			}
			if _, err := os.Stat(filepath.Join(dir, ".github")); err == nil && got[".github/workflows/ci.yml"] == "" {
				t.Errorf(".github is left as an empty directory")
			}
		})
	}
}

// TestWithIgnore filters what a Git source fetches, and leaves a fetched
// file (a packaged chart) alone.
func TestWithIgnore(t *testing.T) {
	s := startServer(t, gitserver.Options{})
	r := createRepo(t, s, "ig")
	commit(t, r, "c1", map[string]string{"app.yaml": "a", "logo.png": "p", ".sourceignore": "*.txt\n", "notes.txt": "n"})
	src := source.WithIgnore(source.NewGit(source.GitOptions{URL: s.HTTPURL("ig"), Insecure: true}), ptr("!notes.txt\n"))
	rev, err := src.Resolve(t.Context())
	check(t, "Resolve", err)
	art, err := src.Fetch(t.Context(), rev, t.TempDir())
	check(t, "Fetch", err)
	want := map[string]string{"app.yaml": "a", "logo.png": "p", ".sourceignore": "*.txt\n", "notes.txt": "n"}
	if diff := cmp.Diff(want, readTree(t, art.Dir)); diff != "" {
		t.Errorf("fetched tree (-want +got):\n%s", diff)
	}
	if _, ok := src.(source.ContentDigester); !ok {
		t.Errorf("WithIgnore hides ContentDigest")
	}

	file := source.WithIgnore(fileSource{}, nil)
	art, err = file.Fetch(t.Context(), "1.0.0", t.TempDir())
	check(t, "Fetch", err)
	if _, err := os.Stat(filepath.Join(art.Dir, art.Path)); err != nil {
		t.Errorf("the packaged file was removed: %v", err)
	}
}

// fileSource fetches one file that the default rules exclude, and
// designates it, as a chart source does.
type fileSource struct{}

func (fileSource) Resolve(context.Context) (source.Revision, error) { return "1.0.0", nil }

func (fileSource) Fetch(_ context.Context, rev source.Revision, dir string) (*source.Artifact, error) {
	err := os.WriteFile(filepath.Join(dir, "chart.tar.gz"), []byte("tgz"), 0o644)
	return &source.Artifact{Dir: dir, Path: "chart.tar.gz", Revision: rev}, err
}
