package action

import (
	"context"
	"fmt"

	"github.com/gitsync/gitsync/pkg/flux"
	"github.com/gitsync/gitsync/pkg/inventory"
)

// HistoryList is a sync's history, what `history -o yaml|json` prints.
type HistoryList struct {
	// Sync and Namespace name the sync.
	Sync      string `json:"sync"`
	Namespace string `json:"namespace"`
	// Unit is the unit whose history this is, as Kind/namespace/name;
	// empty for the sync's own.
	Unit string `json:"unit,omitempty"`
	// Items are the history entries, newest first.
	Items []inventory.History `json:"items"`
}

// History returns the runs the sync recorded in its history ConfigMaps,
// newest first; Items is empty, not nil, before the first run. A sync that
// does not exist is an error matching ErrSyncNotFound.
func History(ctx context.Context, cfg *Config, ref Ref) (*HistoryList, error) {
	s, err := GetSync(ctx, cfg, ref)
	if err != nil {
		return nil, err
	}
	hist, err := s.Store(cfg.Client).ListHistory(ctx)
	if err != nil {
		return nil, err
	}
	if hist == nil {
		hist = []inventory.History{}
	}
	return &HistoryList{Sync: ref.Name, Namespace: ref.Namespace, Items: hist}, nil
}

// UnitHistory returns the runs unit recorded in its own history ConfigMaps
// (gitsync-STATE-rev-N), newest first. A unit the sync's last run did not
// list is an error naming the units it did.
func UnitHistory(ctx context.Context, cfg *Config, ref Ref, unit flux.ID) (*HistoryList, error) {
	s, err := GetSync(ctx, cfg, ref)
	if err != nil {
		return nil, err
	}
	u, err := findUnit(s, unit)
	if err != nil {
		return nil, err
	}
	if u.State == "" {
		return nil, fmt.Errorf("sync %s: unit %s: it could not be read as a unit, so it has no history: %s", ref, unit, u.Message)
	}
	hist, err := unitStore(cfg, s, u.State).ListHistory(ctx)
	if err != nil {
		return nil, err
	}
	if hist == nil {
		hist = []inventory.History{}
	}
	return &HistoryList{Sync: ref.Name, Namespace: ref.Namespace, Unit: unit.String(), Items: hist}, nil
}
