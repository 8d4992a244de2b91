package imageupdate

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gitsync/gitsync/pkg/setters"
	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/tests/gitserver"
)

const deploy = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app # the app
spec:
  template:
    spec:
      containers:
        - name: app
          image: ghcr.io/org/app:1.0.0 # {"$imagepolicy": "apps:app"}
`

var images = map[string]setters.Image{"apps:app": {Name: "ghcr.io/org/app", Tag: "1.1.0"}}

func show(t *testing.T, r *gitserver.Repo, rev string) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "git", "-C", r.Dir(), "show", "-s", "--format=%an <%ae>%n%B", rev).Output()
	if err != nil {
		t.Fatalf("git show %s: %v", rev, err)
	}
	return string(out)
}

func file(t *testing.T, r *gitserver.Repo, rev, path string) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "git", "-C", r.Dir(), "show", rev+":"+path).Output()
	if err != nil {
		t.Fatalf("git show %s:%s: %v", rev, path, err)
	}
	return string(out)
}

func setup(t *testing.T, opts gitserver.Options) (*gitserver.Server, *gitserver.Repo, Options) {
	s := gitserver.StartTest(t, opts)
	r, err := s.CreateRepo(t.Context(), "team/app.git")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Commit(t.Context(), "initial", map[string]string{"apps/deploy.yaml": deploy, "other/x.yaml": deploy}); err != nil {
		t.Fatal(err)
	}
	o := Options{
		Git:     source.GitOptions{URL: s.HTTPSURL("team/app.git"), Auth: source.Credentials{Username: opts.Username, Password: opts.Password, CAPEM: s.CACert()}, Ref: source.GitRef{Branch: r.CurrentBranch()}},
		Path:    "apps",
		Images:  images,
		Author:  Author{Name: "gitsync", Email: "gitsync@example.com"},
		WorkDir: t.TempDir(),
		Now:     func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) },
	}
	return s, r, o
}

// A change is committed and pushed with a message listing it; a second run
// finds nothing and pushes nothing.
func TestRunCommitsAndPushesOnce(t *testing.T) {
	s, r, o := setup(t, gitserver.Options{Username: "u", Password: "p"})
	branch := r.CurrentBranch()
	res, err := Run(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	head, err := r.Head(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if res.Commit == "" || res.Commit != head || res.Branch != branch || !res.Applies(branch) {
		t.Fatalf("Run = %+v; the branch head is %s", res, head)
	}
	msg := show(t, r, head)
	for _, want := range []string{"gitsync <gitsync@example.com>", "apps/deploy.yaml:10: ghcr.io/org/app:1.0.0 -> ghcr.io/org/app:1.1.0 (apps:app)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("commit message %q lacks %q", msg, want)
		}
	}
	if got := file(t, r, head, "apps/deploy.yaml"); got != strings.Replace(deploy, "app:1.0.0", "app:1.1.0", 1) {
		t.Errorf("apps/deploy.yaml is now:\n%s", got)
	}
	if got := file(t, r, head, "other/x.yaml"); got != deploy {
		t.Errorf("other/x.yaml, outside the path, changed:\n%s", got)
	}

	pushes := s.Stats().HTTPReceivePacks
	again, err := Run(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	if again.Commit != "" || again.Base != head || s.Stats().HTTPReceivePacks != pushes {
		t.Errorf("second Run = %+v with %d pushes; want no commit and no push", again, s.Stats().HTTPReceivePacks-pushes)
	}
}

// A push that loses a race fetches again, redoes the update on top of the
// other commit and pushes.
func TestRunRetriesARace(t *testing.T) {
	_, r, o := setup(t, gitserver.Options{})
	n := 0
	var other string
	o.beforePush = func() {
		n++
		if n == 1 {
			var err error
			if other, err = r.Commit(t.Context(), "someone else", map[string]string{"README.md": "hi"}); err != nil {
				t.Error(err)
			}
		}
	}
	res, err := Run(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 2 || res.Base != other {
		t.Fatalf("Run = %+v, want 2 attempts on top of %s", res, other)
	}
	if head, _ := r.Head(t.Context()); head != res.Commit {
		t.Errorf("head %s, want %s", head, res.Commit)
	}

	// A branch that moves at every attempt ends the run with an error.
	o.Images = map[string]setters.Image{"apps:app": {Name: "ghcr.io/org/app", Tag: "2.0.0"}}
	o.beforePush = func() {
		if _, err := r.Commit(t.Context(), "busy", map[string]string{"README.md": time.Now().String()}); err != nil {
			t.Error(err)
		}
	}
	if _, err := Run(t.Context(), o); err == nil || !strings.Contains(err.Error(), "kept moving: 3 attempts") {
		t.Errorf("Run on a busy branch = %v", err)
	}
}

// Read-only credentials fail clearly and push nothing.
func TestRunReadOnly(t *testing.T) {
	_, r, o := setup(t, gitserver.Options{ReadOnly: true})
	before, _ := r.Head(t.Context())
	_, err := Run(t.Context(), o)
	if err == nil || !strings.Contains(err.Error(), "push to branch "+r.CurrentBranch()) {
		t.Fatalf("Run = %v, want a push error naming the branch", err)
	}
	t.Logf("read-only: %v", err)
	if errors.Is(err, source.ErrPushRejected) == errors.Is(err, source.ErrAuthentication) {
		t.Errorf("error %v is neither a rejection nor an authentication failure", err)
	}
	if after, _ := r.Head(t.Context()); after != before {
		t.Errorf("branch moved from %s to %s", before, after)
	}
}

// A separate push branch gets the update; the checkout branch stays.
func TestRunPushBranch(t *testing.T) {
	_, r, o := setup(t, gitserver.Options{})
	before, _ := r.Head(t.Context())
	o.PushBranch = "image-updates"
	o.MessageTemplate = `{{ range .Changed.Changes }}{{ .Setter }}={{ .NewValue }}{{ end }}`
	res, err := Run(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Applies(r.CurrentBranch()) {
		t.Errorf("a push branch update would be applied: %+v", res)
	}
	if after, _ := r.Head(t.Context()); after != before {
		t.Errorf("checkout branch moved")
	}
	if msg := show(t, r, "image-updates"); !strings.Contains(msg, "apps:app=ghcr.io/org/app:1.1.0") {
		t.Errorf("push branch commit message %q", msg)
	}
	o.MessageTemplate = "{{ .Nope }}"
	if _, err := Run(t.Context(), o); err == nil || !strings.Contains(err.Error(), "messageTemplate") {
		t.Errorf("bad template: %v", err)
	}
}

// source.CheckPush tells write access from read-only access without
// pushing.
func TestCheckPush(t *testing.T) {
	s, _, o := setup(t, gitserver.Options{})
	if err := source.CheckPush(t.Context(), o.Git); err != nil {
		t.Errorf("CheckPush with write access: %v", err)
	}
	if s.Stats().HTTPReceivePacks != 0 {
		t.Errorf("CheckPush pushed")
	}
	_, _, ro := setup(t, gitserver.Options{ReadOnly: true})
	if err := source.CheckPush(t.Context(), ro.Git); !errors.Is(err, source.ErrAuthentication) {
		t.Errorf("CheckPush read-only = %v, want ErrAuthentication", err)
	}
}
