package oci

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/source/oci/sigcheck"
)

// Sigstore bundles and keyless signatures are checked with sigstore-go,
// which this package does not link (see pkg/source/oci/sigcheck). Each
// binary chooses how: kubectl-gitsync and the tests in process
// (sigcheck/sdk), sync-job in a short-lived child process
// (sigcheck/sigexec), which it starts only for such a signature.

// checker is the Checker UseChecker set.
var checker atomic.Pointer[sigcheck.Checker]

// UseChecker sets how Sigstore bundles and keyless signatures are checked:
// sdk.Checker{} in this process, sigexec.Checker in a child. A binary
// calls it once at start; without it such a signature fails to verify
// with ErrNoChecker (cosign v2's key-based signatures need no Checker).
func UseChecker(c sigcheck.Checker) { checker.Store(&c) }

// ErrNoChecker means the binary set no signature checker (UseChecker).
var ErrNoChecker = errors.New("no Sigstore signature checker is set in this binary (oci.UseChecker)")

// check runs the Checker on req: who signed, or what is wrong with the
// signature; an error when it could not be checked (unusable trust wraps
// source.ErrInvalidOptions).
func check(ctx context.Context, req *sigcheck.Request) (by, problem string, err error) {
	c := checker.Load()
	if c == nil {
		return "", "", ErrNoChecker
	}
	res, err := (*c).Check(ctx, req)
	if err != nil {
		if errors.Is(err, sigcheck.ErrInvalidTrust) {
			return "", "", fmt.Errorf("%w: %w", err, source.ErrInvalidOptions)
		}
		return "", "", err
	}
	if (res.By == "") == (res.Problem == "") {
		return "", "", errors.New("signature checker: a result needs exactly one of by and problem")
	}
	return res.By, res.Problem, nil
}
