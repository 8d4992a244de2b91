// Package imageupdate commits the tags image policies chose into a Git
// repository, as Flux's image-automation-controller does: it checks the
// branch out, rewrites the setter markers under a path (pkg/setters),
// commits when something changed and pushes, retrying a bounded number of
// times when another push got there first. The caller then applies the
// commit it returns, in the same run.
package imageupdate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"text/template"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/gitsync/gitsync/pkg/setters"
	"github.com/gitsync/gitsync/pkg/source"
)

// DefaultMaxAttempts bounds the fetch-update-push attempts of one Run.
const DefaultMaxAttempts = 3

// DefaultMessageTemplate is the commit message when none is given: it
// lists every change with its file and line.
const DefaultMessageTemplate = `Update images

{{ range .Changed.Changes }}- {{ .File }}:{{ .Line }}: {{ .OldValue }} -> {{ .NewValue }} ({{ .Setter }})
{{ end }}`

// Author is the commit's author and committer.
type Author struct {
	Name, Email string
}

// Options says what to update and where to push.
type Options struct {
	// Git is the repository and its credentials; Git.Ref.Branch, the
	// branch checked out and updated, is required.
	Git source.GitOptions
	// Path is the directory, relative to the repository root, whose YAML
	// files' markers are updated. Default "." (the whole tree).
	Path string
	// Images maps "NAMESPACE:POLICY" to the image its policy chose.
	Images map[string]setters.Image
	// Author signs the commit. Required.
	Author Author
	// MessageTemplate is a text/template over TemplateData. Default
	// DefaultMessageTemplate.
	MessageTemplate string
	// MessageValues are TemplateData.Values (Flux's
	// messageTemplateValues).
	MessageValues map[string]string
	// SigningKey, when set, signs the commit (OpenPGP). Default unsigned.
	SigningKey *openpgp.Entity
	// PushBranch is the branch pushed to. Default Git.Ref.Branch. Another
	// branch is a review branch: it is force-pushed with the update on top
	// of Git.Ref.Branch at every run that finds a change.
	PushBranch string
	// Refspec, when set, is pushed too (Flux's push.refspec), e.g.
	// "refs/heads/main:refs/heads/auto". Its source may name the checkout
	// and push branches, which hold the new commit locally.
	Refspec string
	// MaxAttempts bounds the attempts. Default DefaultMaxAttempts.
	MaxAttempts int
	// WorkDir holds the checkouts. Default os.TempDir().
	WorkDir string
	// Now returns the commit time. Default time.Now.
	Now func() time.Time

	// beforePush runs before each push. Tests only: they push in between.
	beforePush func()
}

// TemplateData is what MessageTemplate sees; .Changed.Changes has
// Flux's OldValue, NewValue and Setter, plus File and Line.
type TemplateData struct {
	Changed Changed
	// Values are Options.MessageValues.
	Values map[string]string
}

// Changed lists the changes of a commit.
type Changed struct {
	Changes []Change
}

// Change is one marker's new value.
type Change struct {
	OldValue, NewValue string
	// Setter is the marker's policy reference: NAMESPACE:POLICY[:field].
	Setter string
	File   string
	Line   int
}

// Result is what Run did.
type Result struct {
	// Base is the commit of the checkout branch the update was made on.
	Base string
	// Commit is the commit pushed; "" when nothing changed (nothing was
	// committed or pushed).
	Commit string
	// Branch is the branch Commit was pushed to.
	Branch string
	// Message is Commit's message.
	Message string
	// Changes are the markers rewritten.
	Changes []setters.Change
	// Markers are all the markers under the path, as found in the
	// checkout (before the update: the lines are the same after it).
	Markers []setters.Marker
	// Attempts counts fetch-update-push rounds (more than one after a
	// push race).
	Attempts int
}

// Applies reports whether the commit is on the checkout branch, so that
// the run applies it.
func (r *Result) Applies(checkoutBranch string) bool {
	return r.Commit != "" && r.Branch == checkoutBranch
}

// Run checks out Git.Ref.Branch, updates the markers and, when something
// changed, commits and pushes. A push the remote rejects because the
// branch moved is retried from a new checkout, up to MaxAttempts; read-only
// credentials (source.ErrAuthentication) and other rejections fail at
// once. Nothing is pushed when Run fails.
func Run(ctx context.Context, opts Options) (*Result, error) {
	branch := opts.Git.Ref.Branch
	if branch == "" {
		return nil, errors.New("the checkout branch is required")
	}
	if opts.Author.Name == "" || opts.Author.Email == "" {
		return nil, errors.New("the commit author's name and email are required")
	}
	tmplText := opts.MessageTemplate
	if tmplText == "" {
		tmplText = DefaultMessageTemplate
	}
	tmpl, err := template.New("messageTemplate").Option("missingkey=error").Parse(tmplText)
	if err != nil {
		return nil, fmt.Errorf("messageTemplate: %w", err)
	}
	attempts := opts.MaxAttempts
	if attempts <= 0 {
		attempts = DefaultMaxAttempts
	}
	push := opts.PushBranch
	if push == "" {
		push = branch
	}
	var lastErr error
	for i := 1; i <= attempts; i++ {
		res, err := attempt(ctx, opts, tmpl, branch, push)
		if err == nil {
			res.Attempts = i
			return res, nil
		}
		var race *raceError
		if !errors.As(err, &race) {
			return nil, err
		}
		lastErr = race.err
	}
	return nil, fmt.Errorf("branch %s kept moving: %d attempts failed, the last with: %w", branch, attempts, lastErr)
}

// raceError is a push that failed because the branch moved.
type raceError struct{ err error }

func (e *raceError) Error() string { return e.err.Error() }

func attempt(ctx context.Context, opts Options, tmpl *template.Template, branch, push string) (*Result, error) {
	dir, err := os.MkdirTemp(opts.WorkDir, "gitsync-imageupdate-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	g := opts.Git
	g.KeepGitDir = true
	g.Ref = source.GitRef{Branch: branch}
	art, err := source.Fetch(ctx, g, dir)
	if err != nil {
		return nil, err
	}
	path := opts.Path
	if path == "" {
		path = "."
	}
	up, err := setters.Update(ctx, dir, path, opts.Images)
	if err != nil {
		return nil, err
	}
	res := &Result{Base: art.Commit, Changes: up.Changes, Markers: up.Markers}
	if len(up.Changes) == 0 {
		return res, nil
	}
	data := TemplateData{Values: opts.MessageValues}
	for _, c := range up.Changes {
		setter := c.Policy
		if c.Field != "" {
			setter += ":" + c.Field
		}
		data.Changed.Changes = append(data.Changed.Changes, Change{OldValue: c.Value, NewValue: c.New, Setter: setter, File: c.File, Line: c.Line})
	}
	var msg bytes.Buffer
	if err := tmpl.Execute(&msg, data); err != nil {
		return nil, fmt.Errorf("messageTemplate: %w", err)
	}
	commit, err := commitFiles(dir, up.Files, msg.String(), opts, branch, push)
	if err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	specs := []string{commit + ":refs/heads/" + push}
	if push != branch {
		specs[0] = "+" + specs[0] // a review branch is rebuilt from the checkout branch
	}
	if opts.Refspec != "" {
		specs = append(specs, opts.Refspec)
	}
	if opts.beforePush != nil {
		opts.beforePush()
	}
	if err := source.Push(ctx, g, dir, specs); err != nil {
		if errors.Is(err, source.ErrPushRejected) && push == branch {
			// Did the branch move? Then fetch again and redo the update.
			now, rerr := source.Resolve(ctx, g)
			if rerr == nil && now.Commit() != art.Commit {
				return nil, &raceError{err}
			}
		}
		if errors.Is(err, source.ErrAuthentication) {
			return nil, fmt.Errorf("push to branch %s (do the credentials have write access?): %w", push, err)
		}
		return nil, fmt.Errorf("push to branch %s: %w", push, err)
	}
	res.Commit, res.Branch, res.Message = commit, push, msg.String()
	return res, nil
}

// commitFiles commits files on top of HEAD and points the local branches
// branch and push at the commit (refspecs may name them).
func commitFiles(dir string, files []string, msg string, opts Options, branch, push string) (string, error) {
	repo, err := git.PlainOpen(dir)
	if err != nil {
		return "", err
	}
	wt, err := repo.Worktree()
	if err != nil {
		return "", err
	}
	for _, f := range files {
		if _, err := wt.Add(f); err != nil {
			return "", err
		}
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	sig := &object.Signature{Name: opts.Author.Name, Email: opts.Author.Email, When: now()}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig, SignKey: opts.SigningKey})
	if err != nil {
		return "", err
	}
	for _, b := range []string{branch, push} {
		if err := setBranch(repo, b, h.String()); err != nil {
			return "", err
		}
	}
	return h.String(), nil
}
