package action

import (
	"context"

	"github.com/gitsync/gitsync/pkg/inventory"
)

// HistoryList is a sync's history, what `history -o yaml|json` prints.
type HistoryList struct {
	// Sync and Namespace name the sync.
	Sync      string `json:"sync"`
	Namespace string `json:"namespace"`
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
