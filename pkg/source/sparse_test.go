package source_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/tests/gitserver"
)

// sparseRepo commits a repository with one small directory, app/, next to
// a large one, big/ (files of random bytes that do not compress), and
// apps/, whose name starts like app's.
func sparseRepo(t *testing.T, s *gitserver.Server, name string) *gitserver.Repo {
	t.Helper()
	r := createRepo(t, s, name)
	rng := rand.New(rand.NewPCG(1, 2))
	files := map[string]string{
		"app/cm.yaml":       "kind: ConfigMap\n",
		"app/sub/svc.yaml":  "kind: Service\n",
		"apps/other.yaml":   "kind: Secret\n",
		"README.md":         "root file\n",
		".gitmodules":       "",
		"big/nested/x.yaml": "kind: Pod\n",
	}
	for i := range 300 {
		b := make([]byte, 2048)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		files[fmt.Sprintf("big/f%03d.bin", i)] = string(b)
	}
	commit(t, r, "c1", files)
	return r
}

// TestSparseCheckout checks out only the sparse directories, and with a
// server that filters, transfers only their blobs.
func TestSparseCheckout(t *testing.T) {
	want := map[string]string{"app/cm.yaml": "kind: ConfigMap\n", "app/sub/svc.yaml": "kind: Service\n"}
	for _, noFilter := range []bool{false, true} {
		t.Run(fmt.Sprintf("noFilter=%v", noFilter), func(t *testing.T) {
			s := startServer(t, gitserver.Options{NoFilter: noFilter})
			sparseRepo(t, s, "sparse")
			var logs bytes.Buffer
			opts := source.GitOptions{URL: s.HTTPURL("sparse"), Insecure: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))}

			before := s.Stats().HTTPBytesSent
			full, err := fetch(t, opts)
			check(t, "full Fetch", err)
			fullBytes := s.Stats().HTTPBytesSent - before
			if n := len(readTree(t, full.Dir)); n < 300 {
				t.Fatalf("full checkout has %d files", n)
			}

			for _, dirs := range [][]string{{"app"}, {"./app/"}, {"app", "app/sub"}} {
				opts.SparseCheckout = dirs
				before = s.Stats().HTTPBytesSent
				art, err := fetch(t, opts)
				check(t, "sparse Fetch", err)
				sparseBytes := s.Stats().HTTPBytesSent - before
				if diff := cmp.Diff(want, readTree(t, art.Dir)); diff != "" {
					t.Errorf("sparse %q checkout (-want +got):\n%s", dirs, diff)
				}
				if art.Commit != full.Commit || art.Revision != full.Revision {
					t.Errorf("sparse %q: %s, want %s", dirs, art.Revision, full.Revision)
				}
				t.Logf("sparse %q: %d bytes transferred, full: %d", dirs, sparseBytes, fullBytes)
				switch {
				case !noFilter && sparseBytes*10 > fullBytes:
					t.Errorf("sparse %q transferred %d bytes, full %d: want a tenth at most", dirs, sparseBytes, fullBytes)
				case noFilter && sparseBytes*10 < fullBytes*9:
					t.Errorf("sparse %q without filters transferred %d bytes, full %d: the whole commit was expected", dirs, sparseBytes, fullBytes)
				}
			}
			if fellBack := strings.Contains(logs.String(), "does not filter objects"); fellBack != noFilter {
				t.Errorf("log says the server does not filter: %v, want %v; log:\n%s", fellBack, noFilter, logs.String())
			}
		})
	}
}

// TestSparseCheckoutErrors refuses directories that are not there.
func TestSparseCheckoutErrors(t *testing.T) {
	s := startServer(t, gitserver.Options{})
	sparseRepo(t, s, "sparse")
	for _, tt := range []struct {
		dirs []string
		want string
	}{
		{[]string{"app", "nope"}, "sparseCheckout: directory nope does not exist in commit"},
		{[]string{"README.md"}, "sparseCheckout: README.md is not a directory"},
		{[]string{"../up"}, `sparseCheckout[0] "../up": must be a directory inside the repository`},
		{[]string{"/abs"}, `sparseCheckout[0] "/abs"`},
		{[]string{".git"}, `sparseCheckout[0] ".git"`},
	} {
		_, err := fetch(t, source.GitOptions{URL: s.HTTPURL("sparse"), Insecure: true, SparseCheckout: tt.dirs})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Fetch sparse %q: %v; want an error saying %q", tt.dirs, err, tt.want)
		}
	}
}

// TestSparseCheckoutVerifiedTag fetches a signed tag sparsely: the
// filtered fetch brings the tag object and the commit, which verify.
func TestSparseCheckoutVerifiedTag(t *testing.T) {
	s := startServer(t, gitserver.Options{})
	r := sparseRepo(t, s, "sparse")
	alice := newPGPKey(t, "alice")
	_, err := r.SignHead(t.Context(), alice.signer())
	check(t, "SignHead", err)
	_, err = r.SignedTag(t.Context(), "v1.0.0", "release", alice.signer())
	check(t, "SignedTag", err)
	keys := keysOf(t, map[string][]byte{"alice.asc": alice.public(t)})
	src := source.NewGit(source.GitOptions{URL: s.HTTPURL("sparse"), Insecure: true, Ref: source.GitRef{SemVer: ">=1"},
		SparseCheckout: []string{"app"}, Verify: &source.GitVerification{Mode: source.VerifyTagAndHEAD, Keys: keys}})
	rev, err := src.Resolve(t.Context())
	check(t, "Resolve", err)
	art, err := src.Fetch(t.Context(), rev, t.TempDir())
	check(t, "Fetch", err)
	if art.VerifiedBy != alice.fingerprint() || len(readTree(t, art.Dir)) != 2 {
		t.Errorf("Fetch: verified by %q, files %v", art.VerifiedBy, readTree(t, art.Dir))
	}
}
