package source_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/tests/gitserver"
)

// includeRepos creates app (deploy/app.yaml) and base (manifests/ and
// other/) on s.
func includeRepos(t *testing.T, s *gitserver.Server) (app, base *gitserver.Repo) {
	t.Helper()
	app = createRepo(t, s, "app")
	commitEntries(t, app, "a1",
		gitserver.Entry{Path: "deploy/app.yaml", Content: "kind: App\n"},
		gitserver.Entry{Path: "linked", Content: "deploy", Mode: gitserver.Symlink})
	base = createRepo(t, s, "base")
	commit(t, base, "b1", map[string]string{"manifests/cm.yaml": "kind: ConfigMap\n", "other/x.yaml": "kind: X\n"})
	return app, base
}

// TestInclude copies paths of other repositories into the checkout, with
// their own credentials.
func TestInclude(t *testing.T) {
	s := startServer(t, gitserver.Options{Username: "git", Password: "s3cret"})
	includeRepos(t, s)
	auth := source.Credentials{Username: "git", Password: "s3cret", CAPEM: s.CACert()}
	base := source.GitOptions{URL: s.HTTPSURL("base"), Auth: auth}
	art, err := fetch(t, source.GitOptions{URL: s.HTTPSURL("app"), Auth: auth, Include: []source.GitInclude{
		{Repository: base, FromPath: "manifests", ToPath: "deploy/base"},
		{Repository: base, ToPath: "base"},
		{Repository: base, FromPath: "other/x.yaml", ToPath: "single.yaml"},
	}})
	check(t, "Fetch", err)
	want := map[string]string{
		"deploy/app.yaml":        "kind: App\n",
		"linked":                 "-> deploy",
		"deploy/base/cm.yaml":    "kind: ConfigMap\n",
		"base/manifests/cm.yaml": "kind: ConfigMap\n",
		"base/other/x.yaml":      "kind: X\n",
		"single.yaml":            "kind: X\n",
	}
	if diff := cmp.Diff(want, readTree(t, art.Dir)); diff != "" {
		t.Errorf("checkout (-want +got):\n%s", diff)
	}

	wrong := base
	wrong.Auth.Password = "wrong"
	_, err = fetch(t, source.GitOptions{URL: s.HTTPSURL("app"), Auth: auth, Include: []source.GitInclude{{Repository: wrong, ToPath: "base"}}})
	if !errors.Is(err, source.ErrAuthentication) || !strings.Contains(err.Error(), "include[0]: "+s.HTTPSURL("base")) {
		t.Errorf("Fetch with a wrong include password: %v; want ErrAuthentication naming include[0] and its URL", err)
	}
}

// TestIncludeRefused refuses includes that would overwrite the checkout or
// lead out of it.
func TestIncludeRefused(t *testing.T) {
	s := startServer(t, gitserver.Options{})
	_, baseRepo := includeRepos(t, s)
	commitEntries(t, baseRepo, "deep link",
		gitserver.Entry{Path: "a/b/c/link", Content: "../../../other/x.yaml", Mode: gitserver.Symlink})
	base := source.GitOptions{URL: s.HTTPURL("base"), Insecure: true}
	for _, tt := range []struct {
		name string
		inc  source.GitInclude
		want string
		is   error
	}{
		{"toPath exists", source.GitInclude{Repository: base, ToPath: "deploy"}, `include[0]: toPath "deploy": exists in the checkout`, nil},
		{"toPath through a symlink", source.GitInclude{Repository: base, ToPath: "linked/base"}, "linked is a symlink in the checkout", nil},
		{"fromPath missing", source.GitInclude{Repository: base, FromPath: "nope", ToPath: "x"}, `fromPath "nope" does not exist in main@sha1:`, nil},
		{"toPath outside", source.GitInclude{Repository: base, ToPath: "../x"}, `toPath "../x" must be a path inside the checkout`, source.ErrInvalidOptions},
		{"toPath .git", source.GitInclude{Repository: base, ToPath: ".git/hooks"}, `toPath ".git/hooks"`, source.ErrInvalidOptions},
		{"no toPath", source.GitInclude{Repository: base}, `toPath ""`, source.ErrInvalidOptions},
		{"fromPath outside", source.GitInclude{Repository: base, FromPath: "../..", ToPath: "x"}, `fromPath "../.."`, source.ErrInvalidOptions},
		// The link stays inside the included repository, but not once
		// a/b/c is copied two levels higher.
		{"a link climbing out once moved", source.GitInclude{Repository: base, FromPath: "a/b/c", ToPath: "t"}, "t/link", source.ErrUnsafeSymlink},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := fetch(t, source.GitOptions{URL: s.HTTPURL("app"), Insecure: true, Include: []source.GitInclude{tt.inc}})
			if err == nil || !strings.Contains(err.Error(), tt.want) || tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Fetch: %v; want an error saying %q (matching %v)", err, tt.want, tt.is)
			}
		})
	}
}

// TestIncludeRevisions makes the included revisions the source's content
// digest, and fetches the included revision Resolve saw.
func TestIncludeRevisions(t *testing.T) {
	s := startServer(t, gitserver.Options{})
	_, base := includeRepos(t, s)
	opts := source.GitOptions{URL: s.HTTPURL("app"), Insecure: true, Include: []source.GitInclude{
		{Repository: source.GitOptions{URL: s.HTTPURL("base"), Insecure: true}, FromPath: "manifests", ToPath: "base"},
	}}
	first := source.NewGit(opts)
	rev1, err := first.Resolve(t.Context())
	check(t, "Resolve", err)
	d1 := first.(source.ContentDigester).ContentDigest(rev1)

	commit(t, base, "b2", map[string]string{"manifests/cm.yaml": "kind: ConfigMap # changed\n"})
	second := source.NewGit(opts)
	rev2, err := second.Resolve(t.Context())
	check(t, "Resolve", err)
	d2 := second.(source.ContentDigester).ContentDigest(rev2)
	if rev1 != rev2 || d1 == "" || d1 == d2 {
		t.Errorf("after a commit to the included repository: revision %s → %s, content digest %q → %q; want the same revision and another digest",
			rev1, rev2, d1, d2)
	}

	art, err := first.Fetch(t.Context(), rev1, t.TempDir())
	check(t, "Fetch", err)
	if got := readTree(t, art.Dir)["base/cm.yaml"]; got != "kind: ConfigMap\n" {
		t.Errorf("the first source fetched the include as %q; want the revision its Resolve saw", got)
	}
	art, err = second.Fetch(t.Context(), rev2, t.TempDir())
	check(t, "Fetch", err)
	if got := readTree(t, art.Dir)["base/cm.yaml"]; got != "kind: ConfigMap # changed\n" {
		t.Errorf("the second source fetched the include as %q", got)
	}
	if d := source.NewGit(source.GitOptions{URL: s.HTTPURL("app"), Insecure: true}).(source.ContentDigester).ContentDigest(rev1); d != "" {
		t.Errorf("ContentDigest without includes = %q, want empty", d)
	}
}
