package source

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing/transport"
	gitclient "github.com/go-git/go-git/v5/plumbing/transport/client"
)

// ErrPushRejected says the remote refused a push for another reason than
// authentication: a branch that moved (non-fast-forward), a protected
// branch, a hook.
var ErrPushRejected = errors.New("push rejected")

// Push pushes refspecs ("<commit>:refs/heads/<branch>") from the
// repository in dir, a checkout that Fetch made with KeepGitDir, to
// opts.URL with opts.Auth. Nothing is forced: a branch that moved since
// the fetch is an ErrPushRejected. Read-only credentials are an
// ErrAuthentication. Errors name the URL, redacted.
func Push(ctx context.Context, opts GitOptions, dir string, refspecs []string) error {
	c, err := newClient(ctx, opts)
	if err != nil {
		return err
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	repo, err := git.PlainOpen(dir)
	if err != nil {
		return c.wrap(err)
	}
	specs := make([]config.RefSpec, len(refspecs))
	for i, s := range refspecs {
		specs[i] = config.RefSpec(s)
		if err := specs[i].Validate(); err != nil {
			return c.wrap(fmt.Errorf("%w: refspec %q: %w", ErrInvalidOptions, s, err))
		}
	}
	remote := git.NewRemote(repo.Storer, &config.RemoteConfig{Name: git.DefaultRemoteName, URLs: []string{c.remote.url}})
	err = remote.PushContext(ctx, &git.PushOptions{
		RemoteName: git.DefaultRemoteName,
		RefSpecs:   specs,
		Auth:       c.auth,
		CABundle:   c.caBundle(),
	})
	if err == nil || errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil
	}
	err = classify(ctx, err)
	if !errors.Is(err, ErrAuthentication) && ctx.Err() == nil {
		err = fmt.Errorf("%w: %w", ErrPushRejected, err)
	}
	return c.wrap(err)
}

// CheckPush asks the remote for its receive-pack ref advertisement, the
// first step of a push, with opts.Auth: servers refuse it to credentials
// without write access (ErrAuthentication), so it tells whether a push
// would be allowed without pushing anything. A server may still refuse
// the push itself (a protected branch).
func CheckPush(ctx context.Context, opts GitOptions) error {
	c, err := newClient(ctx, opts)
	if err != nil {
		return err
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	ep, err := transport.NewEndpoint(c.remote.url)
	if err != nil {
		return c.wrap(err)
	}
	ep.CaBundle = c.caBundle()
	cl, err := gitclient.NewClient(ep)
	if err != nil {
		return c.wrap(err)
	}
	sess, err := cl.NewReceivePackSession(ep, c.auth)
	if err != nil {
		return c.wrap(classify(ctx, err))
	}
	defer func() { _ = sess.Close() }()
	if _, err := sess.AdvertisedReferencesContext(ctx); err != nil && !errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return c.wrap(classify(ctx, err))
	}
	return nil
}
