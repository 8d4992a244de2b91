package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/go-git/go-git/v5/plumbing/transport"
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
	// Auth holds the credentials. Default: anonymous (HTTP only; SSH always
	// needs an identity and known_hosts).
	Auth Auth
	// Insecure allows plain http:// URLs. It never turns off TLS
	// verification of https:// URLs. Default: false.
	Insecure bool
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
	// fetch to a full clone. Default: discard.
	Logger *slog.Logger
}

// Revision identifies what was resolved or fetched, in Flux's format:
// "main@sha1:<40 hex>", "v1.2.0@sha1:<40 hex>", "refs/heads/main@sha1:<40
// hex>" or "sha1:<40 hex>" (see the package documentation).
type Revision string

// Commit returns the commit id in the revision, or "" when it holds none.
func (r Revision) Commit() string {
	s := string(r)
	if i := strings.LastIndex(s, "@"); i >= 0 {
		s = s[i+1:]
	}
	id, ok := strings.CutPrefix(s, "sha1:")
	if !ok || !sha1Hex.MatchString(id) {
		return ""
	}
	return id
}

// String returns the revision as is.
func (r Revision) String() string { return string(r) }

// Artifact is the outcome of Fetch: the checked-out files and what they are.
type Artifact struct {
	// Dir is the directory Fetch was given, holding the checked-out files
	// (and .git only with GitOptions.KeepGitDir).
	Dir string
	// Revision is the revision checked out; Resolve returns the same for
	// the same remote state.
	Revision Revision
	// Commit is the commit id checked out, 40 hex digits.
	Commit string
	// Shallow is true when only the commit itself was fetched (depth 1); it
	// is false when a commit ref forced a full clone (see the package
	// documentation).
	Shallow bool
}

// client is GitOptions validated and completed with defaults.
type client struct {
	opts       GitOptions
	remote     remoteURL
	auth       transport.AuthMethod
	constraint *semver.Constraints
	timeout    time.Duration
	maxSize    int64
	log        *slog.Logger
}

// newClient validates opts. Its errors wrap ErrInvalidOptions (and
// ErrHostKey when known_hosts has no entry for the host) and name the URL.
func newClient(opts GitOptions) (*client, error) {
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
		return nil, fmt.Errorf("%s: %w: %w", c.urlForErrors(), ErrInvalidOptions, err)
	}
	if c.constraint, err = opts.Ref.validate(); err != nil {
		return nil, c.wrap(fmt.Errorf("%w: %w", ErrInvalidOptions, err))
	}
	dialTimeout := c.timeout
	if dialTimeout < 0 {
		dialTimeout = 0
	}
	if c.auth, err = opts.Auth.transportAuth(c.remote, dialTimeout); err != nil {
		if errors.Is(err, ErrHostKey) {
			return nil, c.wrap(err)
		}
		return nil, c.wrap(fmt.Errorf("%w: %w", ErrInvalidOptions, err))
	}
	return c, nil
}

// urlForErrors is the URL as the user wrote it, for messages.
func (c *client) urlForErrors() string {
	if c.opts.URL == "" {
		return `""`
	}
	return redactURL(c.opts.URL)
}

// wrap prefixes err with the URL and the ref.
func (c *client) wrap(err error) error {
	return fmt.Errorf("%s: ref %s: %w", c.urlForErrors(), c.opts.Ref, err)
}

// caBundle is the extra CA bundle for HTTPS.
func (c *client) caBundle() []byte {
	if c.remote.kind != transportHTTPS {
		return nil
	}
	return c.opts.Auth.CAFile
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
	c, err := newClient(opts)
	if err != nil {
		return "", err
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	rr, err := c.list(ctx)
	if err != nil {
		return "", c.wrap(classify(ctx, err))
	}
	t, err := selectTarget(opts.Ref, c.constraint, rr)
	if err != nil {
		return "", c.wrap(err)
	}
	return t.revision(t.commit), nil
}

// Fetch fetches the revision opts.Ref names into dir and checks it out.
// dir must be an existing, empty directory private to the caller, who
// removes it afterwards, also when Fetch fails (it may hold partial
// content then). See the package documentation for what is fetched, the
// size cap and symlink confinement.
func Fetch(ctx context.Context, opts GitOptions, dir string) (*Artifact, error) {
	c, err := newClient(opts)
	if err != nil {
		return nil, err
	}
	root, err := checkEmptyDir(dir)
	if err != nil {
		return nil, c.wrap(err)
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()

	f := &fetcher{c: c, root: root}
	var res fetched
	if opts.Ref.kind() == refCommit {
		res, err = f.commit(ctx)
	} else {
		res, err = f.ref(ctx)
	}
	if err != nil {
		return nil, c.wrap(err)
	}
	if err := f.checkout(ctx, res.commit); err != nil {
		return nil, c.wrap(err)
	}
	if !opts.KeepGitDir {
		if err := os.RemoveAll(filepath.Join(root, ".git")); err != nil {
			return nil, c.wrap(err)
		}
	}
	if err := checkSymlinks(ctx, root); err != nil {
		return nil, c.wrap(fmt.Errorf("%s: %w", res.target.revision(res.commit), err))
	}
	return &Artifact{
		Dir:      dir,
		Revision: res.target.revision(res.commit),
		Commit:   res.commit.String(),
		Shallow:  res.shallow,
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
