package gitserver_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/gitsync/gitsync/tests/gitserver"
)

// newKey returns a fresh ed25519 key as OpenSSH PEM and its public key.
func newKey(t *testing.T) ([]byte, ssh.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(block), sshPub
}

// TestSSHClone clones over SSH with go-git: with the authorized keys and the
// right known_hosts it works; an unknown host, a changed host key, an
// unauthorized client key and a missing repository are refused.
func TestSSHClone(t *testing.T) {
	extraKey, extraPub := newKey(t)
	strangerKey, _ := newKey(t)
	s := start(t, gitserver.Options{AuthorizedKeys: []ssh.PublicKey{extraPub}})
	_, head := seed(t, s, "app")

	// A known_hosts that names only another port of the same IP.
	otherPort := []byte(knownhosts.Line([]string{"[127.0.0.1]:1"}, s.HostKey()) + "\n")
	// A known_hosts with the right host:port but another key.
	_, wrongHostKey := newKey(t)
	changed := []byte(knownhosts.Line([]string{knownhosts.Normalize(s.SSHAddr())}, wrongHostKey) + "\n")

	tests := []struct {
		name       string
		key        []byte
		knownHosts []byte
		repo       string
		check      func(t *testing.T, err error)
	}{
		{name: "client key", key: s.ClientKey(), knownHosts: s.KnownHosts(), repo: "app"},
		{name: "extra authorized key", key: extraKey, knownHosts: s.KnownHosts(), repo: "app"},
		{
			name: "host not in known_hosts", key: s.ClientKey(), knownHosts: otherPort, repo: "app",
			check: func(t *testing.T, err error) {
				var ke *knownhosts.KeyError
				if !errors.As(err, &ke) || len(ke.Want) != 0 {
					t.Fatalf("clone error = %v, want a knownhosts.KeyError for an unknown host", err)
				}
			},
		},
		{
			name: "host key changed", key: s.ClientKey(), knownHosts: changed, repo: "app",
			check: func(t *testing.T, err error) {
				var ke *knownhosts.KeyError
				if !errors.As(err, &ke) || len(ke.Want) == 0 {
					t.Fatalf("clone error = %v, want a knownhosts.KeyError for a mismatched key", err)
				}
			},
		},
		{
			name: "key not authorized", key: strangerKey, knownHosts: s.KnownHosts(), repo: "app",
			check: func(t *testing.T, err error) {
				if err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
					t.Fatalf("clone error = %v, want an SSH authentication failure", err)
				}
			},
		},
		{
			name: "missing repository", key: s.ClientKey(), knownHosts: s.KnownHosts(), repo: "nope",
			check: func(t *testing.T, err error) {
				if !errors.Is(err, transport.ErrRepositoryNotFound) {
					t.Fatalf("clone error = %v, want %v", err, transport.ErrRepositoryNotFound)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo, err := clone(t.Context(), s.SSHURL(tt.repo), sshAuth(t, tt.key, tt.knownHosts), nil)
			if tt.check != nil {
				tt.check(t, err)
				return
			}
			if err != nil {
				t.Fatalf("clone: %v", err)
			}
			if got := headOf(t, repo); got != head {
				t.Errorf("HEAD = %s, want %s", got, head)
			}
			if got := readFile(t, repo, "README.md"); got != "hello app\n" {
				t.Errorf("README.md = %q", got)
			}
		})
	}
}

// TestSSHRefusesEverythingElse talks to the SSH server directly: only
// git-upload-pack and git-receive-pack on repositories inside the root run.
func TestSSHRefusesEverythingElse(t *testing.T) {
	s := start(t, gitserver.Options{})
	_, head := seed(t, s, "app")

	// A real repository outside the root, reachable by "..", by its absolute
	// path and through a symlink inside the root.
	outside := filepath.Join(t.TempDir(), "outside.git")
	if out, err := exec.CommandContext(t.Context(), "git", "init", "--bare", "--quiet", outside).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v: %s", err, out)
	}
	if err := os.Symlink(outside, filepath.Join(s.Root(), "link.git")); err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(s.Root(), outside)
	if err != nil {
		t.Fatal(err)
	}

	signer, err := ssh.ParsePrivateKey(s.ClientKey())
	if err != nil {
		t.Fatal(err)
	}
	hostKeys, err := knownhostsCallback(t, s.KnownHosts())
	if err != nil {
		t.Fatal(err)
	}
	client, err := ssh.Dial("tcp", s.SSHAddr(), &ssh.ClientConfig{
		User:            "git",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: hostKeys,
	})
	if err != nil {
		t.Fatalf("ssh.Dial: %v", err)
	}
	t.Cleanup(func() {
		if err := client.Close(); err != nil {
			t.Errorf("ssh client Close: %v", err)
		}
	})

	// run execs command with a flush packet as stdin (a client that wants
	// nothing) and returns stdout, stderr and the exit status (-1 when the
	// exec request itself was refused).
	run := func(t *testing.T, command string) (string, string, int) {
		t.Helper()
		sess, err := client.NewSession()
		if err != nil {
			t.Fatalf("NewSession: %v", err)
		}
		defer closeSession(t, sess)
		var stdout, stderr bytes.Buffer
		sess.Stdin = strings.NewReader("0000")
		sess.Stdout, sess.Stderr = &stdout, &stderr
		err = sess.Run(command)
		var exitErr *ssh.ExitError
		switch {
		case err == nil:
			return stdout.String(), stderr.String(), 0
		case errors.As(err, &exitErr):
			return stdout.String(), stderr.String(), exitErr.ExitStatus()
		default:
			return stdout.String(), stderr.String(), -1
		}
	}

	t.Run("upload-pack runs", func(t *testing.T) {
		for _, cmd := range []string{"git-upload-pack '/app.git'", "git-upload-pack 'app.git'", "git upload-pack '/app'"} {
			stdout, stderr, status := run(t, cmd)
			if status != 0 || !strings.Contains(stdout, head+" HEAD") {
				t.Errorf("%s: status %d, stdout %q, stderr %q; want status 0 and an advertisement of %s", cmd, status, stdout, stderr, head)
			}
		}
	})

	notRepo := map[string]string{
		"dot-dot out of the root":   "git-upload-pack '/../" + filepath.ToSlash(rel) + "'",
		"absolute path outside":     "git-upload-pack '" + outside + "'",
		"symlink out of the root":   "git-upload-pack '/link.git'",
		"push through symlink":      "git-receive-pack '/link.git'",
		"the root itself":           "git-upload-pack '/'",
		"missing repository":        "git-upload-pack '/nope.git'",
		"dot-dot inside the root":   "git-receive-pack '/app.git/../link.git'",
		"a directory, not the repo": "git-upload-pack '/app.git/objects'",
	}
	for name, cmd := range notRepo {
		t.Run("not a repository/"+name, func(t *testing.T) {
			stdout, stderr, status := run(t, cmd)
			if status != 128 || stdout != "" || !strings.Contains(stderr, "does not appear to be a git repository") {
				t.Errorf("%s: status %d, stdout %q, stderr %q; want 128 and a not-a-repository error", cmd, status, stdout, stderr)
			}
		})
	}

	notGit := map[string]string{
		"other command":          "ls /",
		"shell":                  "sh -c 'id'",
		"command list":           "git-upload-pack '/app.git'; id",
		"command substitution":   "git-upload-pack /app.git$(id)",
		"other git service":      "git-upload-archive '/app.git'",
		"other git sub-command":  "git upload-archive '/app.git'",
		"no path":                "git-upload-pack",
		"empty path":             "git-upload-pack ''",
		"unterminated quote":     "git-upload-pack 'app.git",
		"option instead of path": "git-upload-pack --help",
	}
	for name, cmd := range notGit {
		t.Run("exec refused/"+name, func(t *testing.T) {
			if _, _, status := run(t, cmd); status != -1 {
				t.Errorf("%s: status %d, want the exec request refused", cmd, status)
			}
		})
	}

	t.Run("shell refused", func(t *testing.T) {
		sess, err := client.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		defer closeSession(t, sess)
		if err := sess.Shell(); err == nil {
			t.Error("Shell succeeded, want it refused")
		}
	})
	t.Run("subsystem refused", func(t *testing.T) {
		sess, err := client.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		defer closeSession(t, sess)
		if err := sess.RequestSubsystem("sftp"); err == nil {
			t.Error("sftp subsystem granted, want it refused")
		}
	})
	t.Run("port forwarding refused", func(t *testing.T) {
		if c, err := client.Dial("tcp", s.HTTPAddr()); err == nil {
			t.Errorf("direct-tcpip channel opened, want it refused (Close: %v)", c.Close())
		}
	})
}

// TestHostKeyIsFixed checks that every server, in every run, has the same host
// key, so known_hosts entries differ only by port.
func TestHostKeyIsFixed(t *testing.T) {
	a := start(t, gitserver.Options{})
	b := start(t, gitserver.Options{})
	// The fingerprint of the key derived from the fixed seed; it changes only
	// if the seed does.
	const want = "SHA256:/p4CaP5MAK+knpU0MuuE0nV1kxPvIK5jJ0kpITW+uDM"
	for _, s := range []*gitserver.Server{a, b} {
		if got := ssh.FingerprintSHA256(s.HostKey()); got != want {
			t.Errorf("host key fingerprint = %s, want %s", got, want)
		}
		line := string(s.KnownHosts())
		wantPrefix := "[127.0.0.1]:" + s.SSHAddr()[strings.LastIndexByte(s.SSHAddr(), ':')+1:] + " ssh-ed25519 "
		if !strings.HasPrefix(line, wantPrefix) || !strings.HasSuffix(line, "\n") {
			t.Errorf("KnownHosts() = %q, want prefix %q and a final newline", line, wantPrefix)
		}
	}
	if bytes.Equal(a.ClientKey(), b.ClientKey()) {
		t.Error("two servers share a client key; each should generate its own")
	}
}

// knownhostsCallback builds a host key callback from known_hosts content.
func knownhostsCallback(t *testing.T, content []byte) (ssh.HostKeyCallback, error) {
	file := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(file, content, 0o600); err != nil {
		return nil, err
	}
	return knownhosts.New(file)
}

// closeSession closes sess. io.EOF means the server closed the channel
// first, which is how a finished or refused exec ends.
func closeSession(t *testing.T, sess *ssh.Session) {
	t.Helper()
	if err := sess.Close(); err != nil && !errors.Is(err, io.EOF) {
		t.Errorf("ssh session Close: %v", err)
	}
}
