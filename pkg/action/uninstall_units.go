package action

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/gitsync/gitsync/pkg/apply"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/object"
	"github.com/gitsync/gitsync/pkg/syncrun"
)

// unitStores returns the state stores of the sync's units (the Flux
// Kustomizations and HelmReleases its render held): the states its record
// lists, and every inventory ConfigMap labelled as a unit's of the sync
// (inventory.LabelUnitOf), so that a unit the record no longer lists still
// goes.
func unitStores(ctx context.Context, cfg *Config, s *Sync) ([]*inventory.Store, error) {
	states := map[string]bool{}
	for _, u := range s.Record().Units {
		if u.State != "" {
			states[u.State] = true
		}
	}
	selector := labels.SelectorFromSet(map[string]string{inventory.LabelUnitOf: s.Name, inventory.LabelKind: inventory.KindInventory}).String()
	list, err := cfg.Client.CoreV1().ConfigMaps(s.Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("ConfigMaps/%s -l %s: list: %w", s.Namespace, selector, err)
	}
	for _, cm := range list.Items {
		if state, ok := strings.CutPrefix(cm.Name, names.Prefix); ok {
			if state, ok := strings.CutSuffix(state, strings.TrimPrefix(names.Inventory(""), names.Prefix)); ok && state != "" {
				states[state] = true
			}
		}
	}
	var out []*inventory.Store
	for _, state := range slices.Sorted(maps.Keys(states)) {
		out = append(out, &inventory.Store{Client: cfg.Client, Namespace: s.Namespace, Sync: state,
			Labels: map[string]string{inventory.LabelUnitOf: s.Name}})
	}
	return out, nil
}

// unitLabels are the labels a run puts on what the unit of store applies,
// which prune requires: its ApplySet, the sync's labels and the unit's.
func unitLabels(s *Sync, store *inventory.Store) map[string]string {
	return map[string]string{
		inventory.LabelApplySetPartOf: store.ParentID(),
		names.LabelSync:               s.Name,
		names.LabelSyncNamespace:      s.Namespace,
		syncrun.LabelUnit:             store.Sync,
	}
}

// pruneUnits deletes the objects of every unit's inventory, as
// uninstallPrune does the sync's own.
func pruneUnits(ctx context.Context, cfg *Config, s *Sync, units []*inventory.Store, res *UninstallResult) error {
	for _, store := range units {
		inv, err := store.Load(ctx)
		if err != nil {
			return fmt.Errorf("--prune: unit state %s: %w", store.Sync, err)
		}
		if err := pruneEntries(ctx, cfg, inv.Entries, unitLabels(s, store), res); err != nil {
			return err
		}
	}
	return nil
}

// deleteUnitState deletes every unit's inventory and history ConfigMaps,
// the Secret holding the units' Flux objects and the one holding the
// stored renders.
func deleteUnitState(ctx context.Context, cfg *Config, s *Sync, units []*inventory.Store, res *UninstallResult) error {
	for _, store := range units {
		hist, err := store.ListHistory(ctx)
		if err != nil {
			hist = nil // Delete still deletes them; only the list reported is shorter
		}
		if err := store.Delete(ctx); err != nil {
			return err
		}
		res.Deletions = append(res.Deletions, Deletion{ID: object.ID{Kind: "ConfigMap", Namespace: s.Namespace, Name: names.Inventory(store.Sync)}, Action: apply.Deleted})
		for _, h := range hist {
			res.Deletions = append(res.Deletions, Deletion{ID: object.ID{Kind: "ConfigMap", Namespace: s.Namespace, Name: names.History(store.Sync, h.Number)}, Action: apply.Deleted})
		}
	}
	return errors.Join(deleteStateSecret(ctx, cfg, s, names.FluxTree(s.Name), res), deleteStateSecret(ctx, cfg, s, names.Render(s.Name), res))
}

// deleteStateSecret deletes one of the sync's own Secrets (the stored Flux
// tree, the stored render), when it is labelled as the sync's.
func deleteStateSecret(ctx context.Context, cfg *Config, s *Sync, name string, res *UninstallResult) error {
	id := object.ID{Kind: "Secret", Namespace: s.Namespace, Name: name}
	secrets := cfg.Client.CoreV1().Secrets(s.Namespace)
	sec, err := secrets.Get(ctx, id.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("%s: get: %w", id, err)
	case sec.Labels[inventory.LabelSync] != s.Name || sec.Labels[inventory.LabelManagedBy] != inventory.ManagedBy:
		res.Deletions = append(res.Deletions, Deletion{ID: id, Action: apply.Skipped, Reason: "not labelled as this sync's"})
		return nil
	}
	err = secrets.Delete(ctx, id.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &sec.UID}})
	switch {
	case err == nil:
		res.Deletions = append(res.Deletions, Deletion{ID: id, Action: apply.Deleted})
	case !apierrors.IsNotFound(err) && !apierrors.IsConflict(err):
		return fmt.Errorf("%s: delete: %w", id, err)
	}
	return nil
}
