package gitserver_test

import (
	"bufio"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"

	"github.com/gitsync/gitsync/tests/gitserver"
)

// TestHTTPAuth clones over HTTP and HTTPS from servers with each combination
// of basic and bearer authentication, with good, wrong and no credentials.
func TestHTTPAuth(t *testing.T) {
	const user, pass, token = "alice", "s3cret", "tok-123"
	servers := map[string]gitserver.Options{
		"anonymous": {},
		"basic":     {Username: user, Password: pass},
		"bearer":    {BearerToken: token},
		"both":      {Username: user, Password: pass, BearerToken: token},
	}
	creds := map[string]transport.AuthMethod{
		"none":         nil,
		"basic":        &githttp.BasicAuth{Username: user, Password: pass},
		"wrong-pass":   &githttp.BasicAuth{Username: user, Password: "wrong"},
		"wrong-user":   &githttp.BasicAuth{Username: "mallory", Password: pass},
		"bearer":       &githttp.TokenAuth{Token: token},
		"wrong-bearer": &githttp.TokenAuth{Token: "tok-124"},
		// A token sent as a basic password (as some hosts accept) is not a
		// bearer token here.
		"token-as-pass": &githttp.BasicAuth{Username: user, Password: token},
	}
	// want[server] lists the credentials that must succeed; all others must
	// fail with an authentication error.
	want := map[string][]string{
		"anonymous": {"none", "basic", "wrong-pass", "wrong-user", "bearer", "wrong-bearer", "token-as-pass"},
		"basic":     {"basic"},
		"bearer":    {"bearer"},
		"both":      {"basic", "bearer"},
	}
	for srvName, opts := range servers {
		s := start(t, opts)
		_, head := seed(t, s, "app")
		failures := 0
		for credName, auth := range creds {
			for _, scheme := range []string{"http", "https"} {
				url := s.HTTPURL("app")
				if scheme == "https" {
					url = s.HTTPSURL("app")
				}
				t.Run(fmt.Sprintf("%s/%s/%s", srvName, scheme, credName), func(t *testing.T) {
					repo, err := clone(t.Context(), url, auth, s.CACert())
					if !slices.Contains(want[srvName], credName) {
						failures++
						if !errors.Is(err, transport.ErrAuthenticationRequired) {
							t.Fatalf("clone error = %v, want %v", err, transport.ErrAuthenticationRequired)
						}
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
		if got := s.Stats().HTTPAuthFailures; got != int64(failures) {
			t.Errorf("%s: Stats().HTTPAuthFailures = %d, want %d", srvName, got, failures)
		}
	}
}

// TestHTTPSNeedsTheTestCA checks that HTTPS is real TLS: without the test CA,
// or with another server's CA, the certificate is refused; with it, every
// name in the certificate works.
func TestHTTPSNeedsTheTestCA(t *testing.T) {
	s := start(t, gitserver.Options{})
	other := start(t, gitserver.Options{})
	_, head := seed(t, s, "app")

	for name, ca := range map[string][]byte{"no CA": nil, "other server's CA": other.CACert()} {
		t.Run(name, func(t *testing.T) {
			_, err := clone(t.Context(), s.HTTPSURL("app"), nil, ca)
			var unknown x509.UnknownAuthorityError
			if !errors.As(err, &unknown) {
				t.Fatalf("clone error = %v, want x509.UnknownAuthorityError", err)
			}
		})
	}
	port := s.HTTPSAddr()[strings.LastIndexByte(s.HTTPSAddr(), ':')+1:]
	for _, host := range []string{"127.0.0.1", "localhost"} {
		t.Run("host "+host, func(t *testing.T) {
			repo, err := clone(t.Context(), "https://"+host+":"+port+"/app.git", nil, s.CACert())
			if err != nil {
				t.Fatalf("clone: %v", err)
			}
			if got := headOf(t, repo); got != head {
				t.Errorf("HEAD = %s, want %s", got, head)
			}
		})
	}
}

// TestHTTPMissingRepo checks that an unknown repository is "not found", not an
// authentication or server error.
func TestHTTPMissingRepo(t *testing.T) {
	s := start(t, gitserver.Options{})
	_, err := clone(t.Context(), s.HTTPURL("nope"), nil, nil)
	if !errors.Is(err, transport.ErrRepositoryNotFound) {
		t.Fatalf("clone error = %v, want %v", err, transport.ErrRepositoryNotFound)
	}
}

// TestHTTPStaysInTheRoot sends raw requests whose paths leave the root by
// "..": git http-backend must not serve the repository outside.
func TestHTTPStaysInTheRoot(t *testing.T) {
	s := start(t, gitserver.Options{})
	seed(t, s, "app")
	outside := filepath.Join(filepath.Dir(s.Root()), filepath.Base(s.Root())+"-outside.git")
	if out, err := exec.CommandContext(t.Context(), "git", "init", "--bare", "--quiet", outside).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(outside); err != nil {
			t.Error(err)
		}
	})

	get := func(path string) string {
		c, err := net.Dial("tcp", s.HTTPAddr())
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := c.Close(); err != nil {
				t.Error(err)
			}
		}()
		if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path); err != nil {
			t.Fatal(err)
		}
		status, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(status)
	}
	if got := get("/app.git/info/refs?service=git-upload-pack"); !strings.Contains(got, " 200 ") {
		t.Fatalf("control request: %s, want 200", got)
	}
	for _, p := range []string{
		"/../" + filepath.Base(outside) + "/info/refs?service=git-upload-pack",
		"/app.git/../../" + filepath.Base(outside) + "/info/refs?service=git-upload-pack",
		"/%2e%2e/" + filepath.Base(outside) + "/info/refs?service=git-upload-pack",
	} {
		if got := get(p); !strings.Contains(got, " 404 ") {
			t.Errorf("GET %s: %s, want 404", p, got)
		}
	}
}
