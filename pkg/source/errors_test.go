package source_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/tests/gitserver"
)

// TestNotFound checks that a missing ref is ErrRefNotFound from Resolve and
// Fetch, and that the message names the URL and the ref.
func TestNotFound(t *testing.T) {
	s := startServer(t, gitserver.Options{})
	h := newHistory(t, s, "missing")
	url := s.HTTPURL("missing")
	const unknown = "0123456789abcdef0123456789abcdef01234567"

	tests := []struct {
		name      string
		ref       source.GitRef
		fetchOnly bool // Resolve cannot know without fetching
		want      []string
	}{
		{name: "branch", ref: source.GitRef{Branch: "nope"}, want: []string{`ref branch "nope": not found`}},
		{name: "tag", ref: source.GitRef{Tag: "v9.9.9"}, want: []string{`ref tag "v9.9.9": not found`}},
		{name: "semver", ref: source.GitRef{SemVer: ">=3.0.0"}, want: []string{
			`ref semver ">=3.0.0": no tag satisfies the constraint`,
			"highest version tags: v2.0.0-rc.1, 1.3.0, v1.2.0, v1.0.0",
		}},
		{name: "name", ref: source.GitRef{Name: "refs/pull/1/head"}, want: []string{`ref name "refs/pull/1/head": not found`}},
		{name: "branch of commit", ref: source.GitRef{Branch: "nope", Commit: h.ids["c1"]}, want: []string{`branch "nope": not found`}},
		{name: "commit", ref: source.GitRef{Commit: unknown}, fetchOnly: true, want: []string{
			`ref commit "` + unknown + `"`, "not reachable from any ref on the server: not found",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := source.GitOptions{URL: url, Ref: tt.ref, Insecure: true}
			checkErr := func(what string, err error) {
				t.Helper()
				if !errors.Is(err, source.ErrRefNotFound) {
					t.Fatalf("%s: error %v, want ErrRefNotFound", what, err)
				}
				for _, w := range append(tt.want, url+": ") {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: error %q does not contain %q", what, err, w)
					}
				}
			}
			if !tt.fetchOnly {
				_, err := source.Resolve(t.Context(), opts)
				checkErr("Resolve", err)
			}
			_, err := fetch(t, opts)
			checkErr("Fetch", err)
		})
	}
}

// TestEmptyRepository checks the error for a repository without commits.
func TestEmptyRepository(t *testing.T) {
	s := startServer(t, gitserver.Options{})
	createRepo(t, s, "empty")
	_, err := source.Resolve(t.Context(), source.GitOptions{URL: s.HTTPURL("empty"), Insecure: true})
	if !errors.Is(err, source.ErrRefNotFound) || !strings.Contains(err.Error(), "repository is empty") {
		t.Errorf("Resolve = %v, want ErrRefNotFound saying the repository is empty", err)
	}
}

// TestMissingRepository checks the error for a URL without a repository.
func TestMissingRepository(t *testing.T) {
	s := startServer(t, gitserver.Options{})
	_, err := source.Resolve(t.Context(), source.GitOptions{URL: s.HTTPURL("nothing"), Insecure: true})
	if err == nil || !strings.Contains(err.Error(), s.HTTPURL("nothing")) {
		t.Errorf("Resolve = %v, want an error naming the URL", err)
	}
}

// TestInvalidOptions checks what is refused before any network access.
func TestInvalidOptions(t *testing.T) {
	tests := []struct {
		name string
		opts source.GitOptions
		want string
	}{
		{"no url", source.GitOptions{}, "url is empty"},
		{"http without insecure", source.GitOptions{URL: "http://127.0.0.1:1/r.git"}, "http://127.0.0.1:1/r.git: invalid options: plain http:// needs insecure"},
		{"file url", source.GitOptions{URL: "file:///srv/r.git"}, `file:///srv/r.git: invalid options: scheme "file" is not supported`},
		{"local path", source.GitOptions{URL: "/srv/r.git"}, "/srv/r.git: invalid options: not a URL"},
		{"password in url", source.GitOptions{URL: "https://u:secret@127.0.0.1:1/r.git"}, "URL holds a password"},
		{"bad branch", source.GitOptions{URL: "https://127.0.0.1:1/r.git", Ref: source.GitRef{Branch: "a..b"}}, `ref branch "a..b": invalid options: not a valid Git ref name`},
		{"short commit", source.GitOptions{URL: "https://127.0.0.1:1/r.git", Ref: source.GitRef{Commit: "abc123"}}, "want a full 40-character"},
		{"bad semver", source.GitOptions{URL: "https://127.0.0.1:1/r.git", Ref: source.GitRef{SemVer: "newest"}}, `ref semver "newest": invalid options`},
		{"name without refs/", source.GitOptions{URL: "https://127.0.0.1:1/r.git", Ref: source.GitRef{Name: "main"}}, "starting with refs/"},
		{"peeled branch name", source.GitOptions{URL: "https://127.0.0.1:1/r.git", Ref: source.GitRef{Name: "refs/heads/main^{}"}}, "only meaningful on tags"},
		{"bearer and basic", source.GitOptions{URL: "https://127.0.0.1:1/r.git", Auth: source.Credentials{Username: "u", BearerToken: "t"}}, "both bearerToken and username"},
		{"password without username", source.GitOptions{URL: "https://127.0.0.1:1/r.git", Auth: source.Credentials{Password: "p"}}, "password but no username"},
		{"ssh without known_hosts", source.GitOptions{URL: "ssh://git@127.0.0.1:1/r.git", Auth: source.Credentials{Identity: []byte("x")}}, "SSH needs known_hosts"},
		{"ssh without identity", source.GitOptions{URL: "git@127.0.0.1:r.git", Auth: source.Credentials{KnownHosts: []byte("x")}}, "SSH needs an identity"},
		{"ssh bad identity", source.GitOptions{URL: "git@127.0.0.1:r.git", Auth: source.Credentials{KnownHosts: []byte("x"), Identity: []byte("x")}}, "identity: ssh: no key found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := source.Resolve(t.Context(), tt.opts)
			if !errors.Is(err, source.ErrInvalidOptions) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Resolve = %v, want ErrInvalidOptions containing %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q shows the password", err)
			}
			_, err = fetch(t, tt.opts)
			if !errors.Is(err, source.ErrInvalidOptions) {
				t.Errorf("Fetch = %v, want ErrInvalidOptions", err)
			}
		})
	}
}

// TestFetchDirMustBeEmpty checks that Fetch does not write over files.
func TestFetchDirMustBeEmpty(t *testing.T) {
	dir := t.TempDir()
	check(t, "write", os.WriteFile(filepath.Join(dir, "keep"), nil, 0o600))
	_, err := source.Fetch(t.Context(), source.GitOptions{URL: "https://127.0.0.1:1/r.git"}, dir)
	if !errors.Is(err, source.ErrInvalidOptions) || !strings.Contains(err.Error(), "is not empty") {
		t.Errorf("Fetch = %v, want ErrInvalidOptions saying the directory is not empty", err)
	}
}

// TestTimeout checks that Timeout ends a call to a server that never
// answers, and that the error says so.
func TestTimeout(t *testing.T) {
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	// Close the hanging requests before the server, or Close waits for them.
	defer hang.Close()
	defer hang.CloseClientConnections()
	opts := source.GitOptions{URL: hang.URL + "/r.git", Insecure: true, Timeout: 300 * time.Millisecond}

	start := time.Now()
	_, err := source.Resolve(t.Context(), opts)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Resolve = %v, want DeadlineExceeded", err)
	}
	_, err = fetch(t, opts)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Fetch = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("two calls with a 300ms timeout took %v", d)
	}
}
