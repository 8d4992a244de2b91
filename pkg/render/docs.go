package render

import (
	"fmt"
	"strings"

	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/gitsync/gitsync/pkg/render/internal/manifest"
)

// ErrInvalidObject is wrapped by the error Render returns when a document is
// not a Kubernetes object: invalid YAML, no apiVersion, no kind, no name.
var ErrInvalidObject = manifest.ErrInvalidObject

// localConfigAnnotation marks objects that kustomize drops from its output on
// purpose (config.kubernetes.io/local-config); Render drops them too, on
// both paths, so a plain directory and a kustomization agree.
const localConfigAnnotation = manifest.LocalConfigAnnotation

// object is one rendered Kubernetes object on its way through Render.
type object struct {
	obj    map[string]any // JSON-compatible: string keys, int64, float64
	source string         // file relative to Root it came from; "" if unknown
	line   int            // line of its document in source; 0 if unknown
}

// id names the object the way errors do: Kind/namespace/name or Kind/name.
func (o *object) id() string {
	kind, _ := o.obj["kind"].(string)
	md, _ := o.obj["metadata"].(map[string]any)
	name, _ := md["name"].(string)
	ns, _ := md["namespace"].(string)
	if ns != "" {
		return kind + "/" + ns + "/" + name
	}
	return kind + "/" + name
}

// where names the object and, when known, its file and line.
func (o *object) where() string {
	switch {
	case o.source != "" && o.line > 0:
		return fmt.Sprintf("%s (%s:%d)", o.id(), o.source, o.line)
	case o.source != "":
		return fmt.Sprintf("%s (%s)", o.id(), o.source)
	}
	return o.id()
}

// parseManifests decodes every YAML document of a file into objects,
// following kustomize's reading rules so that a plain directory rendered
// without kustomize gives what kustomize would give: empty documents are
// skipped, FooList kinds with items are expanded, local-config objects are
// dropped. Unlike kustomize it names the file, document and line on error.
func parseManifests(data []byte, file string) ([]object, error) {
	docs, _, err := decodeFile(data, file, false)
	if err != nil {
		return nil, err
	}
	out := make([]object, len(docs))
	for i, d := range docs {
		out[i] = object{obj: d.obj, source: file, line: d.line}
	}
	return out, nil
}

// document is a decoded object and the node tree of the document it came
// from (a List's, for an item of a List; such files are not plain).
type document struct {
	obj  map[string]any
	node *kyaml.Node
	line int
}

// decodeFile is parseManifests; it keeps local-config objects if asked,
// and reports whether the file is plain: without YAML anchors, aliases,
// merge keys, duplicate keys and List kinds. kustomize's reader treats
// those its own way (anchors expanded node by node, List items through
// JSON), so objects from a file that is not plain are taken from that
// reader where the result must be kustomize's. The decoding itself is
// manifest.Decode's.
func decodeFile(data []byte, file string, keepLocal bool) ([]document, bool, error) {
	decoded, plain, err := manifest.Decode(data, file, keepLocal)
	if err != nil {
		return nil, false, err
	}
	docs := make([]document, len(decoded))
	for i, d := range decoded {
		docs[i] = document{obj: d.Object, node: d.Node, line: d.Line}
	}
	return docs, plain, nil
}

// needsDeAnchor is manifest.NeedsDeAnchor.
func needsDeAnchor(n *kyaml.Node) bool { return manifest.NeedsDeAnchor(n) }

// isLocalConfig is manifest.IsLocalConfig.
func isLocalConfig(m map[string]any) bool { return manifest.IsLocalConfig(m) }

// checkObject is manifest.CheckObject.
func checkObject(m map[string]any) error { return manifest.CheckObject(m) }

// normalize is manifest.Normalize.
func normalize(v any) (any, error) { return manifest.Normalize(v) }

// identity returns group, kind, namespace and name: the identity Render uses to
// find duplicates and to order its output.
func identity(m map[string]any) (group, kind, ns, name string) {
	av, _ := m["apiVersion"].(string)
	if i := strings.LastIndexByte(av, '/'); i >= 0 {
		group = av[:i]
	}
	kind, _ = m["kind"].(string)
	md, _ := m["metadata"].(map[string]any)
	ns, _ = md["namespace"].(string)
	name, _ = md["name"].(string)
	return group, kind, ns, name
}
