package source

import "errors"

// Errors that callers branch on. Resolve and Fetch wrap them, so test with
// errors.Is.
var (
	// ErrRefNotFound means the remote has no ref matching the GitRef: no such
	// branch, tag or name, no tag matching the semver constraint, or no such
	// commit.
	ErrRefNotFound = errors.New("not found")

	// ErrAuthentication means the server refused the credentials, or asked
	// for credentials and got none.
	ErrAuthentication = errors.New("authentication failed")

	// ErrHostKey means the SSH server's host key is not in the known_hosts
	// data, or differs from it.
	ErrHostKey = errors.New("host key verification failed")

	// ErrTooLarge means Fetch stopped because it would have written more than
	// GitOptions.MaxSize bytes.
	ErrTooLarge = errors.New("size limit exceeded")

	// ErrUnsafeSymlink means the fetched tree holds a symlink that is
	// absolute or resolves outside the checkout directory.
	ErrUnsafeSymlink = errors.New("unsafe symlink")

	// ErrInvalidOptions means GitOptions cannot be used as given: a URL
	// scheme that is not supported, a malformed ref, missing known_hosts
	// for SSH, and the like. Nothing was sent over the network.
	ErrInvalidOptions = errors.New("invalid options")
)
