package inventory

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gitsync/gitsync/pkg/object"
)

func entry(kind, ns, name, fp string) Entry {
	return Entry{ID: object.ID{Kind: kind, Namespace: ns, Name: name}, Version: "v1", Resource: "x", Namespaced: ns != "", Fingerprint: fp}
}

func TestUnion(t *testing.T) {
	tests := []struct {
		name         string
		older, newer []Entry
		want         []Entry
	}{
		{name: "both empty"},
		{
			name:  "disjoint",
			older: []Entry{entry("ConfigMap", "a", "old", "1")},
			newer: []Entry{entry("ConfigMap", "a", "new", "2")},
			want:  []Entry{entry("ConfigMap", "a", "new", "2"), entry("ConfigMap", "a", "old", "1")},
		},
		{
			name:  "newer wins for the same object",
			older: []Entry{entry("Service", "a", "s", "old"), entry("ConfigMap", "a", "c", "1")},
			newer: []Entry{entry("Service", "a", "s", "new")},
			want:  []Entry{entry("ConfigMap", "a", "c", "1"), entry("Service", "a", "s", "new")},
		},
		{
			name:  "same name in another namespace is another object",
			older: []Entry{entry("Service", "a", "s", "1")},
			newer: []Entry{entry("Service", "b", "s", "2")},
			want:  []Entry{entry("Service", "a", "s", "1"), entry("Service", "b", "s", "2")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Union(tt.older, tt.newer)
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Union (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDiffAndNarrow(t *testing.T) {
	previous := []Entry{
		entry("ConfigMap", "a", "kept", "1"),
		entry("ConfigMap", "a", "gone", "1"),
		entry("Secret", "a", "skipped", "1"),
		entry("Namespace", "", "old-ns", "1"),
	}
	current := []Entry{
		entry("ConfigMap", "a", "kept", "2"),
		entry("ConfigMap", "a", "added", "2"),
	}
	stale := Diff(previous, current)
	wantStale := []Entry{
		entry("ConfigMap", "a", "gone", "1"),
		entry("Namespace", "", "old-ns", "1"),
		entry("Secret", "a", "skipped", "1"),
	}
	if diff := cmp.Diff(wantStale, stale); diff != "" {
		t.Errorf("Diff (-want +got):\n%s", diff)
	}
	if got := Diff(current, current); len(got) != 0 {
		t.Errorf("Diff(x, x) = %v, want nothing", got)
	}

	// Prune deleted two of the three; the skipped Secret stays tracked.
	deleted := []object.ID{stale[0].ID, stale[1].ID}
	got := Narrow(current, stale, deleted)
	want := []Entry{
		entry("ConfigMap", "a", "added", "2"),
		entry("ConfigMap", "a", "kept", "2"),
		entry("Secret", "a", "skipped", "1"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Narrow (-want +got):\n%s", diff)
	}
}

func TestEntryGroupVersion(t *testing.T) {
	e := Entry{ID: object.ID{Group: "apps", Kind: "Deployment", Namespace: "a", Name: "b"}, Version: "v1", Resource: "deployments", Namespaced: true}
	if got, want := e.GroupVersionResource().String(), "apps/v1, Resource=deployments"; got != want {
		t.Errorf("GroupVersionResource = %q, want %q", got, want)
	}
	if got, want := e.GroupVersionKind().String(), "apps/v1, Kind=Deployment"; got != want {
		t.Errorf("GroupVersionKind = %q, want %q", got, want)
	}
}
