package cli

import "errors"

// Exit codes of kubectl-gitsync, documented in docs/exit-codes.md.
const (
	// ExitOK means the command did what was asked.
	ExitOK = 0
	// ExitFailed means the command ran and failed, or (diff) found changes.
	ExitFailed = 1
	// ExitError means bad usage, bad input, or an error talking to the cluster.
	ExitError = 2
)

// exitError is an error that carries its exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// withExitCode wraps err so that main exits with code.
func withExitCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// ExitCode returns the exit code for err: the code it carries, or ExitError.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return ExitError
}
