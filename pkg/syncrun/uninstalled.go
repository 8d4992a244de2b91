package syncrun

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/gitsync/gitsync/pkg/lease"
	"github.com/gitsync/gitsync/pkg/spec"
)

// errUninstalled is the run's error when its sync was uninstalled while it
// ran: its spec ConfigMap is gone.
var errUninstalled = errors.New("the sync was uninstalled during the run (its spec ConfigMap is gone); nothing recorded")

// uninstalled tells whether the sync's spec ConfigMap is gone: `kubectl
// gitsync uninstall` removed the sync while this run was starting or
// working. Such a run must write nothing more — no Lease taken back, no
// inventory, history or Event — or it would re-create state of a sync that
// no longer exists. An error reading the spec counts as not uninstalled:
// the writes that follow have their own preconditions.
func (r *runner) uninstalled(ctx context.Context) bool {
	_, err := spec.GetConfigMap(ctx, r.client, r.opts.Namespace, r.opts.Name)
	if apierrors.IsNotFound(err) {
		r.log.Warn(errUninstalled.Error())
		return true
	}
	return false
}

// confirmLease is the guard before record, with one request more: the
// Lease is renewed first, so that a Lease taken over since the last renewal
// (uninstall seizes it, lease.Seize) is noticed before the run writes its
// record, not only at the next renewal. A renewal that fails for another
// reason leaves the decision to the local check.
func (r *runner) confirmLease(ctx context.Context) error {
	if err := r.lease.Renew(ctx); err != nil && !errors.Is(err, lease.ErrLost) {
		r.log.Warn("renewing the lease before record failed", "error", err)
	}
	return r.guard(ctx, "record")
}

// markUninstalled makes res say that the sync was uninstalled.
func markUninstalled(res *Result) {
	res.Outcome, res.Err = Failed, fmt.Errorf("record: %w", errUninstalled)
	res.Message = res.Err.Error()
}
