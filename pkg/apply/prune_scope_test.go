package apply

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestPruneInScope: a stale object outside PruneOptions.InScope (a sync
// whose scope was narrowed) is neither read nor deleted, but reported
// Skipped with ErrOutOfScope; objects in scope are pruned as usual.
func TestPruneInScope(t *testing.T) {
	a, b := env.NewNamespace(t), env.NewNamespace(t)
	e, count := newEngine(t, nil)
	labels := testLabels(a)
	applied := mustApply(t, e, append(objs(t, a, configMaps(a, 1, "x")), objs(t, b, configMaps(b, 1, "x"))...), Options{Labels: labels})
	count.reset()
	cs, err := e.Prune(t.Context(), applied.Targets(), PruneOptions{
		Selector: labels,
		InScope:  func(t Target) bool { return t.Namespaced && t.Namespace == a },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.Err(); err != nil {
		t.Fatalf("Err() = %v, want nil: an orphaned object is no failure", err)
	}
	want := map[string]Action{cmID(a, "cm-00").String(): Deleted, cmID(b, "cm-00").String(): Skipped}
	if diff := cmp.Diff(want, actions(cs)); diff != "" {
		t.Fatalf("prune (-want +got):\n%s", diff)
	}
	for _, c := range cs.Changes {
		if c.Namespace == b && !errors.Is(c.Err, ErrOutOfScope) {
			t.Errorf("%s: err %v, want ErrOutOfScope", c.ID, c.Err)
		}
	}
	for _, req := range count.requests() {
		if strings.Contains(req, "/namespaces/"+b+"/") {
			t.Errorf("request outside the scope: %s", req)
		}
	}
	if !cmExists(t, b, "cm-00") || cmExists(t, a, "cm-00") {
		t.Errorf("cm-0 exists in %s: %t (want true), in %s: %t (want false)", b, cmExists(t, b, "cm-00"), a, cmExists(t, a, "cm-00"))
	}
}
