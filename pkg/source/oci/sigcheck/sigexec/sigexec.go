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
//
// The child's environment is the few variables helmexec.ChildEnv passes.
// A check that fetches Sigstore's public-good trusted root (keyless,
// without a trusted root) reads more of it — the TUF mirror and root
// (sigcheck.EnvTUFURL, sigcheck.EnvTUFRoot), the proxy, the TLS roots —
// so the parent sends those with the request (a proxy URL may hold a
// password: it goes through the pipe to the child, which needs it, and
// nowhere else), with its deadline: the
// child gives up a little earlier and says where it was waiting, rather
// than being killed.
package sigexec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

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

// request is a sigcheck.Request on the wire, with what the child's own
// environment lacks.
type request struct {
	sigcheck.Request
	// Env holds the parent's values of fetchEnv, for a check that
	// fetches the public-good trusted root.
	Env map[string]string `json:"env,omitempty"`
	// Deadline is when the child gives up: a little before the parent's.
	Deadline time.Time `json:"deadline,omitzero"`
}

// fetchEnv are the variables a fetch of the trusted root reads: where
// from, and how net/http reaches it.
var fetchEnv = []string{
	sigcheck.EnvTUFURL, sigcheck.EnvTUFRoot,
	"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy",
	"SSL_CERT_FILE", "SSL_CERT_DIR",
}

// childDeadline is d less a tenth of the time left, at most a second: the
// child's error about a slow fetch then reaches the parent before the
// parent's own deadline.
func childDeadline(d time.Time) time.Time {
	return d.Add(-min(time.Until(d)/10, time.Second))
}

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
	wire := request{Request: *req}
	if (req.Keyless || len(req.Identities) > 0) && len(req.TrustedRoot) == 0 {
		for _, k := range fetchEnv {
			if v, ok := os.LookupEnv(k); ok {
				if wire.Env == nil {
					wire.Env = map[string]string{}
				}
				wire.Env[k] = v
			}
		}
	}
	if d, ok := ctx.Deadline(); ok {
		wire.Deadline = childDeadline(d)
	}
	in, err := json.Marshal(&wire)
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
// returned, and the child exits non-zero. The variables of fetchEnv the
// parent sent are set in this process's environment, where the check and
// net/http read them: the child serves one request.
func Serve(ctx context.Context, in io.Reader, out io.Writer, c sigcheck.Checker) error {
	var req request
	if err := helmexec.ReadRequest(in, &req); err != nil {
		return err
	}
	for k, v := range req.Env {
		if !slices.Contains(fetchEnv, k) {
			return fmt.Errorf("request: env: %s is not a variable a check reads", k)
		}
		if err := os.Setenv(k, v); err != nil {
			return fmt.Errorf("request: env: %w", err)
		}
	}
	if !req.Deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, req.Deadline)
		defer cancel()
	}
	var resp Response
	res, err := c.Check(ctx, &req.Request)
	if err != nil {
		resp.Error = &Error{Message: err.Error(), InvalidTrust: errors.Is(err, sigcheck.ErrInvalidTrust)}
	} else {
		resp.Result = res
	}
	return helmexec.WriteResponse(out, &resp)
}
