package apply

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// gadgetCRD is a CRD of kind Gadget in group with the versions given as
// name → served; the first is the storage version.
func gadgetCRD(group string, versions ...any) string {
	doc := `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.` + group + `
spec:
  group: ` + group + `
  names: {kind: Gadget, plural: gadgets, singular: gadget, listKind: GadgetList}
  scope: Namespaced
  versions:`
	for i := 0; i < len(versions); i += 2 {
		served := "false"
		if versions[i+1].(bool) {
			served = "true"
		}
		storage := "false"
		if i == 0 {
			storage = "true"
		}
		doc += `
  - name: ` + versions[i].(string) + `
    served: ` + served + `
    storage: ` + storage + `
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}`
	}
	return doc + "\n"
}

// setUpGadget applies a Gadget CRD serving v1 and one Gadget at v1, with
// the test's labels, and returns its prune target (recorded at v1).
func setUpGadget(t *testing.T, ns string) (group string, target Target) {
	t.Helper()
	group = strings.ReplaceAll(ns, "-", "") + ".example.com"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = env.Dynamic().Resource(crdGVR).Delete(ctx, "gadgets."+group, metav1.DeleteOptions{})
	})
	e, _ := newEngine(t, nil)
	labels := testLabels(ns)
	cs := mustApply(t, e, objs(t, ns, gadgetCRD(group, "v1", true)+"---\napiVersion: "+group+"/v1\nkind: Gadget\nmetadata:\n  name: g1\n"), Options{Labels: labels})
	if err := cs.Err(); err != nil {
		t.Fatal(err)
	}
	return group, cs.Changes[1].Target
}

// replaceCRD changes the Gadget CRD's versions and waits until discovery
// shows served as the only served version of the group ("" for none).
func replaceCRD(t *testing.T, group, served string, versions ...any) {
	t.Helper()
	u := objs(t, "", gadgetCRD(group, versions...))[0]
	if _, err := env.Dynamic().Resource(crdGVR).Apply(t.Context(), u.GetName(), u, metav1.ApplyOptions{FieldManager: "test", Force: true}); err != nil {
		t.Fatal(err)
	}
	err := env.WaitFor(t.Context(), func(ctx context.Context) (bool, error) {
		groups, err := env.Client().Discovery().ServerGroups()
		if err != nil {
			return false, err
		}
		got := ""
		for _, g := range groups.Groups {
			if g.Name == group {
				for _, v := range g.Versions {
					got += v.Version
				}
			}
		}
		return got == served, nil
	})
	if err != nil {
		t.Fatalf("waiting for %s to serve %q: %v", group, served, err)
	}
	if served == "" {
		return
	}
	// Discovery can show a new version a moment before the API server
	// serves it: wait until a LIST there answers too.
	gvr := schema.GroupVersionResource{Group: group, Version: served, Resource: "gadgets"}
	err = env.WaitFor(t.Context(), func(ctx context.Context) (bool, error) {
		_, err := env.Dynamic().Resource(gvr).List(ctx, metav1.ListOptions{Limit: 1})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("waiting for a LIST of %s: %v", gvr, err)
	}
}

// TestPruneFollowsServedVersion: the inventory recorded an object at a
// version its resource no longer serves (a CRD, or a Kubernetes upgrade,
// dropped it), while the kind is still served at another. The LIST at the
// recorded version answers 404; prune must delete the object through the
// served version, not report it Deleted while it lives on.
func TestPruneFollowsServedVersion(t *testing.T) {
	ns := env.NewNamespace(t)
	group, target := setUpGadget(t, ns)
	replaceCRD(t, group, "v2", "v1", false, "v2", true)

	e, _ := newEngine(t, nil) // a fresh engine: a new run's discovery
	cs, err := e.Prune(t.Context(), []Target{target}, PruneOptions{Selector: testLabels(ns)})
	if err != nil {
		t.Fatal(err)
	}
	if got := cs.Changes[0].Action; got != Deleted || cs.Err() != nil {
		t.Errorf("action %s, err %v; want Deleted", got, cs.Err())
	}
	v2 := schema.GroupVersionResource{Group: group, Version: "v2", Resource: "gadgets"}
	err = env.WaitFor(t.Context(), func(ctx context.Context) (bool, error) {
		_, err := env.Dynamic().Resource(v2).Namespace(ns).Get(ctx, "g1", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Errorf("prune said Deleted but %s still exists", target.ID)
	}
}

// TestPruneKeepsUnservedResource: the kind is served at no version while
// its CRD still exists, so its objects may well live on (in etcd, served
// again once the CRD is fixed). Prune keeps the entry (Skipped, with an
// error matching ErrNotServed, which the orchestrator keeps in the
// inventory and reports) instead of calling it Deleted.
func TestPruneKeepsUnservedResource(t *testing.T) {
	ns := env.NewNamespace(t)
	group, target := setUpGadget(t, ns)
	replaceCRD(t, group, "", "v1", false)

	e, _ := newEngine(t, nil)
	cs, err := e.Prune(t.Context(), []Target{target}, PruneOptions{Selector: testLabels(ns)})
	if err != nil {
		t.Fatal(err)
	}
	c := cs.Changes[0]
	if c.Action != Skipped || !errors.Is(c.Err, ErrNotServed) || cs.Err() != nil {
		t.Fatalf("action %s, err %v, set err %v; want Skipped with ErrNotServed and no set error", c.Action, c.Err, cs.Err())
	}
	if !strings.HasPrefix(c.Err.Error(), target.ID.String()+": ") {
		t.Errorf("error %q does not start with the object", c.Err)
	}

	// Served again: the next prune deletes it.
	replaceCRD(t, group, "v1", "v1", true)
	e, _ = newEngine(t, nil)
	cs, err = e.Prune(t.Context(), []Target{target}, PruneOptions{Selector: testLabels(ns)})
	if err != nil || cs.Changes[0].Action != Deleted {
		t.Fatalf("prune once served again: %v, %+v", err, cs.Changes)
	}
	var u *unstructured.Unstructured
	err = env.WaitFor(t.Context(), func(ctx context.Context) (bool, error) {
		u, err = env.Dynamic().Resource(target.GroupVersionResource()).Namespace(ns).Get(ctx, "g1", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Errorf("%s still exists: %v", target.ID, u)
	}
}
