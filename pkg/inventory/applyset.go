package inventory

import (
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"strings"
)

// Label and annotation keys of the kubectl ApplySet specification (KEP-3659).
// gitsync writes them so that kubectl and gitsync agree on which objects
// belong to a sync.
const (
	// LabelApplySetID marks the inventory ConfigMap as an ApplySet parent; its
	// value is ApplySetID of that ConfigMap.
	LabelApplySetID = "applyset.kubernetes.io/id"
	// LabelApplySetPartOf marks an applied object as a member of the ApplySet
	// whose parent carries the same value in LabelApplySetID.
	LabelApplySetPartOf = "applyset.kubernetes.io/part-of"
	// AnnotationApplySetTooling names the tool managing the ApplySet, as
	// <toolname>/<semver>; tools refuse to mutate sets of other tools.
	AnnotationApplySetTooling = "applyset.kubernetes.io/tooling"
	// AnnotationApplySetGroupKinds lists the members' group-kinds (Kind.group,
	// sorted, comma-separated) so that listing members needs no discovery.
	AnnotationApplySetGroupKinds = "applyset.kubernetes.io/contains-group-kinds"
	// AnnotationApplySetAdditionalNamespaces lists the namespaces, other than
	// the parent's own, that hold members (sorted, comma-separated).
	AnnotationApplySetAdditionalNamespaces = "applyset.kubernetes.io/additional-namespaces"
)

// ApplySetID returns the ApplySet id of a ConfigMap parent named name in
// namespace: "applyset-" + base64url-without-padding(sha256(
// "<name>.<namespace>.ConfigMap.")) + "-v1". The hashed string is the
// parent's name, namespace, kind and group joined by dots; ConfigMap is in
// the core group, so the group part is empty and the string ends in a dot.
// The URL-safe alphabet without padding keeps the value a valid label value.
func ApplySetID(name, namespace string) string {
	sum := sha256.Sum256([]byte(name + "." + namespace + ".ConfigMap."))
	return "applyset-" + base64.RawURLEncoding.EncodeToString(sum[:]) + "-v1"
}

// GroupKinds returns the value of AnnotationApplySetGroupKinds for entries:
// each distinct group-kind as Kind for the core group and Kind.group
// otherwise, sorted as strings and joined by commas, the way kubectl
// writes it. It is empty for no entries.
func GroupKinds(entries []Entry) string {
	seen := map[string]bool{}
	var gks []string
	for _, e := range entries {
		gk := e.Kind
		if e.Group != "" {
			gk += "." + e.Group
		}
		if !seen[gk] {
			seen[gk] = true
			gks = append(gks, gk)
		}
	}
	slices.Sort(gks)
	return strings.Join(gks, ",")
}

// AdditionalNamespaces returns the value of
// AnnotationApplySetAdditionalNamespaces for entries whose parent lives in
// parentNamespace: the distinct namespaces of namespaced entries other than
// parentNamespace, sorted and joined by commas. It is empty when every
// member is cluster-scoped or in the parent's namespace.
func AdditionalNamespaces(entries []Entry, parentNamespace string) string {
	seen := map[string]bool{parentNamespace: true, "": true}
	var nss []string
	for _, e := range entries {
		if !seen[e.Namespace] {
			seen[e.Namespace] = true
			nss = append(nss, e.Namespace)
		}
	}
	slices.Sort(nss)
	return strings.Join(nss, ",")
}
