package source_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http/cgi"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/tests/gitserver"
)

// TestMaxSize checks that the cap stops a packfile that is too large while
// it arrives, and a checkout that is too large although its packfile is
// small.
func TestMaxSize(t *testing.T) {
	s := startServer(t, gitserver.Options{})

	random := make([]byte, 2<<20) // does not compress
	_, err := rand.Read(random)
	check(t, "rand", err)
	commit(t, createRepo(t, s, "random"), "big", map[string]string{"big.bin": string(random)})
	commit(t, createRepo(t, s, "zeros"), "big", map[string]string{"zeros.txt": strings.Repeat("0", 8<<20)})

	tests := []struct {
		repo     string
		maxSize  int64
		fails    bool
		checkout bool // whether the checkout, not the transfer, crosses the cap
	}{
		{"random", 1 << 20, true, false}, // stopped while the packfile arrives
		{"random", 3 << 20, true, true},  // the 2 MiB packfile fits, the 2 MiB checkout does not
		{"random", 5 << 20, false, false},
		{"random", 0, false, false},    // the default, 512 MiB
		{"random", -1, false, false},   // no cap
		{"zeros", 1 << 20, true, true}, // a packfile of a few KiB, a checkout of 8 MiB
		{"zeros", 9 << 20, false, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.repo, tt.maxSize), func(t *testing.T) {
			opts := source.GitOptions{URL: s.HTTPURL(tt.repo), Insecure: true, MaxSize: tt.maxSize}
			art, err := fetch(t, opts)
			if !tt.fails {
				check(t, "Fetch", err)
				if n := len(readTree(t, art.Dir)); n != 1 {
					t.Errorf("checkout has %d files, want 1", n)
				}
				return
			}
			if !errors.Is(err, source.ErrTooLarge) {
				t.Fatalf("Fetch = %v, want ErrTooLarge", err)
			}
			if want := fmt.Sprintf("the limit is %d", tt.maxSize); !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
			if got := strings.Contains(err.Error(), ": checkout "); got != tt.checkout {
				t.Errorf("error %q: stopped in checkout = %v, want %v", err, got, tt.checkout)
			}
		})
	}
}

// TestSymlinks checks that links inside the repository are kept and links
// that leave it are refused.
func TestSymlinks(t *testing.T) {
	s := startServer(t, gitserver.Options{})
	link := func(path, dest string) gitserver.Entry {
		return gitserver.Entry{Path: path, Content: dest, Mode: gitserver.Symlink}
	}
	file := gitserver.Entry{Path: "base/app.yaml", Content: "kind: ConfigMap\n"}

	tests := []struct {
		name  string
		links []gitserver.Entry
		want  string // "" when the fetch must succeed
	}{
		{"inside", []gitserver.Entry{link("overlay/base", "../base"), link("top", "base/app.yaml")}, ""},
		{"dangling inside", []gitserver.Entry{link("later", "base/not-yet.yaml")}, ""},
		{"parent", []gitserver.Entry{link("overlay/escape", "../../outside")}, "overlay/escape -> ../../outside: points outside the repository"},
		{"absolute", []gitserver.Entry{link("passwd", "/etc/passwd")}, "passwd -> /etc/passwd: absolute link target"},
		{"through a link to the root", []gitserver.Entry{link("y", "."), link("x/a", "../y/..")}, "x/a -> ../y/..: points outside the repository"},
		{"chain", []gitserver.Entry{link("a", "b"), link("b", "c/.."), link("c", "..")}, "points outside the repository"},
		{"loop", []gitserver.Entry{link("p", "q"), link("q", "p")}, "too many levels of symbolic links"},
		{"into .git", []gitserver.Entry{link("cfg", ".git/config")}, "cfg -> .git/config: points into .git"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprintf("links%d", i)
			r := createRepo(t, s, name)
			commitEntries(t, r, tt.name, append([]gitserver.Entry{file}, tt.links...)...)
			art, err := fetch(t, source.GitOptions{URL: s.HTTPURL(name), Insecure: true})
			if tt.want == "" {
				check(t, "Fetch", err)
				for _, l := range tt.links {
					if got := readTree(t, art.Dir)[l.Path]; got != "-> "+l.Content {
						t.Errorf("%s = %q, want a link to %s", l.Path, got, l.Content)
					}
				}
				return
			}
			if !errors.Is(err, source.ErrUnsafeSymlink) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Fetch = %v, want ErrUnsafeSymlink containing %q", err, tt.want)
			}
		})
	}
}

// TestCommitFallback serves the repositories through a plain `git
// http-backend` that does not allow commits by id. A commit that is no tip
// then needs a full clone; one that is a tip is still fetched shallow.
func TestCommitFallback(t *testing.T) {
	s := startServer(t, gitserver.Options{})
	h := newHistory(t, s, "fallback")
	plain := plainHTTPBackend(t, s.Root())
	url := plain + "/fallback.git"

	tests := []struct {
		ref         source.GitRef
		wantRev     string
		wantShallow bool
		wantFiles   int
	}{
		{source.GitRef{Commit: "c5"}, "sha1:c5", true, 6},
		{source.GitRef{Commit: "c2"}, "sha1:c2", true, 3}, // behind annotated tag v1.2.0
		{source.GitRef{Commit: "c4"}, "sha1:c4", false, 5},
		{source.GitRef{Branch: "main", Commit: "c4"}, "main@sha1:c4", false, 5},
		{source.GitRef{Branch: "feature", Commit: "c6"}, "feature@sha1:c6", true, 6},
	}
	for _, tt := range tests {
		t.Run(tt.ref.String(), func(t *testing.T) {
			ref := tt.ref
			ref.Commit = h.ids[ref.Commit]
			art, err := fetch(t, source.GitOptions{URL: url, Ref: ref, Insecure: true})
			check(t, "Fetch", err)
			got := struct {
				Rev     string
				Shallow bool
				Files   int
			}{string(art.Revision), art.Shallow, len(readTree(t, art.Dir))}
			want := struct {
				Rev     string
				Shallow bool
				Files   int
			}{h.expand(tt.wantRev), tt.wantShallow, tt.wantFiles}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Fetch (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("commit on another branch", func(t *testing.T) {
		_, err := fetch(t, source.GitOptions{URL: url, Ref: source.GitRef{Branch: "main", Commit: h.ids["c6"]}, Insecure: true})
		if !errors.Is(err, source.ErrRefNotFound) || !strings.Contains(err.Error(), "is not in branch main") {
			t.Errorf("Fetch = %v, want ErrRefNotFound saying the commit is not in branch main", err)
		}
	})
	t.Run("unknown commit", func(t *testing.T) {
		const unknown = "0123456789abcdef0123456789abcdef01234567"
		_, err := fetch(t, source.GitOptions{URL: url, Ref: source.GitRef{Commit: unknown}, Insecure: true})
		if !errors.Is(err, source.ErrRefNotFound) || !strings.Contains(err.Error(), "is not in any branch or tag") {
			t.Errorf("Fetch = %v, want ErrRefNotFound saying the commit is in no branch or tag", err)
		}
	})
}

// plainHTTPBackend serves the bare repositories under root with `git
// http-backend` and git's default configuration, on a loopback port, and
// returns its base URL.
func plainHTTPBackend(t *testing.T, root string) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "git", "--exec-path").Output()
	check(t, "git --exec-path", err)
	h := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(out)), "git-http-backend"),
		Env: []string{
			"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		},
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestThousandFiles fetches a repository of 1,000 small files over HTTP and
// reports how long Resolve and Fetch take.
func TestThousandFiles(t *testing.T) {
	s := startServer(t, gitserver.Options{})
	r := createRepo(t, s, "thousand")
	files := make(map[string]string, 1000)
	for i := range 1000 {
		files[fmt.Sprintf("apps/app%02d/cm%03d.yaml", i/50, i)] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm%03d\ndata:\n  i: %q\n", i, fmt.Sprint(i))
	}
	id := commit(t, r, "thousand", files)
	opts := source.GitOptions{URL: s.HTTPURL("thousand"), Insecure: true}

	start := time.Now()
	rev, err := source.Resolve(t.Context(), opts)
	check(t, "Resolve", err)
	resolved := time.Since(start)

	start = time.Now()
	art, err := fetch(t, opts)
	check(t, "Fetch", err)
	fetched := time.Since(start)

	if rev != art.Revision || art.Commit != id {
		t.Errorf("Resolve = %s, Fetch = %s, want commit %s", rev, art.Revision, id)
	}
	if diff := cmp.Diff(files, readTree(t, art.Dir)); diff != "" {
		t.Errorf("checkout (-want +got):\n%s", diff)
	}
	t.Logf("1,000 files over HTTP: Resolve %v, Fetch %v", resolved.Round(time.Millisecond), fetched.Round(time.Millisecond))
}
