package inventory

import (
	"slices"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gitsync/gitsync/pkg/object"
)

// Entry is one object gitsync applied: enough to GET, LIST or DELETE it in
// the next run without API discovery, even when its kind has since left the
// rendered set.
type Entry struct {
	object.ID
	// Version is the API version the object was applied with (v1, v1beta1).
	Version string `json:"version"`
	// Resource is the plural resource name (deployments).
	Resource string `json:"resource"`
	// Namespaced tells whether the resource is namespaced; a namespaced
	// entry always has a Namespace.
	Namespaced bool `json:"namespaced,omitempty"`
	// Fingerprint is an opaque string from the apply engine describing what
	// was applied. It is stored verbatim and, being random, does not
	// compress: it is most of an inventory's size. With 16 hex digits, as
	// pkg/apply writes, 50,000 entries take about 720 KB of the ConfigMap's
	// 1 MiB; full sha256 digests would not fit 40,000 (Save then fails with
	// ErrTooLarge).
	Fingerprint string `json:"fingerprint,omitempty"`
}

// GroupVersionResource returns the entry's resource with its version, as the
// dynamic client wants it.
func (e Entry) GroupVersionResource() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: e.Group, Version: e.Version, Resource: e.Resource}
}

// GroupVersionKind returns the entry's kind with its version.
func (e Entry) GroupVersionKind() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: e.Group, Version: e.Version, Kind: e.Kind}
}

// Sort sorts entries in place by object.Less of their IDs.
func Sort(entries []Entry) {
	slices.SortFunc(entries, compare)
}

func compare(a, b Entry) int {
	switch {
	case object.Less(a.ID, b.ID):
		return -1
	case object.Less(b.ID, a.ID):
		return 1
	}
	return 0
}

// Union returns one entry per object in older or newer, sorted. Where both
// hold the same object (same object.ID), newer's entry wins: its version
// and fingerprint describe what is being applied now. Written before apply,
// the union guarantees that an interrupted run leaves no object untracked.
func Union(older, newer []Entry) []Entry {
	byID := make(map[object.ID]Entry, len(older)+len(newer))
	for _, e := range older {
		byID[e.ID] = e
	}
	for _, e := range newer {
		byID[e.ID] = e
	}
	out := make([]Entry, 0, len(byID))
	for _, e := range byID {
		out = append(out, e)
	}
	Sort(out)
	return out
}

// Diff returns the entries of previous whose object is not in current,
// sorted: the objects the last inventory tracked that the current render no
// longer contains, which are what prune may delete.
func Diff(previous, current []Entry) []Entry {
	in := make(map[object.ID]bool, len(current))
	for _, e := range current {
		in[e.ID] = true
	}
	var out []Entry
	seen := map[object.ID]bool{}
	for _, e := range previous {
		if !in[e.ID] && !seen[e.ID] {
			seen[e.ID] = true
			out = append(out, e)
		}
	}
	Sort(out)
	return out
}

// Narrow returns the inventory to keep after prune: current plus the stale
// entries whose objects were not deleted. Stale objects that prune skipped
// or failed to delete stay tracked so that a later run retries them; they
// are never forgotten silently.
func Narrow(current, stale []Entry, deleted []object.ID) []Entry {
	gone := make(map[object.ID]bool, len(deleted))
	for _, id := range deleted {
		gone[id] = true
	}
	var kept []Entry
	for _, e := range stale {
		if !gone[e.ID] {
			kept = append(kept, e)
		}
	}
	return Union(kept, current)
}
