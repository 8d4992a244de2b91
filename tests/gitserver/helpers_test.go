package gitserver_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-git/go-billy/v5/memfs"
	"github.com/go-git/go-billy/v5/util"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/go-git/go-git/v5/storage/memory"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/gitsync/gitsync/tests/gitserver"
)

// start starts a server closed at the end of the test.
func start(t *testing.T, opts gitserver.Options) *gitserver.Server {
	t.Helper()
	s, err := gitserver.Start(t.Context(), opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// seed creates repo name with one commit holding README.md and returns the
// repo and the commit id.
func seed(t *testing.T, s *gitserver.Server, name string) (*gitserver.Repo, string) {
	t.Helper()
	r, err := s.CreateRepo(t.Context(), name)
	if err != nil {
		t.Fatalf("CreateRepo: %v", err)
	}
	id, err := r.Commit(t.Context(), "initial", map[string]string{"README.md": "hello " + name + "\n"})
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return r, id
}

// clone clones url into memory and returns the repository.
func clone(ctx context.Context, url string, auth transport.AuthMethod, ca []byte) (*git.Repository, error) {
	return git.CloneContext(ctx, memory.NewStorage(), memfs.New(), &git.CloneOptions{
		URL:      url,
		Auth:     auth,
		CABundle: ca,
	})
}

// headOf returns the commit id HEAD of a clone points to.
func headOf(t *testing.T, repo *git.Repository) string {
	t.Helper()
	ref, err := repo.Head()
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	return ref.Hash().String()
}

// readFile returns the content of path in a clone's worktree.
func readFile(t *testing.T, repo *git.Repository, path string) string {
	t.Helper()
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatalf("Worktree: %v", err)
	}
	b, err := util.ReadFile(wt.Filesystem, path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return string(b)
}

// lsRemote lists url's refs as name → hash, or name → "ref: TARGET" for
// symbolic refs; annotated tags appear twice, the second time peeled (NAME^{}).
func lsRemote(ctx context.Context, url string, auth transport.AuthMethod, ca []byte) (map[string]string, error) {
	rem := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{url}})
	refs, err := rem.ListContext(ctx, &git.ListOptions{Auth: auth, CABundle: ca, PeelingOption: git.AppendPeeled})
	if err != nil {
		return nil, err
	}
	got := map[string]string{}
	for _, r := range refs {
		if r.Type() == plumbing.SymbolicReference {
			got[r.Name().String()] = "ref: " + r.Target().String()
			continue
		}
		got[r.Name().String()] = r.Hash().String()
	}
	return got, nil
}

// sshAuth returns go-git SSH auth with key and a known_hosts callback built
// from knownHosts (written to a file, as knownhosts.New reads files).
func sshAuth(t *testing.T, key, knownHosts []byte) *gitssh.PublicKeys {
	t.Helper()
	auth, err := gitssh.NewPublicKeys("git", key, "")
	if err != nil {
		t.Fatalf("NewPublicKeys: %v", err)
	}
	file := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(file, knownHosts, 0o600); err != nil {
		t.Fatal(err)
	}
	cb, err := knownhosts.New(file)
	if err != nil {
		t.Fatalf("knownhosts.New: %v", err)
	}
	auth.HostKeyCallback = cb
	return auth
}
