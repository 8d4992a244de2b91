package source

import (
	"context"
	"fmt"
)

// NewGit returns the Git repository opts names as a Source. Its Resolve is
// Resolve; its Fetch fetches exactly the commit of the revision it is
// given, even when the branch moved since: the branch narrows the fetch
// only when it is the ref in effect.
func NewGit(opts GitOptions) Source {
	return &gitSource{opts: opts}
}

// PinGit returns opts pinned to the commit of rev (a rollback): Resolve
// then returns "sha1:<commit>" and Fetch fetches that commit, whatever the
// spec's ref says now.
func PinGit(opts GitOptions, rev Revision) (GitOptions, error) {
	commit := rev.Commit()
	if commit == "" {
		return opts, fmt.Errorf("revision %q: not of the form [ref@]sha1:<40 hex>: %w", rev, ErrInvalidOptions)
	}
	opts.Ref = GitRef{Commit: commit}
	return opts, nil
}

// gitSource is a Git repository as a Source.
type gitSource struct {
	opts GitOptions
}

// Resolve lists the remote's refs and returns the revision of the ref.
func (g *gitSource) Resolve(ctx context.Context) (Revision, error) {
	return Resolve(ctx, g.opts)
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
	opts.Ref = GitRef{Commit: commit, Branch: branch}
	art, err := Fetch(ctx, opts, dir)
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
