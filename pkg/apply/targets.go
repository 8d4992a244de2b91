package apply

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gitsync/gitsync/pkg/object"
)

// Discover reads the cluster's API discovery now, unless the Engine read
// it already, so that Targets and Apply need not wait for it: a run starts
// it beside the fetch and render of what it is to apply. Without it, the
// first lookup reads discovery.
func (e *Engine) Discover(ctx context.Context) error { return e.mapper.read(ctx) }

// Targets resolves rendered objects to Targets without writing anything, so
// a caller can record them (the inventory union) before Apply runs. A kind
// the server serves is resolved through discovery (read once for the
// Engine's lifetime, which Apply then reuses); a custom resource whose
// CustomResourceDefinition is among objs but not yet served is resolved
// from that CRD's spec. A kind that is neither is an error naming the
// object. Cluster-scoped objects lose any namespace they were rendered
// with, as in Apply's Changes.
func (e *Engine) Targets(objs []*unstructured.Unstructured) ([]Target, error) {
	// Its callers resolve before they have a context at hand; the one
	// discovery read this may cost is bounded by the client's timeout.
	ctx := context.TODO()
	rendered := renderedCRDs(objs)
	out := make([]Target, 0, len(objs))
	var errs []string
	for _, u := range objs {
		gvk := u.GroupVersionKind()
		t := Target{ID: object.IDOf(u), Version: gvk.Version}
		// A kind a rendered CRD defines needs no second look at discovery.
		_, inRender := rendered[gvk.GroupKind()]
		mapping, err := e.mapper.mapping(ctx, gvk.GroupKind(), gvk.Version, !inRender)
		switch {
		case err == nil:
			t.Resource = mapping.Resource.Resource
			t.Namespaced = mapping.Scope.Name() == meta.RESTScopeNameNamespace
		case meta.IsNoMatchError(err):
			crd, ok := rendered[gvk.GroupKind()]
			if !ok {
				errs = append(errs, fmt.Sprintf("%s: kind %s is not served by the cluster and no CustomResourceDefinition in the render defines it", t.ID, gvk.GroupKind()))
				continue
			}
			t.Resource, t.Namespaced = crd.plural, crd.namespaced
		default:
			errs = append(errs, fmt.Sprintf("%s: %v", t.ID, err))
			continue
		}
		if !t.Namespaced {
			t.Namespace = ""
		}
		out = append(out, t)
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return out, nil
}

type crdNames struct {
	plural     string
	namespaced bool
}

// renderedCRDs returns the kinds the rendered CRDs define.
func renderedCRDs(objs []*unstructured.Unstructured) map[schema.GroupKind]crdNames {
	out := map[schema.GroupKind]crdNames{}
	for _, u := range objs {
		if u.GroupVersionKind().GroupKind() != (schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}) {
			continue
		}
		group, _, _ := unstructured.NestedString(u.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(u.Object, "spec", "names", "kind")
		plural, _, _ := unstructured.NestedString(u.Object, "spec", "names", "plural")
		scope, _, _ := unstructured.NestedString(u.Object, "spec", "scope")
		if kind == "" || plural == "" {
			continue
		}
		out[schema.GroupKind{Group: group, Kind: kind}] = crdNames{plural: plural, namespaced: scope != "Cluster"}
	}
	return out
}
