// Package sigexec checks Sigstore signatures (sigcheck.Checker) in a
// child process: `sync-job-helm verify`, the program next to sync-job
// that also renders Helm charts (pkg/helm/helmexec finds and runs it).
// sync-job thereby does not link sigstore-go, and only a run that meets a
// Sigstore bundle or a keyless signature starts it, once per signature
// checked. The parent writes the sigcheck.Request as JSON on the child's
// stdin (public keys, a trusted root, a signature: nothing secret); the
// child writes one Response on stdout and exits 0, also when the
// signature does not verify. Anything else is an error naming the
// program.
package sigexec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/gitsync/gitsync/pkg/helm/helmexec"
	"github.com/gitsync/gitsync/pkg/source/oci/sigcheck"
)

// Arg is the child program's argument that selects signature checking.
const Arg = "verify"

// Checker checks signatures in a child process.
type Checker struct {
	// Path is the child program; "" means helmexec.Find's.
	Path string
}

var _ sigcheck.Checker = Checker{}

// Response is the child's answer: a Result, or the error the check
// returned.
type Response struct {
	Result *sigcheck.Result `json:"result,omitempty"`
	Error  *Error           `json:"error,omitempty"`
}

// Error is a check's error on the wire: its text, and whether it wrapped
// sigcheck.ErrInvalidTrust.
type Error struct {
	Message      string `json:"message"`
	InvalidTrust bool   `json:"invalidTrust,omitempty"`
}

// remoteError is an Error back in the parent.
type remoteError struct {
	msg          string
	invalidTrust bool
}

func (e *remoteError) Error() string { return e.msg }

// Is matches sigcheck.ErrInvalidTrust when the child's error wrapped it.
func (e *remoteError) Is(target error) bool {
	return e.invalidTrust && target == sigcheck.ErrInvalidTrust
}

// Check runs the child on req.
func (c Checker) Check(ctx context.Context, req *sigcheck.Request) (*sigcheck.Result, error) {
	bin := c.Path
	if bin == "" {
		var err error
		if bin, err = helmexec.Find(); err != nil {
			return nil, fmt.Errorf("signature checker: %w", err)
		}
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("signature checker %s %s: %s", bin, Arg, fmt.Sprintf(format, args...))
	}
	in, err := json.Marshal(req)
	if err != nil {
		return nil, fail("encoding the request: %v", err)
	}
	out, stderr, err := helmexec.Exec(ctx, bin, []string{Arg}, in, helmexec.DefaultMaxMemory)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return nil, fmt.Errorf("signature checker %s: %w", bin, ctxErr)
	}
	if err != nil {
		return nil, fail("%s", helmexec.Describe(err, stderr))
	}
	var resp Response
	if err := helmexec.DecodeResponse(out, stderr, &resp); err != nil {
		return nil, fail("%v", err)
	}
	switch {
	case resp.Error != nil && resp.Result == nil:
		return nil, &remoteError{msg: resp.Error.Message, invalidTrust: resp.Error.InvalidTrust}
	case resp.Result != nil && resp.Error == nil:
		return resp.Result, nil
	}
	return nil, fail("invalid output: a response needs exactly one of result and error")
}

// Serve is the child's side: it reads one Request from in, checks it with
// c and writes one Response to out. A check's error is a Response; an
// error of Serve's own (unreadable request, unwritable output) is
// returned, and the child exits non-zero.
func Serve(ctx context.Context, in io.Reader, out io.Writer, c sigcheck.Checker) error {
	var req sigcheck.Request
	if err := helmexec.ReadRequest(in, &req); err != nil {
		return err
	}
	var resp Response
	res, err := c.Check(ctx, &req)
	if err != nil {
		resp.Error = &Error{Message: err.Error(), InvalidTrust: errors.Is(err, sigcheck.ErrInvalidTrust)}
	} else {
		resp.Result = res
	}
	return helmexec.WriteResponse(out, &resp)
}
