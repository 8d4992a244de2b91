package syncrun

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/gitsync/gitsync/tests/gitserver"
)

// TestPruneKeepsUnservedObjects: an object whose resource is served by no
// version any more (its CRD, managed elsewhere, stopped serving it) leaves
// the render. Prune cannot tell whether it still exists, so the run keeps
// it in the inventory and says so, and a later run prunes it once the
// resource is served again.
func TestPruneKeepsUnservedObjects(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	group := strings.ReplaceAll(f.ns, "-", "") + ".example.com"
	crdGVR := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	setServed := func(served bool) {
		t.Helper()
		u := &unstructured.Unstructured{}
		doc := `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gizmos.` + group + `}
spec:
  group: ` + group + `
  names: {kind: Gizmo, plural: gizmos, singular: gizmo, listKind: GizmoList}
  scope: Namespaced
  versions:
  - {name: v1, served: ` + map[bool]string{true: "true", false: "false"}[served] + `, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}
`
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatal(err)
		}
		if _, err := env.Dynamic().Resource(crdGVR).Apply(t.Context(), u.GetName(), u, metav1.ApplyOptions{FieldManager: "admin", Force: true}); err != nil {
			t.Fatal(err)
		}
		err := env.WaitFor(t.Context(), func(ctx context.Context) (bool, error) {
			_, err := env.Client().Discovery().ServerResourcesForGroupVersion(group + "/v1")
			return (err == nil) == served, nil
		})
		if err != nil {
			t.Fatalf("CRD served=%v: %v", served, err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = env.Dynamic().Resource(crdGVR).Delete(ctx, "gizmos."+group, metav1.DeleteOptions{})
	})
	setServed(true)
	f.commit(map[string]string{
		"deploy/a.yaml":     cm("a", "1"),
		"deploy/gizmo.yaml": "apiVersion: " + group + "/v1\nkind: Gizmo\nmetadata:\n  name: g1\n",
	})
	f.install(f.git.HTTPURL("app"), "", "")
	f.mustSucceed(f.run())

	f.remove("deploy/gizmo.yaml")
	setServed(false)
	res := f.run()
	f.mustSucceed(res)
	if !strings.Contains(res.Message, "1 stale object kept in the inventory because its resource is not served: Gizmo."+group+"/"+f.ns+"/g1") {
		t.Errorf("message %q does not report the kept object", res.Message)
	}
	if got := f.inventorySet(); len(got) != 2 {
		t.Errorf("inventory %v; want a and the kept g1", got)
	}

	setServed(true)
	f.commit(map[string]string{"deploy/a.yaml": cm("a", "2")})
	f.mustSucceed(f.run())
	if got := f.inventorySet(); len(got) != 1 {
		t.Errorf("inventory %v after the resource is served again; want only a", got)
	}
	gvr := schema.GroupVersionResource{Group: group, Version: "v1", Resource: "gizmos"}
	if _, err := env.Dynamic().Resource(gvr).Namespace(f.ns).Get(t.Context(), "g1", metav1.GetOptions{}); err == nil {
		t.Error("g1 was not pruned once served again")
	}
}
