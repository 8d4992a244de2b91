package action

import (
	"context"
	"fmt"
	"strings"

	"github.com/gitsync/gitsync/pkg/format"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/source"
)

// RollbackOptions say which sync PlanRollback plans for, and where to.
type RollbackOptions struct {
	// Ref names the sync.
	Ref
	// ToRevision is the history number to roll back to. Default 0: the
	// newest succeeded revision other than the one applied now.
	ToRevision int
}

// RollbackPlan is the revision a rollback goes to.
type RollbackPlan struct {
	// Target is the history entry rolled back to.
	Target inventory.History
	// Current is the revision applied now.
	Current string
	// SameAsCurrent tells that the target is the commit applied now: the
	// rollback then keeps the sync where it is.
	SameAsCurrent bool
}

// PlanRollback picks the history entry a rollback of the sync goes to. The
// caller then pins the sync to it (Pin) and starts a run (StartRun, or
// RunLocal with the revision).
func PlanRollback(ctx context.Context, cfg *Config, opts RollbackOptions) (*RollbackPlan, error) {
	store := &inventory.Store{Client: cfg.Client, Namespace: opts.Namespace, Sync: opts.Name}
	inv, err := store.Load(ctx)
	if err != nil {
		return nil, err
	}
	hist, err := store.ListHistory(ctx)
	if err != nil {
		return nil, err
	}
	current := inv.Record.LastAppliedRevision
	target, err := pickRollback(hist, current, opts.ToRevision)
	if err != nil {
		return nil, fmt.Errorf("sync %s: %w", opts.Ref, err)
	}
	return &RollbackPlan{Target: target, Current: current, SameAsCurrent: SameCommit(target.Revision, current)}, nil
}

// pickRollback returns the history entry to roll back to: number to, or
// with to == 0 the newest succeeded entry whose revision is not current.
// hist is newest first.
func pickRollback(hist []inventory.History, current string, to int) (inventory.History, error) {
	if to > 0 {
		for _, h := range hist {
			if h.Number != to {
				continue
			}
			switch {
			case h.Result == inventory.ResultFailed:
				return h, fmt.Errorf("--to-revision: history %d is a run that failed (%s); roll back to one that succeeded", to, format.OneLine(h.Message, 120))
			case h.Result != inventory.ResultSucceeded:
				return h, fmt.Errorf("--to-revision: history %d does not record a success (result %q)", to, h.Result)
			case h.Revision == "":
				return h, fmt.Errorf("--to-revision: history %d records no revision", to)
			}
			return h, nil
		}
		numbers := make([]string, 0, len(hist))
		for _, h := range hist {
			numbers = append(numbers, fmt.Sprint(h.Number))
		}
		if len(numbers) == 0 {
			return inventory.History{}, fmt.Errorf("--to-revision: no history %d: the sync has no history yet", to)
		}
		return inventory.History{}, fmt.Errorf("--to-revision: no history %d; the sync keeps %s", to, strings.Join(numbers, ", "))
	}
	for _, h := range hist {
		if h.Result == inventory.ResultSucceeded && h.Revision != "" && !SameCommit(h.Revision, current) {
			return h, nil
		}
	}
	return inventory.History{}, fmt.Errorf("no succeeded revision other than the current one (%s) in the history to roll back to", format.OrDash(current))
}

// SameCommit tells whether two recorded revisions name the same commit:
// "main@sha1:X" (a run following the branch) and "sha1:X" (a run pinned to
// X) do.
func SameCommit(a, b string) bool {
	return source.Revision(a).Same(source.Revision(b))
}
