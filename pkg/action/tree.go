package action

import (
	"cmp"
	"context"
	"slices"

	"github.com/gitsync/gitsync/pkg/object"
)

// Tree is the inventory of a sync grouped by namespace and kind, what
// `tree -o yaml|json` prints.
type Tree struct {
	// Sync and Namespace name the sync.
	Sync      string `json:"sync"`
	Namespace string `json:"namespace"`
	// Revision is the last applied revision.
	Revision string `json:"revision,omitempty"`
	// Objects is the number of objects.
	Objects int `json:"objects"`
	// Namespaces hold the objects, cluster-scoped ones first (under an
	// empty name), then by namespace name.
	Namespaces []TreeNamespace `json:"namespaces"`
	// Units are the sync's units (Kustomizations and HelmReleases its
	// run executes), each with the objects it manages, in the order the
	// last run found them.
	Units []TreeUnit `json:"units,omitempty"`
}

// TreeNamespace is one namespace of a Tree.
type TreeNamespace struct {
	// Name is the namespace; empty for cluster-scoped objects.
	Name string `json:"name"`
	// Kinds hold the objects of the namespace by kind, sorted by Kind.group.
	Kinds []TreeKind `json:"kinds"`
}

// TreeKind is one kind of a TreeNamespace.
type TreeKind struct {
	// Kind is Kind, or Kind.group outside the core group.
	Kind string `json:"kind"`
	// Names are the objects' names, sorted.
	Names []string `json:"names"`
}

// GetTree returns the inventory of the sync as a Tree, with the inventory
// of each of its units. It reads only inventories, not the objects
// themselves.
func GetTree(ctx context.Context, cfg *Config, ref Ref) (*Tree, error) {
	s, err := GetSync(ctx, cfg, ref)
	if err != nil {
		return nil, err
	}
	if s.InventoryErr != nil {
		return nil, s.InventoryErr
	}
	entries := s.Entries()
	ids := make([]object.ID, len(entries))
	for i, e := range entries {
		ids[i] = e.ID
	}
	return &Tree{
		Sync:       ref.Name,
		Namespace:  ref.Namespace,
		Revision:   s.Record().LastAppliedRevision,
		Objects:    len(ids),
		Namespaces: BuildTree(ids),
		Units:      treeUnits(ctx, cfg, s),
	}, nil
}

// BuildTree groups object IDs by namespace, then kind.
func BuildTree(ids []object.ID) []TreeNamespace {
	byNS := map[string]map[string][]string{}
	for _, id := range ids {
		kinds := byNS[id.Namespace]
		if kinds == nil {
			kinds = map[string][]string{}
			byNS[id.Namespace] = kinds
		}
		k := KindName(id.Group, id.Kind)
		kinds[k] = append(kinds[k], id.Name)
	}
	out := make([]TreeNamespace, 0, len(byNS))
	for ns, kinds := range byNS {
		tn := TreeNamespace{Name: ns}
		for k, names := range kinds {
			slices.Sort(names)
			tn.Kinds = append(tn.Kinds, TreeKind{Kind: k, Names: slices.Compact(names)})
		}
		slices.SortFunc(tn.Kinds, func(a, b TreeKind) int { return cmp.Compare(a.Kind, b.Kind) })
		out = append(out, tn)
	}
	// "" (cluster-scoped) sorts first.
	slices.SortFunc(out, func(a, b TreeNamespace) int { return cmp.Compare(a.Name, b.Name) })
	return out
}
