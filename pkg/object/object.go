// Package object names Kubernetes objects the way every gitsync stage does:
// by group, kind, namespace and name. Stages hand each other these plain
// values instead of clients, so an inventory written by one run can be read
// by the next without discovery.
package object

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ID identifies one object independently of its API version.
type ID struct {
	Group     string `json:"group,omitempty"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// IDOf returns the ID of u.
func IDOf(u *unstructured.Unstructured) ID {
	gvk := u.GroupVersionKind()
	return ID{Group: gvk.Group, Kind: gvk.Kind, Namespace: u.GetNamespace(), Name: u.GetName()}
}

// GroupKind returns the ID's group and kind.
func (id ID) GroupKind() schema.GroupKind {
	return schema.GroupKind{Group: id.Group, Kind: id.Kind}
}

// String returns Kind/namespace/name, or Kind/name for cluster-scoped
// objects, with the group after the kind (Deployment.apps/ns/web) when it is
// not the core group. It is the form every error and log line uses.
func (id ID) String() string {
	kind := id.Kind
	if id.Group != "" {
		kind += "." + id.Group
	}
	if id.Namespace == "" {
		return kind + "/" + id.Name
	}
	return kind + "/" + id.Namespace + "/" + id.Name
}

// ParseID is the inverse of ID.String.
func ParseID(s string) (ID, error) {
	parts := strings.Split(s, "/")
	var id ID
	switch len(parts) {
	case 2:
		id.Name = parts[1]
	case 3:
		id.Namespace, id.Name = parts[1], parts[2]
	default:
		return ID{}, fmt.Errorf("%q: want Kind[.group]/[namespace/]name", s)
	}
	id.Kind, id.Group, _ = strings.Cut(parts[0], ".")
	if id.Kind == "" || id.Name == "" {
		return ID{}, fmt.Errorf("%q: want Kind[.group]/[namespace/]name", s)
	}
	return id, nil
}

// Less orders IDs by group, kind, namespace and name.
func Less(a, b ID) bool {
	if a.Group != b.Group {
		return a.Group < b.Group
	}
	if a.Kind != b.Kind {
		return a.Kind < b.Kind
	}
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	return a.Name < b.Name
}

// Sort sorts ids in place by Less.
func Sort(ids []ID) {
	sort.Slice(ids, func(i, j int) bool { return Less(ids[i], ids[j]) })
}
