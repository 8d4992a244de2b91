package source_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/google/go-cmp/cmp"

	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/tests/gitserver"
)

// submoduleRepos creates grand, lib (with grand as its submodule
// deps/grand) and parent (with lib as vendor/lib), each submodule by a
// relative URL, and returns the parent's files with the submodules' as
// a full checkout shows them.
func submoduleRepos(t *testing.T, s *gitserver.Server, libURL string) map[string]string {
	t.Helper()
	grand := createRepo(t, s, "grand")
	grandID := commit(t, grand, "g1", map[string]string{"grand.yaml": "kind: Grand\n"})
	lib := createRepo(t, s, "lib")
	libID := commitEntries(t, lib, "l1",
		gitserver.Entry{Path: "lib.yaml", Content: "kind: Lib\n"},
		gitserver.Entry{Path: ".gitmodules", Content: "[submodule \"grand\"]\n\tpath = deps/grand\n\turl = ../grand.git\n"},
		gitserver.Entry{Path: "deps/grand", Content: grandID, Mode: gitserver.Gitlink},
	)
	parent := createRepo(t, s, "parent")
	commitEntries(t, parent, "p1",
		gitserver.Entry{Path: "app.yaml", Content: "kind: App\n"},
		gitserver.Entry{Path: ".gitmodules", Content: "[submodule \"lib\"]\n\tpath = vendor/lib\n\turl = " + libURL + "\n"},
		gitserver.Entry{Path: "vendor/lib", Content: libID, Mode: gitserver.Gitlink},
	)
	return map[string]string{
		"app.yaml":                         "kind: App\n",
		".gitmodules":                      "[submodule \"lib\"]\n\tpath = vendor/lib\n\turl = " + libURL + "\n",
		"vendor/lib/lib.yaml":              "kind: Lib\n",
		"vendor/lib/.gitmodules":           "[submodule \"grand\"]\n\tpath = deps/grand\n\turl = ../grand.git\n",
		"vendor/lib/deps/grand/grand.yaml": "kind: Grand\n",
	}
}

// TestSubmodules fetches submodules, nested and by relative URL, with the
// parent's credentials over HTTPS with basic auth and over SSH.
func TestSubmodules(t *testing.T) {
	s := startServer(t, gitserver.Options{Username: "git", Password: "s3cret"})
	want := submoduleRepos(t, s, "../lib.git")
	for _, tt := range []struct {
		name string
		opts source.GitOptions
	}{
		{"https with basic auth", source.GitOptions{URL: s.HTTPSURL("parent"),
			Auth: source.Credentials{Username: "git", Password: "s3cret", CAPEM: s.CACert()}}},
		{"ssh", source.GitOptions{URL: s.SSHURL("parent"),
			Auth: source.Credentials{Identity: s.ClientKey(), KnownHosts: s.KnownHosts()}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			art, err := fetch(t, opts)
			check(t, "Fetch without submodules", err)
			if got := readTree(t, art.Dir); len(got) != 2 || got["app.yaml"] == "" {
				t.Errorf("without recurseSubmodules: %v; want app.yaml and .gitmodules only", got)
			}
			opts.RecurseSubmodules = true
			art, err = fetch(t, opts)
			check(t, "Fetch with submodules", err)
			if diff := cmp.Diff(want, readTree(t, art.Dir)); diff != "" {
				t.Errorf("checkout (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSubmoduleOtherHost gives a submodule on another host no
// credentials: the server refuses it.
func TestSubmoduleOtherHost(t *testing.T) {
	s := startServer(t, gitserver.Options{Username: "git", Password: "s3cret"})
	// localhost is another host than the parent's 127.0.0.1, for
	// credentials as for Git's credential helpers; the certificate names
	// both.
	other := strings.Replace(s.HTTPSURL("lib"), "127.0.0.1", "localhost", 1)
	submoduleRepos(t, s, other)
	auth := source.Credentials{Username: "git", Password: "s3cret", CAPEM: s.CACert()}
	_, err := fetch(t, source.GitOptions{URL: s.HTTPSURL("parent"), Auth: auth, RecurseSubmodules: true})
	t.Logf("refused: %v", err)
	if !errors.Is(err, source.ErrAuthentication) || !errors.Is(err, transport.ErrAuthenticationRequired) ||
		!strings.Contains(err.Error(), "submodule vendor/lib") {
		t.Errorf("Fetch: %v; want an authentication failure of submodule vendor/lib", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("the error shows the password: %v", err)
	}
}

// TestSubmoduleConfined holds submodules to the parent's confinement and
// size cap.
func TestSubmoduleConfined(t *testing.T) {
	s := startServer(t, gitserver.Options{})
	lib := createRepo(t, s, "lib")
	libID := commitEntries(t, lib, "l1",
		gitserver.Entry{Path: "lib.yaml", Content: "kind: Lib\n"},
		gitserver.Entry{Path: "escape", Content: "../../../outside", Mode: gitserver.Symlink})
	rng := rand.New(rand.NewPCG(3, 4))
	bigFiles := map[string]string{}
	for i := range 100 {
		b := make([]byte, 4096)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		bigFiles[fmt.Sprintf("f%d.bin", i)] = string(b)
	}
	big := createRepo(t, s, "big")
	bigID := commit(t, big, "b1", bigFiles)
	parent := createRepo(t, s, "parent")
	gitmodules := func(name string) string {
		return "[submodule \"" + name + "\"]\n\tpath = vendor/" + name + "\n\turl = ../" + name + ".git\n"
	}
	commitEntries(t, parent, "escape",
		gitserver.Entry{Path: ".gitmodules", Content: gitmodules("lib")},
		gitserver.Entry{Path: "vendor/lib", Content: libID, Mode: gitserver.Gitlink})
	_, err := fetch(t, source.GitOptions{URL: s.HTTPURL("parent"), Insecure: true, RecurseSubmodules: true})
	if !errors.Is(err, source.ErrUnsafeSymlink) || !strings.Contains(err.Error(), "vendor/lib/escape") {
		t.Errorf("Fetch of a submodule with an escaping symlink: %v; want ErrUnsafeSymlink naming vendor/lib/escape", err)
	}

	commitEntries(t, parent, "big",
		gitserver.Entry{Path: "vendor/lib", Mode: gitserver.Delete},
		gitserver.Entry{Path: ".gitmodules", Content: gitmodules("big")},
		gitserver.Entry{Path: "vendor/big", Content: bigID, Mode: gitserver.Gitlink})
	opts := source.GitOptions{URL: s.HTTPURL("parent"), Insecure: true, MaxSize: 200 << 10}
	_, err = fetch(t, opts)
	check(t, "Fetch of the parent alone under the cap", err)
	opts.RecurseSubmodules = true
	_, err = fetch(t, opts)
	t.Logf("refused: %v", err)
	if !errors.Is(err, source.ErrTooLarge) || !strings.Contains(err.Error(), "submodule vendor/big") {
		t.Errorf("Fetch past the cap with the submodule: %v; want ErrTooLarge naming submodule vendor/big", err)
	}

	commitEntries(t, parent, "unnamed", gitserver.Entry{Path: ".gitmodules", Content: gitmodules("other")})
	_, err = fetch(t, opts)
	if err == nil || !strings.Contains(err.Error(), "submodule vendor/big: no entry in .gitmodules") {
		t.Errorf("Fetch of a submodule .gitmodules does not name: %v", err)
	}
}
