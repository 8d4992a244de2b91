package syncrun

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gitsync/gitsync/pkg/flux"
	"github.com/gitsync/gitsync/pkg/install"
)

// errRunDeadline is the cause of the units' context ending at the run's
// deadline (unitsContext).
var errRunDeadline = errors.New("the run's deadline passed")

// unitsContext bounds the units of the tree by the run's deadline: the
// Job's activeDeadlineSeconds (install.ActiveDeadline: spec.timeout plus
// the source's fetch budget plus a margin, or spec.runTimeout), counted
// from the run's start, less install.DeadlineMargin, which leaves the run
// the time to notify, record and release its Lease before the Job
// controller stops it. The Job's deadline is computed from the spec alone
// and cannot count the units the tree names, so a slow unit could
// otherwise be stopped with the Job and no word of what was slow; at the
// deadline the units still running fail and those not started are
// skipped, with errRunDeadline as the cause (deadlineNote).
func (r *runner) unitsContext(ctx context.Context, start time.Time) (context.Context, context.CancelFunc) {
	deadline := start.Add(install.ActiveDeadline(r.sync) - install.DeadlineMargin)
	return context.WithDeadlineCause(ctx, deadline, errRunDeadline)
}

// deadlineNote is what the run's message adds when its units' context
// ended at the run's deadline: how long the units may take (budget) and
// how to give them that; "" otherwise.
func (r *runner) deadlineNote(uctx context.Context, budget time.Duration) string {
	if !errors.Is(context.Cause(uctx), errRunDeadline) {
		return ""
	}
	return fmt.Sprintf("%v: the Job's activeDeadlineSeconds is %s and the units of the tree may take up to %s when they run into their timeouts; "+
		"raise spec.runTimeout (kubectl gitsync install %s --run-timeout DURATION)",
		errRunDeadline, install.ActiveDeadline(r.sync), budget.Round(time.Second), r.opts.Name)
}

// runBudget returns how long a run may take when everything runs into its
// timeout: the sync's own part, as the Job's deadline counts it
// (install.ActiveDeadline without spec.runTimeout), plus the schedule of
// the units in g (flux.Budget, each unit its pass and its prune), plus the
// notifications and the final record. It is recorded
// (inventory.Record.RunBudget), and named when the run's deadline stopped
// units. 0 when g holds no unit.
func (r *runner) runBudget(g *flux.Graph) time.Duration {
	if len(g.Units()) == 0 {
		return 0
	}
	own := *r.sync // its own part: what the spec alone bounds
	own.Spec.RunTimeout = nil
	units := flux.Budget(g, r.sync.Spec.Flux.UnitConcurrency(), func(u flux.Unit) time.Duration {
		return 2 * r.fluxUnitTimeout(u)
	})
	return install.ActiveDeadline(&own) + units + maxNotifyBudget + finishBudget
}

// fluxUnitTimeout is how long one pass of unit u may take: the timeout its
// unit runs under (a Kustomization's spec.timeout, a HelmRelease's install
// or upgrade timeout and its tests' timeout), else the sync's own.
func (r *runner) fluxUnitTimeout(u flux.Unit) time.Duration {
	switch u := u.(type) {
	case *flux.Kustomization:
		return u.Timeout
	case *flux.HelmRelease:
		d := max(u.Install.Timeout, u.Upgrade.Timeout)
		if u.Test.Enable {
			d += u.Test.Timeout
		}
		return d
	}
	return r.sync.Spec.Timeout.Duration
}
