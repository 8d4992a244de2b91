package action

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gitsync/gitsync/pkg/flux"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/lease"
	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/object"
	"github.com/gitsync/gitsync/pkg/syncrun"
)

// A sync whose render holds Flux objects runs each Kustomization and
// HelmRelease as a unit (docs/architecture.md "Units"). The sync's record
// lists its units (inventory.UnitRecord); each unit keeps its inventory and
// history in ConfigMaps of its own state name. What status, tree, trace,
// history, build and diff read of units is here.

// LeaseStatus is a sync's Lease as status shows it: present while a run
// holds it (or after a run died without releasing it, until it expires).
type LeaseStatus struct {
	// Holder is the holder identity the Lease names (the run's Pod, or
	// the user and host of `kubectl gitsync run`).
	Holder string `json:"holder,omitempty"`
	// Acquired is when the holder took the Lease.
	Acquired time.Time `json:"acquired,omitzero"`
	// Renewed is when the holder last renewed it.
	Renewed time.Time `json:"renewed,omitzero"`
	// Expires is when another run may take it over unless it is renewed.
	Expires time.Time `json:"expires,omitzero"`
	// Held tells whether the Lease keeps other runs out now: false once
	// it has expired (its holder died without releasing it).
	Held bool `json:"held"`
}

// readLease returns the sync's Lease at now, nil when there is none.
func readLease(ctx context.Context, cfg *Config, ref Ref, now time.Time) (*LeaseStatus, error) {
	info, err := lease.Read(ctx, cfg.Client, ref.Namespace, names.Lease(ref.Name))
	if err != nil || info == nil {
		return nil, err
	}
	return &LeaseStatus{Holder: info.Holder, Acquired: info.Acquired.UTC(), Renewed: info.Renewed.UTC(),
		Expires: info.Expires.UTC(), Held: info.Held(now)}, nil
}

// UnitName returns a unit's Kind/namespace/name, the form every message
// and the --unit flag use.
func UnitName(u inventory.UnitRecord) string { return u.Kind + "/" + u.Namespace + "/" + u.Name }

// unitStore returns the inventory store of the unit whose state name is
// state, a unit of sync s.
func unitStore(cfg *Config, s *Sync, state string) *inventory.Store {
	return &inventory.Store{Client: cfg.Client, Namespace: s.Namespace, Sync: state,
		Labels: map[string]string{inventory.LabelUnitOf: s.Name}}
}

// unitKinds are the kinds --unit accepts: the kinds a run executes as units.
var unitKinds = []string{flux.KindKustomization, flux.KindHelmRelease, flux.KindResourceSet}

// ParseUnit parses a --unit value, Kind/namespace/name, where Kind is
// Kustomization, HelmRelease or ResourceSet (case-insensitive, or ks, hr
// and rset as the flux and flux-operator CLIs abbreviate them).
func ParseUnit(s string) (flux.ID, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return flux.ID{}, fmt.Errorf("%q: want Kind/namespace/name, for example Kustomization/flux-system/apps or HelmRelease/apps/podinfo", s)
	}
	kind := ""
	switch strings.ToLower(parts[0]) {
	case "kustomization", "ks":
		kind = flux.KindKustomization
	case "helmrelease", "hr":
		kind = flux.KindHelmRelease
	case "resourceset", "rset":
		kind = flux.KindResourceSet
	default:
		return flux.ID{}, fmt.Errorf("%q: kind %s is not run as a unit: only %s are", s, parts[0], strings.Join(unitKinds, ", "))
	}
	return flux.ID{Kind: kind, Namespace: parts[1], Name: parts[2]}, nil
}

// findUnit returns the record of unit id of sync s. A unit the last run
// did not list is an error listing the units it did list.
func findUnit(s *Sync, id flux.ID) (inventory.UnitRecord, error) {
	units := s.Record().Units
	for _, u := range units {
		if u.Kind == id.Kind && u.Namespace == id.Namespace && u.Name == id.Name {
			return u, nil
		}
	}
	return inventory.UnitRecord{}, unknownUnitError(s, id)
}

// unknownUnitError says that sync s has no unit id, and which units it has.
func unknownUnitError(s *Sync, id flux.ID) error {
	units := s.Record().Units
	if len(units) == 0 {
		return fmt.Errorf("sync %s: unit %s: the sync's last run listed no units (it has not run yet, or its render holds no Kustomization, HelmRelease or ResourceSet)", s.Ref, id)
	}
	known := make([]string, 0, len(units))
	for _, u := range units {
		if slices.Contains(unitKinds, u.Kind) {
			known = append(known, UnitName(u))
		}
	}
	slices.Sort(known)
	return fmt.Errorf("sync %s: unit %s: no such unit; the sync's units are: %s", s.Ref, id, strings.Join(slices.Compact(known), ", "))
}

// TreeUnit is one unit of a Tree: a Kustomization or HelmRelease the
// sync's run executes, with the objects its own inventory lists.
type TreeUnit struct {
	// Unit is Kind/namespace/name.
	Unit string `json:"unit"`
	// Parent is the unit whose render held this one, as
	// Kind/namespace/name; empty for the sync's own render.
	Parent string `json:"parent,omitempty"`
	// State is the unit's state name (its ConfigMaps are
	// gitsync-STATE-inventory and gitsync-STATE-rev-N).
	State string `json:"state,omitempty"`
	// Result is the result of the unit's last run.
	Result inventory.Result `json:"result,omitempty"`
	// Revision is the unit's last applied revision.
	Revision string `json:"revision,omitempty"`
	// Objects is the number of objects in the unit's inventory.
	Objects int `json:"objects"`
	// Namespaces hold the unit's objects as Tree.Namespaces does.
	Namespaces []TreeNamespace `json:"namespaces"`
	// Problem says why the unit's objects could not be read.
	Problem string `json:"problem,omitempty"`
}

// treeUnits reads the inventory of every unit of sync s.
func treeUnits(ctx context.Context, cfg *Config, s *Sync) []TreeUnit {
	units := s.Record().Units
	out := make([]TreeUnit, 0, len(units))
	for _, u := range units {
		tu := TreeUnit{Unit: UnitName(u), Parent: u.Parent, State: u.State, Result: u.Result, Revision: u.Revision,
			Namespaces: []TreeNamespace{}}
		if u.State == "" {
			tu.Problem = "it could not be read as a unit: " + u.Message
			out = append(out, tu)
			continue
		}
		inv, err := unitStore(cfg, s, u.State).Load(ctx)
		if err != nil {
			tu.Problem = err.Error()
			out = append(out, tu)
			continue
		}
		if inv.Record.LastAppliedRevision != "" {
			tu.Revision = inv.Record.LastAppliedRevision
		}
		ids := make([]object.ID, len(inv.Entries))
		for i, e := range inv.Entries {
			ids[i] = e.ID
		}
		tu.Objects, tu.Namespaces = len(ids), BuildTree(ids)
		out = append(out, tu)
	}
	return out
}

// traceUnit fills in the unit whose state name is state (the object's
// gitsync.io/unit label) and checks the object against that unit's
// ApplySet and inventory instead of the sync's.
func traceUnit(ctx context.Context, cfg *Config, s *Sync, state string, id object.ID, res *TraceResult) {
	res.UnitState = state
	for _, u := range s.Record().Units {
		if u.State == state {
			res.Unit = UnitName(u)
			res.UnitRevision, res.UnitResult, res.UnitMessage = u.Revision, u.Result, u.Message
			break
		}
	}
	if res.Unit == "" {
		res.Problems = append(res.Problems, fmt.Sprintf("its %s label names unit state %s, which the sync's last run did not list (the unit left Git?)", syncrun.LabelUnit, state))
	}
	store := unitStore(cfg, s, state)
	if want := store.ParentID(); res.ApplySet != want {
		if res.ApplySet == "" {
			res.Problems = append(res.Problems, fmt.Sprintf("it has no %s label: prune will not delete it", inventory.LabelApplySetPartOf))
		} else {
			res.Problems = append(res.Problems, fmt.Sprintf("its %s label is %s, not the unit's %s", inventory.LabelApplySetPartOf, res.ApplySet, want))
		}
	}
	inv, err := store.Load(ctx)
	if err != nil {
		res.Problems = append(res.Problems, "unit inventory: "+err.Error())
		return
	}
	for _, e := range inv.Entries {
		if e.ID == id {
			res.InInventory = true
			return
		}
	}
	res.Problems = append(res.Problems, "the unit's inventory does not list it: the unit no longer manages it and prune will not delete it")
}

// UnitNames returns the units of the sync ref names, as the sync's last
// run listed them (Kind/namespace/name), sorted.
func UnitNames(ctx context.Context, cfg *Config, ref Ref) ([]string, error) {
	s, err := GetSync(ctx, cfg, ref)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, u := range s.Record().Units {
		if slices.Contains(unitKinds, u.Kind) {
			out = append(out, UnitName(u))
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
