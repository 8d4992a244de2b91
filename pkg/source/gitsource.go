package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
)

// NewGit returns the Git repository opts names as a Source. Its Resolve is
// Resolve, and resolves opts.Include's repositories too; its Fetch fetches
// exactly the commit of the revision it is given, even when the branch
// moved since (the branch narrows the fetch only when it is the ref in
// effect), and the included repositories at the revisions its Resolve saw.
// The included revisions are its ContentDigest: a change in an included
// repository makes the run render again, although the revision is the
// same.
func NewGit(opts GitOptions) Source {
	return &gitSource{opts: opts}
}

// PinGit returns opts pinned to the commit of rev (a rollback): Resolve
// then returns "sha1:<commit>" and Fetch fetches that commit, whatever the
// spec's ref says now. A verification of a tag keeps checking the tag rev
// was selected by (GitVerification.Tag). Included repositories are not
// pinned: they follow their refs.
func PinGit(opts GitOptions, rev Revision) (GitOptions, error) {
	commit := rev.Commit()
	if commit == "" {
		return opts, fmt.Errorf("revision %q: not of the form [ref@]sha1:<40 hex>: %w", rev, ErrInvalidOptions)
	}
	opts.Verify = withTag(opts.Verify, opts.Ref, rev)
	opts.Ref = GitRef{Commit: commit}
	return opts, nil
}

// withTag returns v with Tag set to the tag that ref selected for rev, in
// the modes that check a tag; v itself otherwise.
func withTag(v *GitVerification, ref GitRef, rev Revision) *GitVerification {
	if v == nil || v.Tag != "" {
		return v
	}
	if m, err := ParseVerifyMode(string(v.Mode)); err != nil || !m.tag() {
		return v
	}
	var tag string
	switch ref.kind() {
	case refTag, refSemVer:
		tag = rev.Name()
	case refName:
		name := plumbing.ReferenceName(strings.TrimSuffix(rev.Name(), peeledSuffix))
		if name.IsTag() {
			tag = name.Short()
		}
	}
	if tag == "" {
		return v
	}
	vc := *v
	vc.Tag = tag
	return &vc
}

// gitSource is a Git repository as a Source.
type gitSource struct {
	opts GitOptions

	mu sync.Mutex
	// included are the revisions of opts.Include the last Resolve saw,
	// in order; nil before.
	included []Revision
	// listing is the ref listing the last Resolve read, which the Fetch
	// of its revision uses instead of listing again: on a forge far away,
	// one round trip less. nil before.
	listing *remoteRefs
}

// Resolve lists the remote's refs and returns the revision of the ref,
// after listing the refs of every included repository.
func (g *gitSource) Resolve(ctx context.Context) (Revision, error) {
	rev, listing, err := resolve(ctx, g.opts)
	if err != nil {
		return "", err
	}
	included := make([]Revision, len(g.opts.Include))
	for i, inc := range g.opts.Include {
		if included[i], err = Resolve(ctx, inc.Repository); err != nil {
			return "", fmt.Errorf("include[%d]: %w", i, err)
		}
	}
	g.mu.Lock()
	g.included, g.listing = included, listing
	g.mu.Unlock()
	return rev, nil
}

// ContentDigest returns a digest of the included revisions the last
// Resolve saw; "" without includes.
func (g *gitSource) ContentDigest(Revision) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.included) == 0 {
		return ""
	}
	h := sha256.New()
	for i, rev := range g.included {
		fmt.Fprintf(h, "include[%d] %s\n", i, rev)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// Fetch fetches the commit of rev into dir.
func (g *gitSource) Fetch(ctx context.Context, rev Revision, dir string) (*Artifact, error) {
	commit := rev.Commit()
	if commit == "" {
		return nil, fmt.Errorf("%s: revision %q names no commit: %w", g.urlForErrors(), rev, ErrInvalidOptions)
	}
	opts := g.opts
	branch := ""
	if r := opts.Ref; r.Tag == "" && r.SemVer == "" && r.Name == "" {
		branch = r.Branch
	}
	opts.Verify = withTag(opts.Verify, opts.Ref, rev)
	opts.Ref = GitRef{Commit: commit, Branch: branch}
	g.mu.Lock()
	included, listing := g.included, g.listing
	g.mu.Unlock()
	if len(included) == len(opts.Include) {
		opts.Include = append([]GitInclude(nil), opts.Include...)
		for i := range opts.Include {
			pinned, err := PinGit(opts.Include[i].Repository, included[i])
			if err != nil {
				return nil, fmt.Errorf("include[%d]: %w", i, err)
			}
			opts.Include[i].Repository = pinned
		}
	}
	art, err := fetchInto(ctx, opts, dir, nil, listing)
	if err != nil {
		return nil, err
	}
	art.Revision = rev
	return art, nil
}

// urlForErrors is the redacted URL.
func (g *gitSource) urlForErrors() string {
	return (&client{opts: g.opts}).urlForErrors()
}
