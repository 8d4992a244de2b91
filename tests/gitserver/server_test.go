package gitserver_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/gitsync/gitsync/tests/gitserver"
)

// TestURLs checks the URL forms and that ListenIP is honoured everywhere:
// listeners, URLs, the certificate and known_hosts.
func TestURLs(t *testing.T) {
	s := start(t, gitserver.Options{ListenIP: "127.0.0.2"})
	_, head := seed(t, s, "team/app")
	tests := []struct{ got, wantPrefix, wantSuffix string }{
		{s.HTTPURL("team/app"), "http://127.0.0.2:", "/team/app.git"},
		{s.HTTPSURL("team/app.git"), "https://127.0.0.2:", "/team/app.git"},
		{s.SSHURL("team/app"), "ssh://git@127.0.0.2:", "/team/app.git"},
		{string(s.KnownHosts()), "[127.0.0.2]:", "\n"},
	}
	for _, tt := range tests {
		if !strings.HasPrefix(tt.got, tt.wantPrefix) || !strings.HasSuffix(tt.got, tt.wantSuffix) {
			t.Errorf("%q: want %q…%q", tt.got, tt.wantPrefix, tt.wantSuffix)
		}
	}
	for name, get := range map[string]func() (*git.Repository, error){
		"https": func() (*git.Repository, error) { return clone(t.Context(), s.HTTPSURL("team/app"), nil, s.CACert()) },
		"ssh": func() (*git.Repository, error) {
			return clone(t.Context(), s.SSHURL("team/app"), sshAuth(t, s.ClientKey(), s.KnownHosts()), nil)
		},
	} {
		t.Run(name, func(t *testing.T) {
			repo, err := get()
			if err != nil {
				t.Fatal(err)
			}
			if got := headOf(t, repo); got != head {
				t.Errorf("HEAD = %s, want %s", got, head)
			}
		})
	}
}

// TestStartRejectsBadOptions checks the option checks.
func TestStartRejectsBadOptions(t *testing.T) {
	for name, opts := range map[string]gitserver.Options{
		"unspecified IP":        {ListenIP: "0.0.0.0"},
		"not an IP":             {ListenIP: "localhost"},
		"password without user": {Password: "p"},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := gitserver.Start(t.Context(), opts)
			if err == nil {
				t.Fatalf("Start succeeded (Close: %v)", s.Close())
			}
		})
	}
}

// TestClose checks that Close stops every listener, removes the root it
// created and keeps a root it was given.
func TestClose(t *testing.T) {
	s, err := gitserver.Start(t.Context(), gitserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	seed(t, s, "app")
	root := s.Root()
	addrs := []string{s.HTTPAddr(), s.HTTPSAddr(), s.SSHAddr()}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for _, addr := range addrs {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			t.Errorf("%s still accepts connections (Close: %v)", addr, c.Close())
		}
	}
	if _, err := os.Stat(root); !os.IsNotExist(err) {
		t.Errorf("root %s still exists (stat: %v)", root, err)
	}

	given := t.TempDir()
	s2, err := gitserver.Start(t.Context(), gitserver.Options{Root: given})
	if err != nil {
		t.Fatal(err)
	}
	seed(t, s2, "kept")
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(given, "kept.git", "HEAD")); err != nil {
		t.Errorf("repo in a given root is gone: %v", err)
	}
}

// TestGitCLI uses the real git client with protocol v2 over HTTPS (basic
// auth, the test CA) and over OpenSSH, which passes GIT_PROTOCOL through the
// SSH "env" request.
func TestGitCLI(t *testing.T) {
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("no ssh client installed")
	}
	s := start(t, gitserver.Options{Username: "u", Password: "p"})
	r, tagged := seed(t, s, "app")
	if _, err := r.AnnotatedTag(t.Context(), "v1", "one"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ca, key, kh := write("ca.pem", s.CACert()), write("id", s.ClientKey()), write("known_hosts", s.KnownHosts())
	httpsURL := strings.Replace(s.HTTPSURL("app"), "https://", "https://u:p@", 1)

	// The machine's GIT_* variables (such as GIT_SSL_CAINFO, which overrides
	// http.sslCAInfo) are left out.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0", "GIT_SSL_CAINFO="+ca,
		"GIT_SSH_COMMAND=ssh -F /dev/null -i "+key+" -o IdentitiesOnly=yes -o UserKnownHostsFile="+kh+
			" -o StrictHostKeyChecking=yes -o BatchMode=yes")
	for name, url := range map[string]string{"https": httpsURL, "ssh": s.SSHURL("app")} {
		t.Run(name, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), "git", "-c", "protocol.version=2", "ls-remote", url)
			cmd.Env = append(env, "GIT_TRACE_PACKET=1")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("git ls-remote: %v\n%s", err, stderr.String())
			}
			main, err := r.Head(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(stdout.String(), main+"\trefs/heads/main") || !strings.Contains(stdout.String(), tagged+"\trefs/tags/v1^{}") {
				t.Errorf("ls-remote output lacks main at %s and v1^{} at %s:\n%s", main, tagged, stdout.String())
			}
			if !strings.Contains(stderr.String(), "< version 2") {
				t.Errorf("protocol v2 was not negotiated; packet trace:\n%s", stderr.String())
			}

			// A clone and a push with the same client.
			work := filepath.Join(t.TempDir(), "w")
			for _, args := range [][]string{
				{"clone", "--quiet", url, work},
				{"-C", work, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "--quiet", "--allow-empty", "-m", "cli " + name},
				{"-C", work, "push", "--quiet", "origin", "main"},
			} {
				cmd := exec.CommandContext(t.Context(), "git", args...)
				cmd.Env = env
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
				}
			}
			pushed, err := exec.CommandContext(t.Context(), "git", "-C", work, "rev-parse", "HEAD").Output()
			if err != nil {
				t.Fatal(err)
			}
			head, err := r.Head(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(string(pushed)); got != head {
				t.Errorf("server head = %s, want pushed %s", head, got)
			}
		})
	}
}

// TestConcurrentClones clones one repo over all transports at once, as
// parallel tests do.
func TestConcurrentClones(t *testing.T) {
	s := start(t, gitserver.Options{BearerToken: "t"})
	_, head := seed(t, s, "app")
	sshKey := sshAuth(t, s.ClientKey(), s.KnownHosts())
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for i := range 10 {
		for _, url := range []string{s.HTTPURL("app"), s.HTTPSURL("app"), s.SSHURL("app")} {
			var auth transport.AuthMethod = &githttp.TokenAuth{Token: "t"}
			if strings.HasPrefix(url, "ssh://") {
				auth = sshKey
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				repo, err := git.CloneContext(t.Context(), memory.NewStorage(), nil, &git.CloneOptions{
					URL: url, Auth: auth, CABundle: s.CACert(), NoCheckout: true,
				})
				if err != nil {
					errs <- fmt.Errorf("clone %d %s: %w", i, url, err)
					return
				}
				ref, err := repo.Head()
				if err != nil || ref.Hash().String() != head {
					errs <- fmt.Errorf("clone %d %s: head %v, %v; want %s", i, url, ref, err, head)
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestBulkCommit writes 10,000 files in one commit, reports how long that and a
// clone take, and checks the tree.
func TestBulkCommit(t *testing.T) {
	const n = 10000
	s := start(t, gitserver.Options{})
	r, err := s.CreateRepo(t.Context(), "bulk")
	if err != nil {
		t.Fatal(err)
	}
	files := make(map[string]string, n)
	for i := range n {
		files[fmt.Sprintf("dir%02d/file%05d.yaml", i%100, i)] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d\n", i)
	}
	begin := time.Now()
	id, err := r.Commit(t.Context(), "bulk", files)
	if err != nil {
		t.Fatal(err)
	}
	commitTime := time.Since(begin)

	begin = time.Now()
	repo, err := git.CloneContext(t.Context(), memory.NewStorage(), nil, &git.CloneOptions{URL: s.HTTPURL("bulk"), NoCheckout: true})
	if err != nil {
		t.Fatal(err)
	}
	cloneTime := time.Since(begin)
	t.Logf("commit of %d files: %v; go-git clone over HTTP (no checkout): %v", n, commitTime, cloneTime)

	commit, err := repo.CommitObject(plumbing.NewHash(id))
	if err != nil {
		t.Fatal(err)
	}
	iter, err := commit.Files()
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	if err := iter.ForEach(func(f *object.File) error {
		got++
		if f.Name == "dir42/file04242.yaml" {
			if c, _ := f.Contents(); c != files[f.Name] {
				t.Errorf("%s = %q, want %q", f.Name, c, files[f.Name])
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got != n {
		t.Errorf("commit has %d files, want %d", got, n)
	}
}

// BenchmarkCommit measures Commit with a few files (the common case) and with
// 10,000 files.
func BenchmarkCommit(b *testing.B) {
	s, err := gitserver.Start(b.Context(), gitserver.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Error(err)
		}
	})
	for _, n := range []int{3, 10000} {
		b.Run(fmt.Sprint(n, "files"), func(b *testing.B) {
			r, err := s.CreateRepo(b.Context(), fmt.Sprint("bench", n))
			if err != nil {
				b.Fatal(err)
			}
			i := 0
			for b.Loop() {
				files := make(map[string]string, n)
				for j := range n {
					files[fmt.Sprintf("d%02d/f%05d", j%100, j)] = fmt.Sprint(i, j)
				}
				if _, err := r.Commit(b.Context(), "bench", files); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkStartAndSeed measures what most tests pay: a server plus a repo with
// one commit.
func BenchmarkStartAndSeed(b *testing.B) {
	for b.Loop() {
		s, err := gitserver.Start(b.Context(), gitserver.Options{})
		if err != nil {
			b.Fatal(err)
		}
		r, err := s.CreateRepo(b.Context(), "app")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.Commit(b.Context(), "c", map[string]string{"a": "b"}); err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
