package apply

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync/gitsync/pkg/object"
)

func TestTargets(t *testing.T) {
	ns := env.NewNamespace(t)
	e, _ := newEngine(t, nil)
	group := strings.ReplaceAll(ns, "-", "") + ".example.com"
	in := objs(t, ns, `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: things.`+group+`
spec:
  group: `+group+`
  names: {kind: Thing, plural: things}
  scope: Cluster
  versions:
  - {name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}
---
apiVersion: `+group+`/v1
kind: Thing
metadata:
  name: t1
  namespace: set-by-kustomize
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: `+ns+`
  namespace: ignored
`)
	got, err := e.Targets(in)
	if err != nil {
		t.Fatal(err)
	}
	want := []Target{
		{ID: object.ID{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition", Name: "things." + group}, Version: "v1", Resource: "customresourcedefinitions"},
		{ID: object.ID{Group: group, Kind: "Thing", Name: "t1"}, Version: "v1", Resource: "things"},
		{ID: object.ID{Group: "apps", Kind: "Deployment", Namespace: ns, Name: "web"}, Version: "v1", Resource: "deployments", Namespaced: true},
		{ID: object.ID{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: ns}, Version: "v1", Resource: "clusterroles"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Targets (-want +got):\n%s", diff)
	}

	_, err = e.Targets(objs(t, ns, "apiVersion: nowhere.example.com/v1\nkind: Ghost\nmetadata:\n  name: g\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "Ghost.nowhere.example.com/"+ns+"/g: kind Ghost.nowhere.example.com is not served") {
		t.Errorf("unknown kind: %v", err)
	}
}
