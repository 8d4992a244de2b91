package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/gitsync/gitsync/pkg/redact"
)

// Defaults of GitOptions.
const (
	// DefaultTimeout bounds one Resolve or one Fetch.
	DefaultTimeout = 60 * time.Second
	// DefaultMaxSize caps the bytes one Fetch writes.
	DefaultMaxSize int64 = 512 << 20
)

// GitOptions says what to resolve or fetch and how.
type GitOptions struct {
	// URL is the repository: https://host/path, http://host/path (only with
	// Insecure), ssh://[user@]host[:port]/path or [user@]host:path. Required.
	URL string
	// Ref selects the revision. Default: the remote's default branch.
	Ref GitRef
	// Auth holds the credentials: Username and Password or BearerToken
	// for HTTP(S), Identity and KnownHosts for SSH, CAPEM for HTTPS.
	// Default: anonymous (HTTP only; SSH always needs an identity and
	// known_hosts).
	Auth Credentials
	// Insecure allows plain http:// URLs. It never turns off TLS
	// verification of https:// URLs. Default: false.
	Insecure bool
	// Provider is how the source authenticates: GitProviderGeneric (""
	// too) with Auth as it is, or GitProviderGitHub, a GitHub App's
	// installation token from Auth.GitHubApp (HTTPS only).
	Provider string
	// Timeout bounds one Resolve or one Fetch as a whole, on top of ctx.
	// Default (0): DefaultTimeout. Negative: ctx alone bounds the call.
	Timeout time.Duration
	// MaxSize caps the bytes Fetch writes below its directory: packfile,
	// .git metadata and checked-out files together. Default (0):
	// DefaultMaxSize. Negative: no cap.
	MaxSize int64
	// KeepGitDir keeps the .git directory in the checkout. Default: false,
	// the checkout holds only the repository's files (the render stage
	// reads nothing else, and the objects would double the disk use).
	KeepGitDir bool
	// Logger receives a record when Fetch has to fall back from a shallow
	// fetch to a full clone, or from a partial to a whole one. Default:
	// discard.
	Logger *slog.Logger

	// Verify makes Fetch check the signature of the commit, the tag or
	// both before anything is checked out (see GitVerification). Default:
	// nothing is checked.
	Verify *GitVerification
	// SparseCheckout lists directories, relative to the repository root;
	// Fetch checks out only those, and each must exist. When the server
	// supports partial clone (uploadpack.allowFilter) and serves objects by
	// id, only the blobs of those directories are transferred at all.
	// Default: the whole tree.
	SparseCheckout []string
	// RecurseSubmodules fetches the submodules of the commit (recursively,
	// up to MaxSubmoduleDepth levels), each at the commit the tree records,
	// into its path. They are confined and size-capped with the
	// repository, under the same MaxSize. A submodule on the host of URL is
	// fetched with Auth; one on another host only with Auth's CA bundle and
	// known_hosts. Default: false, submodule directories stay empty.
	RecurseSubmodules bool
	// Include copies paths of other repositories into the checkout once
	// it is checked out (see GitInclude). Default: none.
	Include []GitInclude
}

// MaxSubmoduleDepth bounds how deeply submodules of submodules are
// fetched, as Git's and Flux's default recursion depth does.
const MaxSubmoduleDepth = 10

// client is GitOptions validated and completed with defaults.
type client struct {
	opts       GitOptions
	remote     remoteURL
	auth       transport.AuthMethod
	constraint *semver.Constraints
	timeout    time.Duration
	maxSize    int64
	log        *slog.Logger
	// sparse are the SparseCheckout directories, cleaned, each ending in
	// "/"; nil for a whole checkout.
	sparse []string
	// pinnedTag is the tag whose signature a tag mode checks when Ref
	// selects a commit (GitVerification.Tag); empty otherwise.
	pinnedTag string
	// listing is the remote's ref advertisement once read (refs), or the
	// one the Resolve before the Fetch read; nil before.
	listing *remoteRefs
}

// newClient validates opts. Its errors wrap ErrInvalidOptions (and
// ErrHostKey when known_hosts has no entry for the host) and name the URL.
func newClient(ctx context.Context, opts GitOptions) (*client, error) {
	c := &client{opts: opts, timeout: opts.Timeout, maxSize: opts.MaxSize, log: opts.Logger}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if c.maxSize == 0 {
		c.maxSize = DefaultMaxSize
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if c.remote, err = parseURL(opts.URL, opts.Insecure); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", c.urlForErrors(), ErrInvalidOptions, redact.Error(err))
	}
	if c.constraint, err = opts.Ref.validate(); err != nil {
		return nil, c.wrap(fmt.Errorf("%w: %w", ErrInvalidOptions, err))
	}
	dialTimeout := c.timeout
	if dialTimeout < 0 {
		dialTimeout = 0
	}
	if c.opts.Auth, err = withProvider(ctx, opts, c.remote, dialTimeout); err != nil {
		if errors.Is(err, ErrInvalidOptions) || errors.Is(err, ErrAuthentication) {
			return nil, c.wrap(err)
		}
		return nil, c.wrap(classify(ctx, err))
	}
	if c.auth, err = c.opts.Auth.transportAuth(c.remote, dialTimeout); err != nil {
		if errors.Is(err, ErrHostKey) {
			return nil, c.wrap(err)
		}
		return nil, c.wrap(fmt.Errorf("%w: %w", ErrInvalidOptions, err))
	}
	if err := c.validateExtras(); err != nil {
		return nil, c.wrap(fmt.Errorf("%w: %w", ErrInvalidOptions, err))
	}
	return c, nil
}

// urlForErrors is the URL as the user wrote it, redacted, for messages.
func (c *client) urlForErrors() string {
	if c.opts.URL == "" {
		return `""`
	}
	return redact.URL(c.opts.URL)
}

// wrap prefixes err with the URL and the ref. go-git and net/http quote
// the URL they dialled in their errors, userinfo and query included, so
// err's message is redacted too.
func (c *client) wrap(err error) error {
	return fmt.Errorf("%s: ref %s: %w", c.urlForErrors(), c.opts.Ref, redact.Error(err))
}

// caBundle is the extra CA bundle for HTTPS.
func (c *client) caBundle() []byte {
	if c.remote.kind != transportHTTPS {
		return nil
	}
	return c.opts.Auth.CAPEM
}

// withTimeout applies the Timeout option to ctx.
func (c *client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.timeout < 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.timeout)
}

// Resolve returns the revision that opts.Ref names on the remote, from one
// ref listing (`git ls-remote`); nothing is cloned. For a commit ref it
// returns the commit as given (the listing checks access, and that
// Ref.Branch exists when set).
func Resolve(ctx context.Context, opts GitOptions) (Revision, error) {
	rev, _, err := resolve(ctx, opts)
	return rev, err
}

// resolve is Resolve, also returning the ref listing it read.
func resolve(ctx context.Context, opts GitOptions) (Revision, *remoteRefs, error) {
	c, err := newClient(ctx, opts)
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	rr, err := c.list(ctx)
	if err != nil {
		return "", nil, c.wrap(classify(ctx, err))
	}
	t, err := selectTarget(opts.Ref, c.constraint, rr)
	if err != nil {
		return "", nil, c.wrap(err)
	}
	return t.revision(t.commit), &rr, nil
}

// Fetch fetches the revision opts.Ref names into dir and checks it out.
// dir must be an existing, empty directory private to the caller, who
// removes it afterwards, also when Fetch fails (it may hold partial
// content then). See the package documentation for what is fetched, the
// size cap and symlink confinement, signature verification, sparse
// checkout, submodules and includes.
func Fetch(ctx context.Context, opts GitOptions, dir string) (*Artifact, error) {
	return fetchInto(ctx, opts, dir, nil, nil)
}

// fetchInto is Fetch, with the bytes it writes counted against parent
// too when parent is not nil (an include), and the remote's refs taken
// from listing when it is not nil (what a Resolve just read; see refs).
func fetchInto(ctx context.Context, opts GitOptions, dir string, parent *budget, listing *remoteRefs) (*Artifact, error) {
	c, err := newClient(ctx, opts)
	if err != nil {
		return nil, err
	}
	c.listing = listing
	root, err := checkEmptyDir(dir)
	if err != nil {
		return nil, c.wrap(err)
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()

	f := &fetcher{c: c, root: root, parent: parent, scope: newCredScope(c)}
	res, err := f.run(ctx)
	if err != nil {
		return nil, err
	}
	rev := res.target.revision(res.commit)
	for i, inc := range opts.Include {
		irev, err := include(ctx, inc, root, f.b)
		if err != nil {
			return nil, c.wrap(fmt.Errorf("include[%d]: %w", i, err))
		}
		c.log.InfoContext(ctx, "git: included", "url", c.urlForErrors(), "include", i,
			"from", redact.URL(inc.Repository.URL), "revision", irev.String(), "toPath", inc.ToPath)
	}
	if !opts.KeepGitDir {
		if err := os.RemoveAll(filepath.Join(root, ".git")); err != nil {
			return nil, c.wrap(err)
		}
	}
	if err := checkSymlinks(ctx, root); err != nil {
		return nil, c.wrap(fmt.Errorf("%s: %w", rev, err))
	}
	return &Artifact{
		Dir:        dir,
		Revision:   rev,
		Commit:     res.commit.String(),
		Shallow:    res.shallow,
		VerifiedBy: res.verifiedBy,
	}, nil
}

// checkEmptyDir checks that dir is an empty directory and returns its real
// path: go-billy's bound filesystem compares real paths, so a dir below a
// symlinked /tmp would otherwise look like it escapes itself.
func checkEmptyDir(dir string) (string, error) {
	if dir == "" {
		return "", fmt.Errorf("%w: no directory given", ErrInvalidOptions)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	if len(entries) > 0 {
		return "", fmt.Errorf("%w: %s is not empty", ErrInvalidOptions, dir)
	}
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	return filepath.Abs(root)
}
