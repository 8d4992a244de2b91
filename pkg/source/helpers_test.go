package source_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/tests/gitserver"
)

// startServer starts a Git server that is closed at the end of the test.
func startServer(t *testing.T, opts gitserver.Options) *gitserver.Server {
	t.Helper()
	return gitserver.StartTest(t, opts)
}

// createRepo creates an empty repository.
func createRepo(t *testing.T, s *gitserver.Server, name string) *gitserver.Repo {
	t.Helper()
	r, err := s.CreateRepo(t.Context(), name)
	if err != nil {
		t.Fatalf("CreateRepo %s: %v", name, err)
	}
	return r
}

// commit commits files and returns the commit id.
func commit(t *testing.T, r *gitserver.Repo, msg string, files map[string]string) string {
	t.Helper()
	id, err := r.Commit(t.Context(), msg, files)
	if err != nil {
		t.Fatalf("Commit %q: %v", msg, err)
	}
	return id
}

// commitEntries commits entries and returns the commit id.
func commitEntries(t *testing.T, r *gitserver.Repo, msg string, entries ...gitserver.Entry) string {
	t.Helper()
	id, err := r.CommitEntries(t.Context(), msg, entries...)
	if err != nil {
		t.Fatalf("CommitEntries %q: %v", msg, err)
	}
	return id
}

// check fails the test on err.
func check(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// fetch runs Fetch into a new temporary directory.
func fetch(t *testing.T, opts source.GitOptions) (*source.Artifact, error) {
	t.Helper()
	return source.Fetch(t.Context(), opts, t.TempDir())
}

// readTree returns the files below dir (path → content; symlinks as
// "-> target"), .git excluded.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	tree := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case rel == ".git":
			return filepath.SkipDir
		case d.Type()&fs.ModeSymlink != 0:
			dest, err := os.Readlink(p)
			tree[filepath.ToSlash(rel)] = "-> " + dest
			return err
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			tree[filepath.ToSlash(rel)] = string(b)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	return tree
}
