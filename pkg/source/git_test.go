package source_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/tests/gitserver"
)

// history is a repository with branches and tags of every kind:
//
//	main:    c1 ── c2 ── c3 ── c4 ── c5
//	                            └── c6  feature
//	tags:    v1.0.0 → c1 (lightweight), v1.2.0 → c2 (annotated),
//	         1.3.0, v2.0.0-rc.1, v1.4 and not-a-version → c3
//
// c4 is the one commit that is neither a branch tip nor tagged.
//
// Each commit writes rev.txt with its own label, so a checkout shows which
// commit it is.
type history struct {
	repo   *gitserver.Repo
	ids    map[string]string // label → commit id
	tagObj string            // id of the annotated tag object v1.2.0
}

func newHistory(t *testing.T, s *gitserver.Server, name string) *history {
	t.Helper()
	ctx := t.Context()
	r := createRepo(t, s, name)
	h := &history{repo: r, ids: map[string]string{}}
	c := func(label string) {
		h.ids[label] = commit(t, r, label, map[string]string{
			"rev.txt":                   label,
			"deploy/" + label + ".yaml": "kind: ConfigMap\n",
		})
	}
	tag := func(name string) {
		_, err := r.Tag(ctx, name)
		check(t, "Tag "+name, err)
	}
	c("c1")
	tag("v1.0.0")
	c("c2")
	var err error
	h.tagObj, err = r.AnnotatedTag(ctx, "v1.2.0", "release 1.2.0")
	check(t, "AnnotatedTag", err)
	c("c3")
	tag("1.3.0")
	tag("v2.0.0-rc.1")
	tag("v1.4")
	tag("not-a-version")
	c("c4")
	check(t, "Branch", r.Branch(ctx, "feature"))
	c("c6")
	check(t, "Checkout", r.Checkout(ctx, "main"))
	c("c5")
	return h
}

// TestRefs resolves and fetches every kind of ref over HTTP and checks that
// Resolve and Fetch agree and the checkout is the right commit.
func TestRefs(t *testing.T) {
	s := startServer(t, gitserver.Options{})
	h := newHistory(t, s, "refs")
	url := s.HTTPURL("refs")

	tests := []struct {
		name   string
		ref    source.GitRef
		want   string // revision with commit labels in place of ids
		commit string // label of the commit checked out
	}{
		{"default branch", source.GitRef{}, "main@sha1:c5", "c5"},
		{"branch", source.GitRef{Branch: "main"}, "main@sha1:c5", "c5"},
		{"other branch", source.GitRef{Branch: "feature"}, "feature@sha1:c6", "c6"},
		{"lightweight tag", source.GitRef{Tag: "v1.0.0"}, "v1.0.0@sha1:c1", "c1"},
		{"annotated tag is peeled", source.GitRef{Tag: "v1.2.0"}, "v1.2.0@sha1:c2", "c2"},
		{"tag wins over branch", source.GitRef{Branch: "feature", Tag: "v1.0.0"}, "v1.0.0@sha1:c1", "c1"},
		{"semver highest, tag without v", source.GitRef{SemVer: ">=1.0.0 <2.0.0"}, "1.3.0@sha1:c3", "c3"},
		{"semver annotated", source.GitRef{SemVer: "1.2.x"}, "v1.2.0@sha1:c2", "c2"},
		{"semver prerelease", source.GitRef{SemVer: ">=2.0.0-0"}, "v2.0.0-rc.1@sha1:c3", "c3"},
		{"semver wins over tag", source.GitRef{Tag: "v1.2.0", SemVer: "~1.0.0"}, "v1.0.0@sha1:c1", "c1"},
		{"name branch", source.GitRef{Name: "refs/heads/feature"}, "refs/heads/feature@sha1:c6", "c6"},
		{"name annotated tag", source.GitRef{Name: "refs/tags/v1.2.0"}, "refs/tags/v1.2.0@sha1:c2", "c2"},
		{"name wins over semver", source.GitRef{SemVer: "*", Name: "refs/tags/v1.0.0"}, "refs/tags/v1.0.0@sha1:c1", "c1"},
		{"commit tip", source.GitRef{Commit: "c5"}, "sha1:c5", "c5"},
		{"commit not a tip", source.GitRef{Commit: "c4"}, "sha1:c4", "c4"},
		{"commit behind an annotated tag", source.GitRef{Commit: "c2"}, "sha1:c2", "c2"},
		{"commit on branch", source.GitRef{Branch: "main", Commit: "c4"}, "main@sha1:c4", "c4"},
		{"commit at branch tip", source.GitRef{Branch: "feature", Commit: "c6"}, "feature@sha1:c6", "c6"},
		{"commit wins over name", source.GitRef{Name: "refs/heads/main", Commit: "c1"}, "sha1:c1", "c1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref := tt.ref
			if ref.Commit != "" {
				ref.Commit = h.ids[ref.Commit]
			}
			opts := source.GitOptions{URL: url, Ref: ref, Insecure: true}
			want := source.Revision(h.expand(tt.want))

			got, err := source.Resolve(t.Context(), opts)
			check(t, "Resolve", err)
			if got != want {
				t.Errorf("Resolve = %s, want %s", got, want)
			}

			art, err := fetch(t, opts)
			check(t, "Fetch", err)
			if art.Revision != want {
				t.Errorf("Fetch revision = %s, want %s", art.Revision, want)
			}
			if art.Commit != h.ids[tt.commit] || art.Revision.Commit() != art.Commit {
				t.Errorf("Fetch commit = %s (revision says %s), want %s", art.Commit, art.Revision.Commit(), h.ids[tt.commit])
			}
			if !art.Shallow {
				t.Errorf("Fetch was not shallow")
			}
			files := readTree(t, art.Dir)
			if files["rev.txt"] != tt.commit {
				t.Errorf("rev.txt = %q, want %q", files["rev.txt"], tt.commit)
			}
			if _, err := os.Stat(filepath.Join(art.Dir, ".git")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf(".git is still there (%v)", err)
			}
		})
	}
}

// expand replaces commit labels in s by their ids.
func (h *history) expand(s string) string {
	for label, id := range h.ids {
		s = strings.ReplaceAll(s, "sha1:"+label, "sha1:"+id)
	}
	return s
}

// TestCheckoutContent checks the whole tree of a checkout, and that
// KeepGitDir keeps a shallow .git.
func TestCheckoutContent(t *testing.T) {
	s := startServer(t, gitserver.Options{})
	h := newHistory(t, s, "content")
	art, err := fetch(t, source.GitOptions{URL: s.HTTPURL("content"), Ref: source.GitRef{Tag: "v1.2.0"}, Insecure: true, KeepGitDir: true})
	check(t, "Fetch", err)
	want := map[string]string{"rev.txt": "c2", "deploy/c1.yaml": "kind: ConfigMap\n", "deploy/c2.yaml": "kind: ConfigMap\n"}
	if diff := cmp.Diff(want, readTree(t, art.Dir)); diff != "" {
		t.Errorf("checkout (-want +got):\n%s", diff)
	}
	shallow, err := os.ReadFile(filepath.Join(art.Dir, ".git", "shallow"))
	check(t, "read .git/shallow", err)
	if got := strings.TrimSpace(string(shallow)); got != h.ids["c2"] {
		t.Errorf(".git/shallow = %q, want the one commit %s", got, h.ids["c2"])
	}
}

// TestResolveDoesNotClone checks that Resolve is a ref listing only.
func TestResolveDoesNotClone(t *testing.T) {
	s := startServer(t, gitserver.Options{})
	newHistory(t, s, "lsonly")
	for _, ref := range []source.GitRef{{}, {Branch: "main"}, {SemVer: "*"}, {Tag: "v1.0.0"}} {
		_, err := source.Resolve(t.Context(), source.GitOptions{URL: s.HTTPURL("lsonly"), Ref: ref, Insecure: true})
		check(t, "Resolve "+ref.String(), err)
	}
	st := s.Stats()
	if st.HTTPAdvertisements != 4 || st.HTTPUploadPacks != 0 {
		t.Errorf("server saw %d ref listings and %d upload-packs, want 4 and 0", st.HTTPAdvertisements, st.HTTPUploadPacks)
	}
}

// TestResolveThenFetchListsOnce: a Git Source's Fetch of the revision its
// Resolve returned uses the ref listing the Resolve read (one round trip
// less to the forge), and still fetches that commit when the branch moved
// in between.
func TestResolveThenFetchListsOnce(t *testing.T) {
	s := startServer(t, gitserver.Options{})
	h := newHistory(t, s, "once")
	src := source.NewGit(source.GitOptions{URL: s.HTTPURL("once"), Ref: source.GitRef{Branch: "main"}, Insecure: true})

	rev, err := src.Resolve(t.Context())
	check(t, "Resolve", err)
	before := s.Stats()
	art, err := src.Fetch(t.Context(), rev, t.TempDir())
	check(t, "Fetch", err)
	after := s.Stats()
	if art.Commit != h.ids["c5"] {
		t.Errorf("Fetch got commit %s, want c5 %s", art.Commit, h.ids["c5"])
	}
	// go-git's fetch reads the advertisement once more itself, before its
	// upload-pack; what is saved is the listing commit() would do first.
	if n := after.HTTPAdvertisements - before.HTTPAdvertisements; n != 1 {
		t.Errorf("the Fetch after Resolve read %d ref listings, want 1 (its own upload-pack's)", n)
	}

	// The branch moves after the Resolve: the Fetch of the resolved
	// revision still gets the resolved commit.
	rev, err = src.Resolve(t.Context())
	check(t, "Resolve", err)
	c6 := commit(t, h.repo, "c6", map[string]string{"rev.txt": "c6"})
	art, err = src.Fetch(t.Context(), rev, t.TempDir())
	check(t, "Fetch after the branch moved", err)
	if art.Commit != h.ids["c5"] || art.Commit == c6 {
		t.Errorf("Fetch after the branch moved got commit %s, want the resolved c5 %s", art.Commit, h.ids["c5"])
	}
}

// TestForcePush checks that a branch moved to unrelated history resolves and
// fetches at its new head.
func TestForcePush(t *testing.T) {
	s := startServer(t, gitserver.Options{})
	h := newHistory(t, s, "force")
	opts := source.GitOptions{URL: s.HTTPURL("force"), Ref: source.GitRef{Branch: "main"}, Insecure: true}

	before, err := fetch(t, opts)
	check(t, "Fetch", err)
	if before.Commit != h.ids["c5"] {
		t.Fatalf("before: commit %s, want c5 %s", before.Commit, h.ids["c5"])
	}

	check(t, "ForcePush", h.repo.ForcePush(t.Context(), h.ids["c3"]))
	c7 := commit(t, h.repo, "c7", map[string]string{"rev.txt": "c7"})

	rev, err := source.Resolve(t.Context(), opts)
	check(t, "Resolve", err)
	if want := source.Revision("main@sha1:" + c7); rev != want {
		t.Errorf("Resolve after force push = %s, want %s", rev, want)
	}
	after, err := fetch(t, opts)
	check(t, "Fetch", err)
	if after.Revision != rev {
		t.Errorf("Fetch after force push = %s, want %s", after.Revision, rev)
	}
	if got := readTree(t, after.Dir)["rev.txt"]; got != "c7" {
		t.Errorf("rev.txt = %q, want c7", got)
	}
}
