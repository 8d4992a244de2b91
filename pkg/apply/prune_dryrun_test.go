package apply

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPreviewPrune(t *testing.T) {
	ns := env.NewNamespace(t)
	e, _ := newEngine(t, nil)
	labels := testLabels(ns)
	applied := mustApply(t, e, objs(t, ns, `apiVersion: v1
kind: ConfigMap
metadata:
  name: ours
data: {k: v}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: ignored
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: gone
`), Options{Labels: labels})
	if err := env.Client().CoreV1().ConfigMaps(ns).Delete(t.Context(), "gone", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Annotated on the live object, where prune reads opt-outs; the invalid
	// prune value does not undo ssa: Ignore.
	ignored := getCM(t, ns, "ignored")
	ignored.SetAnnotations(map[string]string{"gitsync.io/prune": "never", "gitsync.io/ssa": "Ignore"})
	if err := update(t.Context(), cmGVR, ignored, "kubectl-edit"); err != nil {
		t.Fatal(err)
	}
	cs, err := e.PreviewPrune(t.Context(), applied.Targets(), PruneOptions{Selector: labels})
	if err != nil || cs.Err() != nil {
		t.Fatalf("PreviewPrune: %v %v", err, cs.Err())
	}
	want := map[string]Action{
		cmID(ns, "ours").String():    Deleted,
		cmID(ns, "ignored").String(): Skipped,
		cmID(ns, "gone").String():    Deleted,
	}
	if diff := cmp.Diff(want, actions(cs)); diff != "" {
		t.Errorf("preview (-want +got):\n%s", diff)
	}
	for _, c := range cs.Changes {
		switch c.Name {
		case "ours":
			if c.Before == nil || c.Before.Object["data"] == nil {
				t.Errorf("ours: Before is not the live object: %v", c.Before)
			}
		default:
			if c.Before != nil {
				t.Errorf("%s: Before set for an object not deleted", c.ID)
			}
		}
	}
	if !cmExists(t, ns, "ours") || !cmExists(t, ns, "ignored") {
		t.Error("the preview deleted something")
	}
}
