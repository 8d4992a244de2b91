package source

import "errors"

// Errors that callers branch on, shared by every kind of source: Resolve
// and Fetch wrap them, so test with errors.Is. A kind may define narrower
// errors of its own with Narrow, which still match these.
var (
	// ErrRefNotFound means the source has nothing matching what the spec
	// selects: no such branch, tag, name or commit, no tag or version
	// satisfying a constraint, no such chart.
	ErrRefNotFound = errors.New("not found")

	// ErrAuthentication means the server refused the credentials, or asked
	// for credentials and got none.
	ErrAuthentication = errors.New("authentication failed")

	// ErrHostKey means the SSH server's host key is not in the known_hosts
	// data, or differs from it.
	ErrHostKey = errors.New("host key verification failed")

	// ErrTooLarge means a fetch stopped because the content exceeded its
	// size cap (GitOptions.MaxSize, a chart's or an index's limit).
	ErrTooLarge = errors.New("size limit exceeded")

	// ErrUnsafeSymlink means the fetched tree holds a symlink that is
	// absolute or resolves outside the checkout directory.
	ErrUnsafeSymlink = errors.New("unsafe symlink")

	// ErrDigestMismatch means fetched content does not have the digest
	// that the index, registry or revision announced for it.
	ErrDigestMismatch = errors.New("digest mismatch")

	// ErrVerification means the content is not signed, or by no key the
	// spec trusts, or its signature does not verify: nothing of it may be
	// applied.
	ErrVerification = errors.New("verification failed")

	// ErrInvalidOptions means the options cannot be used as given: a URL
	// scheme that is not supported, a malformed ref, missing known_hosts
	// for SSH, unusable credentials, and the like. Nothing was sent over
	// the network.
	ErrInvalidOptions = errors.New("invalid options")
)

// Narrow returns a new error with message msg that errors.Is also matches
// against parent: a kind's own error (helm's "no matching chart version")
// that callers of any kind can still recognise as parent (ErrRefNotFound).
func Narrow(msg string, parent error) error {
	return &narrowed{msg: msg, parent: parent}
}

// narrowed is an error made by Narrow.
type narrowed struct {
	msg    string
	parent error
}

// Error returns the message.
func (e *narrowed) Error() string { return e.msg }

// Is reports whether target is the parent error.
func (e *narrowed) Is(target error) bool { return target == e.parent }
