package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/transport"
	gitclient "github.com/go-git/go-git/v5/plumbing/transport/client"

	"github.com/gitsync/gitsync/pkg/redact"
)

// Sparse checkout
//
// go-git checks out only the sparse directories, but its fetch has no
// partial clone: a shallow fetch still transfers every blob of the commit.
// When the server supports filters and serves objects by id, partial
// fetches them in two requests of its own instead: the commit (and tag)
// with its trees and no blobs (filter blob:none), then exactly the blobs
// below the sparse directories. Anything else falls back to the whole
// commit, checked out sparsely.

// gitmodulesFile is where Git records the submodules' URLs.
const gitmodulesFile = ".gitmodules"

// partial fetches the commit without blobs, then the blobs the sparse
// checkout needs. ok is false when the server cannot do that: the caller
// fetches the whole commit then.
func (f *fetcher) partial(ctx context.Context) (res fetched, ok bool, err error) {
	rr, err := f.c.refs(ctx)
	if err != nil {
		return fetched{}, false, classify(ctx, err)
	}
	if !rr.filter {
		f.c.log.InfoContext(ctx, "git: the server does not filter objects (uploadpack.allowFilter); fetching the whole commit for a sparse checkout",
			"url", f.c.urlForErrors())
		return fetched{}, false, nil
	}
	var t target
	if tag := f.c.pinnedTag; tag != "" {
		name := plumbing.NewTagReferenceName(tag)
		t = target{ref: name, revName: tag}
		id, found := rr.commitOf(name)
		want := plumbing.NewHash(strings.ToLower(f.c.opts.Ref.Commit))
		if !found || id != want {
			return fetched{}, false, fmt.Errorf("tag %s does not point to commit %s: %w", tag, want, ErrRefNotFound)
		}
		t.commit = id
	} else if t, err = selectTarget(f.c.opts.Ref, f.c.constraint, rr); err != nil {
		return fetched{}, false, err
	}
	// The ref's own object: for an annotated tag the tag object, which a
	// tag verification needs.
	want := t.commit
	if tip, found := rr.commitOf(t.ref); found && t.ref != "" && tip == t.commit {
		want = rr.ids[t.ref]
	} else if rr.tipOf(want, "") == "" && !rr.wantAnyCommit {
		f.c.log.InfoContext(ctx, "git: the server does not serve commits by id; fetching the whole history for a sparse checkout",
			"url", f.c.urlForErrors(), "commit", want.String())
		return fetched{}, false, nil
	}

	if err := f.reset(); err != nil {
		return fetched{}, false, err
	}
	if err := f.uploadPack(ctx, []plumbing.Hash{want}, 1, packp.FilterBlobNone()); err != nil {
		if fatal(ctx, err) {
			return fetched{}, false, err
		}
		f.c.log.InfoContext(ctx, "git: a fetch without blobs failed; fetching the whole commit for a sparse checkout",
			"url", f.c.urlForErrors(), "error", redact.Text(err.Error()))
		return fetched{}, false, nil
	}
	if err := f.repo.Storer.SetReference(plumbing.NewHashReference(fetchedRef, want)); err != nil {
		return fetched{}, false, err
	}
	commit, err := f.peel(want)
	if err != nil {
		return fetched{}, false, err
	}
	blobs, err := f.sparseBlobs(commit)
	if err != nil {
		return fetched{}, false, err
	}
	if len(blobs) > 0 {
		if err := f.uploadPack(ctx, blobs, 0, ""); err != nil {
			if fatal(ctx, err) {
				return fetched{}, false, err
			}
			f.c.log.InfoContext(ctx, "git: the server does not serve blobs by id; fetching the whole commit for a sparse checkout",
				"url", f.c.urlForErrors(), "error", redact.Text(err.Error()))
			return fetched{}, false, nil
		}
	}
	return fetched{target: t, commit: commit, shallow: true}, true, nil
}

// sparseBlobs lists the blobs below the sparse directories of commit,
// and .gitmodules when submodules are fetched. It fails when a sparse
// directory does not exist in the commit.
func (f *fetcher) sparseBlobs(commit plumbing.Hash) ([]plumbing.Hash, error) {
	c, err := f.repo.CommitObject(commit)
	if err != nil {
		return nil, err
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, err
	}
	if err := f.checkSparseIn(commit, tree); err != nil {
		return nil, err
	}
	seen := map[plumbing.Hash]bool{}
	var out []plumbing.Hash
	add := func(id plumbing.Hash) {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	if f.c.opts.RecurseSubmodules {
		if e, err := tree.FindEntry(gitmodulesFile); err == nil && e.Mode.IsFile() {
			add(e.Hash)
		}
	}
	for _, dir := range f.c.sparse {
		sub, err := tree.Tree(strings.TrimSuffix(dir, "/"))
		if err != nil {
			return nil, err
		}
		w := object.NewTreeWalker(sub, true, nil)
		for {
			_, e, err := w.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				w.Close()
				return nil, err
			}
			if e.Mode.IsFile() {
				add(e.Hash)
			}
		}
		w.Close()
	}
	return out, nil
}

// checkSparse checks that every sparse directory is a directory of
// commit: go-git would check out nothing for a missing one, silently.
func (f *fetcher) checkSparse(commit plumbing.Hash) error {
	if f.c.sparse == nil {
		return nil
	}
	c, err := f.repo.CommitObject(commit)
	if err != nil {
		return err
	}
	tree, err := c.Tree()
	if err != nil {
		return err
	}
	return f.checkSparseIn(commit, tree)
}

// checkSparseIn checks the sparse directories against tree, commit's.
func (f *fetcher) checkSparseIn(commit plumbing.Hash, tree *object.Tree) error {
	for _, dir := range f.c.sparse {
		name := strings.TrimSuffix(dir, "/")
		e, err := tree.FindEntry(name)
		switch {
		case errors.Is(err, object.ErrEntryNotFound), errors.Is(err, object.ErrDirectoryNotFound):
			return fmt.Errorf("sparseCheckout: directory %s does not exist in commit %s", name, commit)
		case err != nil:
			return err
		case e.Mode != filemode.Dir:
			return fmt.Errorf("sparseCheckout: %s is not a directory in commit %s", name, commit)
		}
	}
	return nil
}

// uploadPack asks the server for wants, with depth (0: all history) and
// filter (""; none), and stores the packfile it sends. It is go-git's
// fetch one level down, because go-git's FetchOptions have no filter and
// its fetch wants refs, not blobs.
func (f *fetcher) uploadPack(ctx context.Context, wants []plumbing.Hash, depth int, filter packp.Filter) (err error) {
	ep, err := transport.NewEndpoint(f.c.remote.url)
	if err != nil {
		return err
	}
	ep.CaBundle = f.c.caBundle()
	cl, err := gitclient.NewClient(ep)
	if err != nil {
		return err
	}
	sess, err := cl.NewUploadPackSession(ep, f.c.auth)
	if err != nil {
		return classify(ctx, err)
	}
	defer func() {
		if cerr := sess.Close(); cerr != nil && err == nil {
			f.c.log.DebugContext(ctx, "git: closing the upload-pack session", "error", redact.Error(cerr))
		}
	}()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		return classify(ctx, err)
	}
	req := packp.NewUploadPackRequestFromCapabilities(ar.Capabilities)
	req.Wants = wants
	if depth > 0 {
		req.Depth = packp.DepthCommits(depth)
		if err := req.Capabilities.Set(capability.Shallow); err != nil {
			return err
		}
	}
	if filter != "" {
		req.Filter = filter
		if err := req.Capabilities.Set(capability.Filter); err != nil {
			return err
		}
	}
	resp, err := sess.UploadPack(ctx, req)
	if err != nil {
		return classify(ctx, f.sized(err))
	}
	defer func() {
		if cerr := resp.Close(); cerr != nil && err == nil {
			err = classify(ctx, f.sized(cerr))
		}
	}()
	if depth > 0 && len(resp.Shallows) > 0 {
		if err := f.repo.Storer.SetShallow(resp.Shallows); err != nil {
			return f.sized(err)
		}
	}
	var pack io.Reader = resp
	switch {
	case req.Capabilities.Supports(capability.Sideband64k):
		pack = sideband.NewDemuxer(sideband.Sideband64k, resp)
	case req.Capabilities.Supports(capability.Sideband):
		pack = sideband.NewDemuxer(sideband.Sideband, resp)
	}
	if err := packfile.UpdateObjectStorage(f.repo.Storer, pack); err != nil {
		return classify(ctx, f.sized(err))
	}
	return nil
}
