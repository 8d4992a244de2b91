package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/transport"
	gitclient "github.com/go-git/go-git/v5/plumbing/transport/client"
	"github.com/go-git/go-git/v5/storage/filesystem"
	sshknownhosts "golang.org/x/crypto/ssh/knownhosts"

	"github.com/gitsync/gitsync/pkg/redact"
)

// fetchedRef is the one local ref every fetch writes to. Fetching into a
// name of our own, whatever the remote ref is, keeps branches, tags, pull
// request refs and commit ids on one code path.
const fetchedRef = plumbing.ReferenceName("refs/gitsync/fetched")

// list reads the remote's ref advertisement: what `git ls-remote` prints,
// plus whether the server lets clients ask for any reachable commit by id.
// It is go-git's Remote.List, one level down, because List hides the
// capabilities.
func (c *client) list(ctx context.Context) (remoteRefs, error) {
	ep, err := transport.NewEndpoint(c.remote.url)
	if err != nil {
		return remoteRefs{}, err
	}
	ep.CaBundle = c.caBundle()
	cl, err := gitclient.NewClient(ep)
	if err != nil {
		return remoteRefs{}, err
	}
	sess, err := cl.NewUploadPackSession(ep, c.auth)
	if err != nil {
		return remoteRefs{}, err
	}
	defer func() {
		// The advertisement is read by then; a failing close (for example
		// the remote git-upload-pack's exit status) does not change it.
		if err := sess.Close(); err != nil {
			c.log.DebugContext(ctx, "git: closing the ref listing session", "error", redact.Error(err))
		}
	}()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		return remoteRefs{}, err
	}
	all, err := ar.AllReferences()
	if err != nil {
		return remoteRefs{}, err
	}
	list := make([]*plumbing.Reference, 0, len(all)+len(ar.Peeled))
	for _, ref := range all {
		list = append(list, ref)
	}
	for name, id := range ar.Peeled {
		list = append(list, plumbing.NewHashReference(plumbing.ReferenceName(name+peeledSuffix), id))
	}
	rr := newRemoteRefs(list)
	rr.wantAnyCommit = ar.Capabilities.Supports(capability.AllowReachableSHA1InWant)
	rr.filter = ar.Capabilities.Supports(capability.Filter)
	return rr, nil
}

// refs returns the remote's ref advertisement, listed at most once per
// client: a sparse fetch that falls back to the whole commit, and a Fetch
// right after the Resolve that listed (gitSource), use the listing they
// have. A ref that moved since is no error: the fetch of a commit checks
// what it got and tries the next way (see commit).
func (c *client) refs(ctx context.Context) (remoteRefs, error) {
	if c.listing != nil {
		return *c.listing, nil
	}
	rr, err := c.list(ctx)
	if err == nil {
		c.listing = &rr
	}
	return rr, err
}

// classify makes the errors callers branch on recognisable: authentication
// and host key failures, empty repositories and missing refs, and the
// timeout.
func classify(ctx context.Context, err error) error {
	var keyErr *sshknownhosts.KeyError
	var revoked *sshknownhosts.RevokedError
	var noMatch git.NoMatchingRefSpecError
	msg := err.Error()
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired),
		errors.Is(err, transport.ErrAuthorizationFailed),
		strings.Contains(msg, "ssh: unable to authenticate"):
		return fmt.Errorf("%w: %w", ErrAuthentication, err)
	case errors.As(err, &keyErr), errors.As(err, &revoked), strings.Contains(msg, "knownhosts: "):
		return fmt.Errorf("%w: %w", ErrHostKey, err)
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return fmt.Errorf("repository is empty: %w", ErrRefNotFound)
	case errors.As(err, &noMatch):
		return ErrRefNotFound
	case ctx.Err() != nil && !errors.Is(err, ctx.Err()):
		// go-git reports a cancelled transfer in many ways; say why.
		return fmt.Errorf("%w: %w", context.Cause(ctx), err)
	}
	return err
}

// fatal reports whether err ends a Fetch, rather than making it try the
// next way of getting a commit.
func fatal(ctx context.Context, err error) bool {
	return ctx.Err() != nil ||
		errors.Is(err, ErrAuthentication) ||
		errors.Is(err, ErrHostKey) ||
		errors.Is(err, ErrTooLarge)
}

// fetcher runs one Fetch, or the fetch of one submodule. Each attempt
// starts from a new repository in root.
type fetcher struct {
	c    *client
	root string
	repo *git.Repository
	b    *budget
	// parent is the budget that b's bytes count against too: the
	// including or superproject fetch's; nil for a Fetch of its own.
	parent *budget
	// scope decides which credentials submodules get.
	scope credScope
	// depth is 0 for the repository Fetch was asked for, n for its
	// submodules n levels down.
	depth int
}

// fetched is what an attempt got.
type fetched struct {
	target  target
	commit  plumbing.Hash
	shallow bool
	// verifiedBy is the id of the key(s) verify checked the signatures
	// with; empty without GitOptions.Verify.
	verifiedBy string
}

// run gets the commit, verifies its signatures, checks it out and fetches
// its submodules. Its errors name the URL and ref.
func (f *fetcher) run(ctx context.Context) (fetched, error) {
	res, err := f.get(ctx)
	if err != nil {
		return res, f.c.wrap(err)
	}
	if res.verifiedBy, err = f.verify(res); err != nil {
		return res, f.c.wrap(err)
	}
	if err := f.checkout(ctx, res.commit); err != nil {
		return res, f.c.wrap(err)
	}
	if f.c.opts.RecurseSubmodules {
		if err := f.submodules(ctx, res.commit); err != nil {
			return res, f.c.wrap(err)
		}
	}
	return res, nil
}

// get fetches the commit the options name: only the sparse directories'
// blobs when the server allows, otherwise the whole commit.
func (f *fetcher) get(ctx context.Context) (fetched, error) {
	if f.c.sparse != nil {
		res, ok, err := f.partial(ctx)
		if err != nil || ok {
			return res, err
		}
	}
	switch {
	case f.c.pinnedTag != "":
		return f.pinned(ctx)
	case f.c.opts.Ref.kind() == refCommit:
		return f.commit(ctx)
	}
	return f.ref(ctx)
}

// pinned fetches the tag a tag verification mode checks for a commit ref
// (a rollback of a tag revision): the tag by name, which must still point
// to the commit.
func (f *fetcher) pinned(ctx context.Context) (fetched, error) {
	t := target{ref: plumbing.NewTagReferenceName(f.c.pinnedTag), revName: f.c.pinnedTag}
	want := plumbing.NewHash(strings.ToLower(f.c.opts.Ref.Commit))
	got, err := f.fetchRef(ctx, t.ref)
	if err != nil {
		return fetched{}, err
	}
	if got != want {
		return fetched{}, fmt.Errorf("tag %s points to commit %s now, not to %s: %w", f.c.pinnedTag, got, want, ErrRefNotFound)
	}
	return fetched{target: t, commit: want, shallow: true}, nil
}

// reset (re)creates the repository: .git storage in root/.git, worktree in
// root, both through the size-capped, root-bound filesystem. A previous
// attempt's .git is removed first; nothing was checked out yet.
func (f *fetcher) reset() error {
	gitDir := filepath.Join(f.root, ".git")
	if err := os.RemoveAll(gitDir); err != nil {
		return err
	}
	f.b = &budget{limit: f.c.maxSize, parent: f.parent}
	if f.c.maxSize < 0 {
		f.b.limit = -1
	}
	wt := cappedFS{Filesystem: osfs.New(f.root, osfs.WithBoundOS()), b: f.b}
	dot := cappedFS{Filesystem: osfs.New(gitDir, osfs.WithBoundOS()), b: f.b}
	st := filesystem.NewStorageWithOptions(dot, cache.NewObjectLRUDefault(), filesystem.Options{ExclusiveAccess: true})
	repo, err := git.Init(st, wt)
	if err != nil {
		return f.sized(err)
	}
	f.repo = repo
	return nil
}

// sized replaces err by the size-cap error when the budget ran out: go-git
// may report the failed write as something else (a broken pipe, a short
// packfile).
func (f *fetcher) sized(err error) error {
	if err != nil && f.b != nil && f.b.exceeded.Load() {
		t := f.b.capping()
		return fmt.Errorf("%w: fetch stopped after writing %d bytes (the limit is %d)", ErrTooLarge, t.used.Load(), t.limit)
	}
	return err
}

// fetch runs one `git fetch` of spec into the current repository.
func (f *fetcher) fetch(ctx context.Context, depth int, specs ...config.RefSpec) error {
	remote := git.NewRemote(f.repo.Storer, &config.RemoteConfig{Name: git.DefaultRemoteName, URLs: []string{f.c.remote.url}})
	err := remote.FetchContext(ctx, &git.FetchOptions{
		RemoteName: git.DefaultRemoteName,
		RefSpecs:   specs,
		Depth:      depth,
		Auth:       f.c.auth,
		Tags:       git.NoTags,
		Force:      true,
		CABundle:   f.c.caBundle(),
	})
	if errors.Is(err, git.NoErrAlreadyUpToDate) {
		err = nil
	}
	if err != nil {
		return classify(ctx, f.sized(err))
	}
	return nil
}

// fetchRef fetches the remote ref name with depth 1 and returns the commit
// it names (annotated tags peeled).
func (f *fetcher) fetchRef(ctx context.Context, name plumbing.ReferenceName) (plumbing.Hash, error) {
	if err := f.reset(); err != nil {
		return plumbing.ZeroHash, err
	}
	spec := config.RefSpec("+" + name.String() + ":" + fetchedRef.String())
	if err := f.fetch(ctx, 1, spec); err != nil {
		return plumbing.ZeroHash, err
	}
	ref, err := f.repo.Reference(fetchedRef, true)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("%s: %w", name, err)
	}
	return f.peel(ref.Hash())
}

// peel follows tag objects to the commit they point to.
func (f *fetcher) peel(id plumbing.Hash) (plumbing.Hash, error) {
	for range 10 {
		obj, err := f.repo.Object(plumbing.AnyObject, id)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("object %s: %w", id, err)
		}
		switch o := obj.(type) {
		case *object.Commit:
			return o.Hash, nil
		case *object.Tag:
			id = o.Target
		default:
			return plumbing.ZeroHash, fmt.Errorf("%s is a %s, not a commit", id, obj.Type())
		}
	}
	return plumbing.ZeroHash, fmt.Errorf("%s: too many nested tags", id)
}

// ref fetches a branch, tag, semver tag, name ref or the default branch.
// Branches, tags and names are fetched by name without a listing first; the
// default branch and semver need one to know the name.
func (f *fetcher) ref(ctx context.Context) (fetched, error) {
	ref := f.c.opts.Ref
	var t target
	switch ref.kind() {
	case refBranch:
		t = target{ref: plumbing.NewBranchReferenceName(ref.Branch), revName: ref.Branch}
	case refTag:
		t = target{ref: plumbing.NewTagReferenceName(ref.Tag), revName: ref.Tag}
	case refName:
		t = target{ref: plumbing.ReferenceName(strings.TrimSuffix(ref.Name, peeledSuffix)), revName: ref.Name}
	default:
		rr, err := f.c.refs(ctx)
		if err != nil {
			return fetched{}, classify(ctx, err)
		}
		if t, err = selectTarget(ref, f.c.constraint, rr); err != nil {
			return fetched{}, err
		}
	}
	commit, err := f.fetchRef(ctx, t.ref)
	if err != nil {
		return fetched{}, err
	}
	return fetched{target: t, commit: commit, shallow: true}, nil
}

// commit fetches a commit by id, the cheapest way the server allows:
//
//  1. When the commit is the tip of a ref (of Ref.Branch, when set), that
//     ref with depth 1.
//  2. When the server allows any reachable commit to be asked for by id,
//     the commit itself with depth 1. A refusal means the commit is not
//     reachable on the server: not found.
//  3. Otherwise a full clone of Ref.Branch, or of all branches and tags,
//     and the commit taken from that.
//
// A ref that moves between the listing and the fetch makes step 1 fall
// through to the next step.
func (f *fetcher) commit(ctx context.Context) (fetched, error) {
	rr, err := f.c.refs(ctx)
	if err != nil {
		return fetched{}, classify(ctx, err)
	}
	t, err := selectTarget(f.c.opts.Ref, nil, rr)
	if err != nil {
		return fetched{}, err
	}
	want := t.commit

	if tip := rr.tipOf(want, t.ref); tip != "" {
		got, err := f.fetchRef(ctx, tip)
		switch {
		case err == nil && got == want:
			return fetched{target: t, commit: want, shallow: true}, nil
		case err != nil && fatal(ctx, err):
			return fetched{}, err
		}
		f.c.log.Info("git: ref moved while fetching a commit; trying the next way",
			"url", f.c.urlForErrors(), "ref", tip.String(), "commit", want.String(), "error", redact.Text(errString(err)))
	}

	if rr.wantAnyCommit {
		err := f.fetchID(ctx, want)
		switch {
		case err == nil:
			return fetched{target: t, commit: want, shallow: true}, nil
		case fatal(ctx, err):
			return fetched{}, err
		case strings.Contains(err.Error(), "not our ref"):
			return fetched{}, fmt.Errorf("commit %s is not reachable from any ref on the server: %w", want, ErrRefNotFound)
		}
		f.c.log.Info("git: fetching a commit by id failed; falling back to a full clone",
			"url", f.c.urlForErrors(), "commit", want.String(), "error", redact.Text(err.Error()))
	} else {
		f.c.log.Info("git: the server does not serve commits by id; falling back to a full clone",
			"url", f.c.urlForErrors(), "commit", want.String())
	}

	if err := f.fullClone(ctx, t.ref); err != nil {
		return fetched{}, err
	}
	if _, err := f.repo.CommitObject(want); err != nil {
		where := "any branch or tag"
		if t.ref != "" {
			where = "branch " + t.ref.Short()
		}
		return fetched{}, fmt.Errorf("commit %s is not in %s: %w", want, where, ErrRefNotFound)
	}
	return fetched{target: t, commit: want, shallow: false}, nil
}

// fetchID fetches commit id itself with depth 1.
func (f *fetcher) fetchID(ctx context.Context, id plumbing.Hash) error {
	if err := f.reset(); err != nil {
		return err
	}
	if err := f.fetch(ctx, 1, config.RefSpec(id.String()+":"+fetchedRef.String())); err != nil {
		return err
	}
	_, err := f.repo.CommitObject(id)
	return err
}

// fullClone fetches the whole history of branch, or of all branches and
// tags when branch is empty.
func (f *fetcher) fullClone(ctx context.Context, branch plumbing.ReferenceName) error {
	if err := f.reset(); err != nil {
		return err
	}
	specs := []config.RefSpec{"+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"}
	if branch != "" {
		specs = []config.RefSpec{config.RefSpec("+" + branch.String() + ":" + fetchedRef.String())}
	}
	return f.fetch(ctx, 0, specs...)
}

// checkout writes commit's tree into root. go-git's checkout takes no
// context; ctx is checked before it starts.
func (f *fetcher) checkout(ctx context.Context, commit plumbing.Hash) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := f.checkSparse(commit); err != nil {
		return err
	}
	wt, err := f.repo.Worktree()
	if err != nil {
		return err
	}
	// go-git matches sparse directories as name prefixes: "app/", not
	// "app", so that "apps" is not checked out with it.
	if err := wt.Checkout(&git.CheckoutOptions{Hash: commit, Force: true, SparseCheckoutDirectories: f.c.sparse}); err != nil {
		return fmt.Errorf("checkout %s: %w", commit, f.sized(err))
	}
	return nil
}

// errString is err.Error(), or "" for nil.
func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
