package syncrun

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/gitsync/gitsync/pkg/spec"
)

// errUninstalled is the run's error when its sync was uninstalled while it
// ran: its spec ConfigMap is gone.
var errUninstalled = errors.New("the sync was uninstalled during the run (its spec ConfigMap is gone); nothing recorded")

// uninstalled tells whether the sync's spec ConfigMap is gone: `kubectl
// gitsync uninstall` removed the sync while this run worked (it seizes the
// Lease first, so the run finds its Lease lost, and asks this before taking
// it back). Such a run must write nothing more — no Lease taken back, no
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

// markUninstalled makes res say that the sync was uninstalled.
func markUninstalled(res *Result) {
	res.Outcome, res.Err = Failed, fmt.Errorf("record: %w", errUninstalled)
	res.Message = res.Err.Error()
}
