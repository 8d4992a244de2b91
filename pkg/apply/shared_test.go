package apply

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/object"
)

// TestSharedLists: the drift checks of three units whose objects share the
// sync's labels make one LIST per resource between them, each finds only
// its own drift, and a check through another engine lists on its own.
func TestSharedLists(t *testing.T) {
	ns := env.NewNamespace(t)
	e, requests := newEngine(t, nil)
	common := map[string]string{"gitsync.io/sync-name": "shared-" + ns}
	unitLabels := func(unit string) map[string]string {
		return map[string]string{"gitsync.io/sync-name": "shared-" + ns, "applyset.kubernetes.io/part-of": "applyset-" + ns + "-" + unit}
	}
	recorded := map[string][]Target{}
	for _, unit := range []string{"a", "b", "c"} {
		var docs strings.Builder
		for i := range 4 {
			fmt.Fprintf(&docs, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s-%d\ndata:\n  k: v\n---\n", unit, i)
			fmt.Fprintf(&docs, "apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s-%d\nstringData:\n  k: v\n---\n", unit, i)
		}
		recorded[unit] = mustApply(t, e, objs(t, ns, docs.String()), Options{Labels: unitLabels(unit)}).Targets()
	}
	// Drift in b only: one ConfigMap deleted.
	if err := env.Client().CoreV1().ConfigMaps(ns).Delete(t.Context(), "b-2", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	cacheCaughtUp(t, recorded["b"])
	requests.reset()
	shared := NewSharedLists(e, common)
	got := map[string][]object.ID{}
	for _, unit := range []string{"a", "b", "c"} {
		drifted, err := e.Drift(t.Context(), recorded[unit], DriftOptions{Selector: unitLabels(unit), Shared: shared})
		if err != nil {
			t.Fatal(err)
		}
		got[unit] = drifted
	}
	want := map[string][]object.ID{"a": nil, "b": {cmID(ns, "b-2")}, "c": nil}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("drift per unit (-want +got):\n%s", diff)
	}
	lists := 0
	for _, r := range requests.requests() {
		path, _, _ := strings.Cut(r, "?")
		if strings.HasSuffix(path, "/configmaps") || strings.HasSuffix(path, "/secrets") {
			lists++
		}
	}
	// 2 shared LISTs, and the GET that reads b-2 again.
	if n := len(requests.requests()); lists != 2 || n != 3 {
		t.Errorf("3 units' checks sent %v; want one LIST per resource and one GET", requests.requests())
	}

	// Another engine does not take the shared answers.
	other, otherRequests := newEngine(t, nil)
	if _, err := other.Drift(t.Context(), recorded["a"], DriftOptions{Selector: unitLabels("a"), Shared: shared}); err != nil {
		t.Fatal(err)
	}
	if n := len(otherRequests.requests()); n != 2 {
		t.Errorf("another engine's check sent %v; want its own 2 LISTs", otherRequests.requests())
	}
}
