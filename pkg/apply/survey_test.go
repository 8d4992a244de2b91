package apply

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestApplyOwnershipSurveyed applies the ownership rule of TestApplyOwnership
// to a set large enough that the live objects are surveyed with one LIST
// without a selector instead of a GET each: the same outcomes, no GET.
func TestApplyOwnershipSurveyed(t *testing.T) {
	ns := env.NewNamespace(t)
	e, count := newEngine(t, nil)
	theirs := map[string]string{"applyset.kubernetes.io/part-of": "applyset-other", "gitsync.io/sync-name": "other"}
	mustApply(t, e, objs(t, ns, configMaps(ns, 2, "theirs")), Options{Labels: theirs})
	if err := env.ApplyYAML(t.Context(), ns, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-02\ndata: {key: hand}\n"); err != nil {
		t.Fatal(err)
	}
	const n = 2 * surveyThreshold
	in := objs(t, ns, configMaps(ns, n, "ours"))
	in[1].SetAnnotations(map[string]string{AnnotationAdopt: "enabled"})
	count.reset()
	cs, err := e.Apply(t.Context(), in, Options{Labels: testLabels(ns)})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range count.requests() {
		if strings.HasPrefix(r, "GET /api/v1/namespaces/"+ns+"/configmaps/") {
			t.Errorf("object read one by one: %s", r)
		}
	}
	got := actions(cs)
	want := map[string]Action{}
	for _, c := range cs.Changes {
		want[c.ID.String()] = Created
	}
	want["ConfigMap/"+ns+"/cm-00"] = Failed
	want["ConfigMap/"+ns+"/cm-01"] = Configured
	want["ConfigMap/"+ns+"/cm-02"] = Configured
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("actions (-want +got):\n%s", diff)
	}
	var oc *OwnerConflictError
	if c := cs.Changes[0]; !errors.As(c.Err, &oc) || oc.Theirs["gitsync.io/sync-name"] != "other" {
		t.Errorf("cm-00: error %v, want an OwnerConflictError naming the other owner", c.Err)
	}
	if a := cs.Changes[1].Adopted; a == nil || a.Labels["gitsync.io/sync-name"] != "other" {
		t.Errorf("cm-01 adopted from %+v, want the other owner's labels", a)
	}
	if a := cs.Changes[2].Adopted; a == nil || len(a.Labels) != 0 || !cmp.Equal(a.Managers, []string{"test"}) {
		t.Errorf("cm-02 adopted from %+v, want manager test and no owner", a)
	}
	for _, c := range cs.Changes[3:] {
		if c.Adopted != nil {
			t.Errorf("%s: new object adopted from %+v", c.ID, c.Adopted)
		}
	}
	if v, _, _ := unstructured.NestedString(getCM(t, ns, "cm-00").Object, "data", "key"); v != "theirs" {
		t.Errorf("a refused object was changed: %q", v)
	}
}
