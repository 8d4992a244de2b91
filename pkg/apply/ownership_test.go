package apply

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestApplyOwnership: an object another owner labelled (a key of
// Options.Labels with another value) is refused, unless Options.Adopt or
// the object's gitsync.io/adopt annotation asks for it; an object nobody
// labelled is adopted and the Change says who wrote it. A dry run applies
// the same rule.
func TestApplyOwnership(t *testing.T) {
	ns := env.NewNamespace(t)
	e, _ := newEngine(t, nil)
	theirs := map[string]string{"applyset.kubernetes.io/part-of": "applyset-other", "gitsync.io/sync-name": "other"}
	mustApply(t, e, objs(t, ns, configMaps(ns, 3, "theirs")), Options{Labels: theirs})
	if err := env.ApplyYAML(t.Context(), ns, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: by-hand\ndata: {key: hand}\n"); err != nil {
		t.Fatal(err)
	}
	ours := testLabels(ns)
	in := objs(t, ns, configMaps(ns, 3, "ours")+"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: by-hand\ndata: {key: ours}\n")
	in[1].SetAnnotations(map[string]string{AnnotationAdopt: "enabled"})

	for _, dry := range []bool{true, false} {
		cs, err := e.Apply(t.Context(), in, Options{Labels: ours, DryRun: dry})
		if err != nil {
			t.Fatal(err)
		}
		got := actions(cs)
		want := map[string]Action{
			"ConfigMap/" + ns + "/cm-00":   Failed,
			"ConfigMap/" + ns + "/cm-01":   Configured,
			"ConfigMap/" + ns + "/cm-02":   Failed,
			"ConfigMap/" + ns + "/by-hand": Configured,
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("dry run %v: actions (-want +got):\n%s", dry, diff)
		}
		var oc *OwnerConflictError
		if c := cs.Changes[0]; !errors.As(c.Err, &oc) || oc.Theirs["gitsync.io/sync-name"] != "other" ||
			!strings.HasPrefix(c.Err.Error(), "ConfigMap/"+ns+"/cm-00: belongs to another owner") {
			t.Errorf("dry run %v: error %v, want an OwnerConflictError naming the other owner", dry, c.Err)
		}
		if a := cs.Changes[1].Adopted; a == nil || a.Labels["gitsync.io/sync-name"] != "other" {
			t.Errorf("dry run %v: cm-01 adopted from %+v, want the other owner's labels", dry, a)
		}
		if a := cs.Changes[3].Adopted; a == nil || len(a.Labels) != 0 || !cmp.Equal(a.Managers, []string{"test"}) {
			t.Errorf("dry run %v: by-hand adopted from %+v, want manager test and no owner", dry, a)
		}
	}
	if got := getCM(t, ns, "cm-00").GetLabels()["gitsync.io/sync-name"]; got != "other" {
		t.Errorf("a refused object changed hands: label %q", got)
	}
	if v, _, _ := unstructured.NestedString(getCM(t, ns, "cm-00").Object, "data", "key"); v != "theirs" {
		t.Errorf("a refused object was changed: %q", v)
	}
	if got := getCM(t, ns, "cm-01").GetLabels()["gitsync.io/sync-name"]; got != "test" {
		t.Errorf("the adopted object still has label %q", got)
	}

	// With Options.Adopt everything is taken.
	cs := mustApply(t, e, in, Options{Labels: ours, Adopt: true})
	if a := cs.Changes[2].Adopted; a == nil || a.Labels["gitsync.io/sync-name"] != "other" {
		t.Errorf("cm-02 with Adopt: %+v", a)
	}
	// Now all are ours: nothing is adopted any more.
	for _, c := range mustApply(t, e, in, Options{Labels: ours}).Changes {
		if c.Adopted != nil {
			t.Errorf("%s: adopted again from %+v", c.ID, c.Adopted)
		}
	}
}

// TestOwnershipCheckCost measures what the ownership check costs: for
// objects not already listed with our labels (new or someone else's), one
// metadata LIST without a selector per resource and namespace where there
// are surveyThreshold of them or more, else one metadata GET each; and
// nothing on the common path, where every object is already ours.
func TestOwnershipCheckCost(t *testing.T) {
	ns := env.NewNamespace(t)
	e, count := newEngine(t, nil)
	opts := Options{Labels: testLabels(ns)}
	const n = 40
	gets := func() int {
		k := 0
		for _, r := range count.requests() {
			if strings.HasPrefix(r, "GET /api/v1/namespaces/"+ns+"/configmaps/") {
				k++
			}
		}
		return k
	}
	mustApply(t, e, objs(t, ns, configMaps(ns, n, "1")), opts)
	first, firstGets := len(count.requests()), gets()
	count.reset()
	mustApply(t, e, objs(t, ns, configMaps(ns, n, "2")), opts) // every object changed, none fingerprinted
	second, secondGets := len(count.requests()), gets()
	t.Logf("%d objects: first apply %d requests (%d GETs of single objects), second apply %d requests (%d GETs)", n, first, firstGets, second, secondGets)
	if firstGets != 0 || first > n+4 {
		t.Errorf("first apply: %d requests, %d GETs, want 0 GETs and at most %d requests (discovery's 2, a LIST with our labels, one without, one apply per object)", first, firstGets, n+4)
	}
	count.reset()
	few := objs(t, ns, configMaps(ns, n+surveyThreshold-1, "3"))[n:] // surveyThreshold-1 new objects
	mustApply(t, e, few, opts)
	if got := gets(); got != surveyThreshold-1 {
		t.Errorf("%d new objects: %d GETs, want one each", surveyThreshold-1, got)
	}
	if secondGets != 0 {
		t.Errorf("second apply, all objects ours: %d GETs, want 0", secondGets)
	}
	if second > n+2 {
		t.Errorf("second apply: %d requests, want at most %d (a LIST and one apply per object)", second, n+2)
	}
}
