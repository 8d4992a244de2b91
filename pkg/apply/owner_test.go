package apply

import (
	"errors"
	"testing"
)

// TestApplyOwnerParts: with Options.Owner, an object labelled by another
// part of the same owner (another unit of the same sync) is taken over
// without Adopt and relabelled; one of another owner is still refused.
func TestApplyOwnerParts(t *testing.T) {
	ns := env.NewNamespace(t)
	e, _ := newEngine(t, nil)
	partA := map[string]string{"applyset.kubernetes.io/part-of": "applyset-a", "gitsync.io/sync-name": "s", "gitsync.io/unit": "a"}
	partB := map[string]string{"applyset.kubernetes.io/part-of": "applyset-b", "gitsync.io/sync-name": "s", "gitsync.io/unit": "b"}
	other := map[string]string{"applyset.kubernetes.io/part-of": "applyset-o", "gitsync.io/sync-name": "o"}
	owner := map[string]string{"gitsync.io/sync-name": "s"}
	mustApply(t, e, objs(t, ns, configMaps(ns, 1, "a")), Options{Labels: partA, Owner: owner})
	mustApply(t, e, objs(t, ns, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: theirs\n"), Options{Labels: other})

	in := objs(t, ns, configMaps(ns, 1, "b")+"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: theirs\n")
	cs, err := e.Apply(t.Context(), in, Options{Labels: partB, Owner: owner})
	if err != nil {
		t.Fatal(err)
	}
	if c := cs.Changes[0]; c.Action != Configured || c.Adopted != nil {
		t.Errorf("moved object: %s, adopted %+v; want Configured and not an adoption", c.Action, c.Adopted)
	}
	var oc *OwnerConflictError
	if c := cs.Changes[1]; c.Action != Failed || !errors.As(c.Err, &oc) {
		t.Errorf("another owner's object: %s %v; want an OwnerConflictError", c.Action, c.Err)
	}
	if l := getCM(t, ns, "cm-00").GetLabels(); l["gitsync.io/unit"] != "b" || l["applyset.kubernetes.io/part-of"] != "applyset-b" {
		t.Errorf("moved object labels %v, want part b's", l)
	}
	// Without Owner the same move is a conflict, as before.
	cs, err = e.Apply(t.Context(), objs(t, ns, configMaps(ns, 1, "a")), Options{Labels: partA})
	if err != nil {
		t.Fatal(err)
	}
	if c := cs.Changes[0]; c.Action != Failed || !errors.As(c.Err, &oc) {
		t.Errorf("without Owner: %s %v; want an OwnerConflictError", c.Action, c.Err)
	}
}
