package gitserver_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-billy/v5/memfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"
	"github.com/google/go-cmp/cmp"

	"github.com/gitsync/gitsync/tests/gitserver"
)

// TestRefsAndForcePush checks that branches, lightweight and annotated tags
// authored with Repo are what go-git's ls-remote sees over every transport,
// and that a force-push moves the branch head.
func TestRefsAndForcePush(t *testing.T) {
	ctx := t.Context()
	s := start(t, gitserver.Options{BearerToken: "tok"})
	r, c1 := seed(t, s, "refs")
	if _, err := r.Tag(ctx, "v1.0.0"); err != nil {
		t.Fatal(err)
	}
	c2, err := r.Commit(ctx, "second", map[string]string{"a.yaml": "a: 2\n"})
	if err != nil {
		t.Fatal(err)
	}
	tagObj, err := r.AnnotatedTag(ctx, "v2.0.0", "release 2")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Branch(ctx, "feature"); err != nil {
		t.Fatal(err)
	}
	c3, err := r.Commit(ctx, "on feature", map[string]string{"b.yaml": "b: 3\n"})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Checkout(ctx, "main"); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.Head(ctx); got != c2 {
		t.Fatalf("Head after Checkout(main) = %s, want %s", got, c2)
	}

	transports := map[string]func() (string, transport.AuthMethod, []byte){
		"http": func() (string, transport.AuthMethod, []byte) {
			return s.HTTPURL("refs"), &githttp.TokenAuth{Token: "tok"}, nil
		},
		"https": func() (string, transport.AuthMethod, []byte) {
			return s.HTTPSURL("refs"), &githttp.TokenAuth{Token: "tok"}, s.CACert()
		},
		"ssh": func() (string, transport.AuthMethod, []byte) {
			return s.SSHURL("refs"), sshAuth(t, s.ClientKey(), s.KnownHosts()), nil
		},
	}
	want := map[string]string{
		"HEAD":                "ref: refs/heads/main",
		"refs/heads/main":     c2,
		"refs/heads/feature":  c3,
		"refs/tags/v1.0.0":    c1,
		"refs/tags/v2.0.0":    tagObj,
		"refs/tags/v2.0.0^{}": c2,
	}
	for name, tr := range transports {
		t.Run("ls-remote/"+name, func(t *testing.T) {
			url, auth, ca := tr()
			got, err := lsRemote(t.Context(), url, auth, ca)
			if err != nil {
				t.Fatalf("ls-remote: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("refs (-want +got):\n%s", diff)
			}
		})
	}
	if tagObj == c2 {
		t.Fatalf("annotated tag id %s is the commit id: not an annotated tag", tagObj)
	}

	// The annotated tag is a real tag object with the message and target.
	t.Run("annotated tag object", func(t *testing.T) {
		repo, err := clone(t.Context(), s.HTTPURL("refs"), &githttp.TokenAuth{Token: "tok"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		tag, err := repo.TagObject(plumbing.NewHash(tagObj))
		if err != nil {
			t.Fatalf("TagObject: %v", err)
		}
		got := fmt.Sprintf("%s|%s|%s|%s", tag.Name, strings.TrimSpace(tag.Message), tag.Target, tag.Tagger.Email)
		if wantTag := "v2.0.0|release 2|" + c2 + "|test@gitsync.invalid"; got != wantTag {
			t.Errorf("tag = %s, want %s", got, wantTag)
		}
	})

	t.Run("force-push", func(t *testing.T) {
		if err := r.ForcePush(ctx, c1); err != nil {
			t.Fatal(err)
		}
		c4, err := r.Commit(ctx, "rewritten", map[string]string{"c.yaml": "c: 4\n"})
		if err != nil {
			t.Fatal(err)
		}
		for name, tr := range transports {
			url, auth, ca := tr()
			got, err := lsRemote(t.Context(), url, auth, ca)
			if err != nil {
				t.Fatalf("%s: ls-remote: %v", name, err)
			}
			if got["refs/heads/main"] != c4 {
				t.Errorf("%s: main = %s, want %s", name, got["refs/heads/main"], c4)
			}
		}
		// Only main: the tag v2.0.0 and the branch feature still hold c2.
		repo, err := git.CloneContext(ctx, memory.NewStorage(), memfs.New(), &git.CloneOptions{
			URL:           s.HTTPURL("refs"),
			Auth:          &githttp.TokenAuth{Token: "tok"},
			ReferenceName: plumbing.NewBranchReferenceName("main"),
			SingleBranch:  true,
			Tags:          git.NoTags,
		})
		if err != nil {
			t.Fatal(err)
		}
		commit, err := repo.CommitObject(plumbing.NewHash(c4))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{c1}, hashes(commit.ParentHashes)); diff != "" {
			t.Errorf("parents of the rewritten commit (-want +got):\n%s", diff)
		}
		if _, err := repo.CommitObject(plumbing.NewHash(c2)); err == nil {
			t.Errorf("clone of main still has %s, which the force-push dropped from main", c2)
		}
	})

	t.Run("delete", func(t *testing.T) {
		if err := r.DeleteBranch(ctx, "feature"); err != nil {
			t.Fatal(err)
		}
		if err := r.DeleteTag(ctx, "v1.0.0"); err != nil {
			t.Fatal(err)
		}
		if err := r.DeleteTag(ctx, "v1.0.0"); err == nil {
			t.Error("deleting a missing tag succeeded")
		}
		got, err := lsRemote(t.Context(), s.HTTPURL("refs"), &githttp.TokenAuth{Token: "tok"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, ref := range []string{"refs/heads/feature", "refs/tags/v1.0.0"} {
			if _, ok := got[ref]; ok {
				t.Errorf("%s still listed", ref)
			}
		}
	})
}

// TestDefaultBranch checks that SetDefaultBranch changes what HEAD names.
func TestDefaultBranch(t *testing.T) {
	ctx := t.Context()
	s := start(t, gitserver.Options{})
	r, _ := seed(t, s, "app")
	if err := r.Branch(ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	prod, err := r.Commit(ctx, "prod only", map[string]string{"env": "prod"})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetDefaultBranch(ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	repo, err := clone(ctx, s.HTTPURL("app"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := repo.Head()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ref.Name().String()+" "+ref.Hash().String(), "refs/heads/prod "+prod; got != want {
		t.Errorf("HEAD of clone = %s, want %s", got, want)
	}
}

// TestCommitEntries checks file modes, symlinks, removal and odd file names
// in what a client clones.
func TestCommitEntries(t *testing.T) {
	ctx := t.Context()
	s := start(t, gitserver.Options{})
	r, err := s.CreateRepo(ctx, "team/entries")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.CommitEntries(ctx, "first",
		gitserver.Entry{Path: "deploy/app.yaml", Content: "kind: ConfigMap\n"},
		gitserver.Entry{Path: "deploy/old/gone.yaml", Content: "x"},
		gitserver.Entry{Path: "bin/run.sh", Content: "#!/bin/sh\n", Mode: gitserver.Executable},
		gitserver.Entry{Path: "escape", Content: "../../../etc/passwd", Mode: gitserver.Symlink},
		gitserver.Entry{Path: `odd "name" with\back slash.yaml`, Content: "odd"},
		gitserver.Entry{Path: "empty", Content: ""},
		gitserver.Entry{Path: "ünïcode/ファイル.yaml", Content: "u"},
	); err != nil {
		t.Fatalf("CommitEntries: %v", err)
	}
	if _, err := r.Remove(ctx, "remove old", "deploy/old", "never/existed"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	head, err := r.Commit(ctx, "overwrite", map[string]string{"deploy/app.yaml": "kind: Secret\n"})
	if err != nil {
		t.Fatal(err)
	}

	repo, err := clone(ctx, s.HTTPURL("team/entries"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	commit, err := repo.CommitObject(plumbing.NewHash(head))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	files, err := commit.Files()
	if err != nil {
		t.Fatal(err)
	}
	if err := files.ForEach(func(f *object.File) error {
		content, err := f.Contents()
		got[f.Name] = f.Mode.String() + " " + content
		return err
	}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"deploy/app.yaml":                 filemode.Regular.String() + " kind: Secret\n",
		"bin/run.sh":                      filemode.Executable.String() + " #!/bin/sh\n",
		"escape":                          filemode.Symlink.String() + " ../../../etc/passwd",
		`odd "name" with\back slash.yaml`: filemode.Regular.String() + " odd",
		"empty":                           filemode.Regular.String() + " ",
		"ünïcode/ファイル.yaml":               filemode.Regular.String() + " u",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("files at head (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"overwrite", "remove old", "first"}, messages(t, repo, head)); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
}

// TestCommitRejectsBadInput checks the input checks of the authoring helpers.
func TestCommitRejectsBadInput(t *testing.T) {
	ctx := t.Context()
	s := start(t, gitserver.Options{})
	r, err := s.CreateRepo(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Head(ctx); err == nil {
		t.Error("Head of an unborn branch succeeded")
	}
	if _, err := r.Tag(ctx, "v1"); err == nil {
		t.Error("Tag on an unborn branch succeeded")
	}
	for _, p := range []string{"", "/abs", "dir/", "a//b", "./a", "a/../b", ".git/config", "x/.GIT/y", "new\nline"} {
		if _, err := r.Commit(ctx, "bad", map[string]string{p: "x"}); err == nil {
			t.Errorf("Commit with path %q succeeded", p)
		}
	}
	if _, err := s.CreateRepo(ctx, "app"); err == nil {
		t.Error("CreateRepo of an existing repo succeeded")
	}
	for _, name := range []string{"", "../x", "/abs", "a//b", ".hidden", "a/-b", "sp ace"} {
		if _, err := s.CreateRepo(ctx, name); err == nil {
			t.Errorf("CreateRepo(%q) succeeded", name)
		}
	}
	if _, err := r.Commit(ctx, "ok", map[string]string{"a": "1"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Checkout(ctx, "missing"); err == nil {
		t.Error("Checkout of a missing branch succeeded")
	}
	if err := r.Branch(ctx, "main"); err == nil {
		t.Error("Branch of an existing branch succeeded")
	}
	if _, err := r.Tag(ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Tag(ctx, "v1"); err == nil {
		t.Error("Tag of an existing tag succeeded")
	}
	if err := r.ForcePush(ctx, strings.Repeat("0", 40)); err == nil {
		t.Error("ForcePush to a missing commit succeeded")
	}
}

// TestDeterministicIDs checks that the same authoring steps give the same
// commit and tag ids, in another repo and on another server.
func TestDeterministicIDs(t *testing.T) {
	ctx := t.Context()
	steps := func(s *gitserver.Server, name string) []string {
		r, err := s.CreateRepo(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for i := range 3 {
			id, err := r.Commit(ctx, fmt.Sprint("commit ", i), map[string]string{"f": fmt.Sprint(i)})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		tag, err := r.AnnotatedTag(ctx, "v1", "one")
		if err != nil {
			t.Fatal(err)
		}
		return append(ids, tag)
	}
	a := steps(start(t, gitserver.Options{}), "a")
	b := steps(start(t, gitserver.Options{}), "b")
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("ids differ (-first +second):\n%s", diff)
	}
	if a[0] == a[1] || a[1] == a[2] {
		t.Errorf("distinct commits share an id: %v", a)
	}
}

// TestPush pushes with go-git over HTTP (basic auth) and SSH, as bootstrap
// does, and checks that the server's branch moved.
func TestPush(t *testing.T) {
	s := start(t, gitserver.Options{Username: "u", Password: "p"})
	r, _ := seed(t, s, "app")
	transports := map[string]func() (string, transport.AuthMethod){
		"http": func() (string, transport.AuthMethod) {
			return s.HTTPURL("app"), &githttp.BasicAuth{Username: "u", Password: "p"}
		},
		"ssh": func() (string, transport.AuthMethod) {
			return s.SSHURL("app"), sshAuth(t, s.ClientKey(), s.KnownHosts())
		},
	}
	for _, name := range []string{"http", "ssh"} {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			url, auth := transports[name]()
			repo, err := git.CloneContext(ctx, memory.NewStorage(), memfs.New(), &git.CloneOptions{URL: url, Auth: auth})
			if err != nil {
				t.Fatal(err)
			}
			wt, err := repo.Worktree()
			if err != nil {
				t.Fatal(err)
			}
			f, err := wt.Filesystem.Create("pushed-over-" + name)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = f.Write([]byte(name))
			_ = f.Close()
			if _, err := wt.Add("pushed-over-" + name); err != nil {
				t.Fatal(err)
			}
			id, err := wt.Commit("push over "+name, &git.CommitOptions{
				Author: &object.Signature{Name: "t", Email: "t@example.invalid", When: time.Unix(1e9, 0)},
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := repo.PushContext(ctx, &git.PushOptions{Auth: auth}); err != nil {
				t.Fatalf("push: %v", err)
			}
			if got, _ := r.Head(ctx); got != id.String() {
				t.Errorf("server head = %s, want pushed %s", got, id)
			}
		})
	}
	if st := s.Stats(); st.HTTPReceivePacks != 1 || st.SSHReceivePacks != 1 {
		t.Errorf("Stats = %+v, want one receive-pack per transport", st)
	}
	// Authoring continues on top of what was pushed.
	id, err := r.Commit(t.Context(), "after push", map[string]string{"z": "z"})
	if err != nil {
		t.Fatal(err)
	}
	repo, err := clone(t.Context(), s.HTTPURL("app"), &githttp.BasicAuth{Username: "u", Password: "p"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"after push", "push over ssh", "push over http", "initial"}, messages(t, repo, id)); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
}

// TestStatsTellListingFromFetching checks the counters a test uses to tell a
// ref listing from a fetch.
func TestStatsTellListingFromFetching(t *testing.T) {
	s := start(t, gitserver.Options{})
	seed(t, s, "app")
	if _, err := lsRemote(t.Context(), s.HTTPURL("app"), nil, nil); err != nil {
		t.Fatal(err)
	}
	// The byte count grows with every response; it is checked apart.
	listed := s.Stats()
	listedBytes := listed.HTTPBytesSent
	listed.HTTPBytesSent = 0
	if diff := cmp.Diff(gitserver.Stats{HTTPAdvertisements: 1}, listed); diff != "" {
		t.Errorf("after ls-remote (-want +got):\n%s", diff)
	}
	if _, err := clone(t.Context(), s.HTTPURL("app"), nil, nil); err != nil {
		t.Fatal(err)
	}
	cloned := s.Stats()
	clonedBytes := cloned.HTTPBytesSent
	cloned.HTTPBytesSent = 0
	if diff := cmp.Diff(gitserver.Stats{HTTPAdvertisements: 2, HTTPUploadPacks: 1}, cloned); diff != "" {
		t.Errorf("after clone (-want +got):\n%s", diff)
	}
	if listedBytes <= 0 || clonedBytes <= 2*listedBytes {
		t.Errorf("bytes sent: %d after ls-remote, %d after clone; want the clone's advertisement and packfile on top", listedBytes, clonedBytes)
	}
}

// messages returns the first lines of the commit messages from id back to the
// root, following first parents.
func messages(t *testing.T, repo *git.Repository, id string) []string {
	t.Helper()
	var out []string
	c, err := repo.CommitObject(plumbing.NewHash(id))
	for err == nil {
		out = append(out, strings.SplitN(c.Message, "\n", 2)[0])
		if c.NumParents() == 0 {
			return out
		}
		c, err = c.Parent(0)
	}
	t.Fatalf("history of %s: %v", id, err)
	return nil
}

// hashes returns ids as strings.
func hashes(ids []plumbing.Hash) []string {
	out := make([]string, len(ids))
	for i, h := range ids {
		out[i] = h.String()
	}
	return out
}
