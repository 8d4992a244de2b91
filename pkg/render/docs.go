package render

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
)

// ErrInvalidObject is wrapped by the error Render returns when a document is
// not a Kubernetes object: invalid YAML, no apiVersion, no kind, no name.
var ErrInvalidObject = errors.New("invalid object")

// localConfigAnnotation marks objects that kustomize drops from its output on
// purpose (config.kubernetes.io/local-config); Render drops them too, on
// both paths, so a plain directory and a kustomization agree.
const localConfigAnnotation = "config.kubernetes.io/local-config"

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
// reader where the result must be kustomize's.
func decodeFile(data []byte, file string, keepLocal bool) (docs []document, plain bool, err error) {
	dec := kyaml.NewDecoder(bytes.NewReader(data))
	plain = true
	for doc := 1; ; doc++ {
		var n kyaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, plain, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("%s: document %d: %w: %w", file, doc, ErrInvalidObject, err)
		}
		body := &n
		if n.Kind == kyaml.DocumentNode && len(n.Content) == 1 {
			body = n.Content[0]
		}
		if isEmptyNode(body) {
			continue
		}
		at := fmt.Sprintf("%s: document %d (line %d)", file, doc, body.Line)
		if body.Kind != kyaml.MappingNode {
			return nil, false, fmt.Errorf("%s: %w: not a mapping", at, ErrInvalidObject)
		}
		if plain && needsDeAnchor(body) {
			plain = false
		}
		var v any
		if err := body.Decode(&v); err != nil {
			return nil, false, fmt.Errorf("%s: %w: %w", at, ErrInvalidObject, err)
		}
		nv, err := normalize(v)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w: %w", at, ErrInvalidObject, err)
		}
		m := nv.(map[string]any)
		if kind, _ := m["kind"].(string); strings.HasSuffix(kind, "List") {
			plain = false
		}
		objs, err := expandObject(m, keepLocal)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", at, err)
		}
		for _, o := range objs {
			docs = append(docs, document{obj: o, node: body, line: body.Line})
		}
	}
}

// needsDeAnchor reports whether kustomize's anchor expansion could change
// the document below n: it rebuilds every mapping, merging merge keys and
// duplicate keys.
func needsDeAnchor(n *kyaml.Node) bool {
	if n.Anchor != "" || n.Kind == kyaml.AliasNode || n.Tag == kyaml.MergeTag {
		return true
	}
	if n.Kind == kyaml.MappingNode {
		var seen map[string]bool // for mappings too large to compare pairwise
		if len(n.Content) > 32 {
			seen = make(map[string]bool, len(n.Content)/2)
		}
		for i := 0; i < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != kyaml.ScalarNode {
				return true
			}
			if seen != nil {
				if seen[k.Value] {
					return true
				}
				seen[k.Value] = true
				continue
			}
			for j := 0; j < i; j += 2 {
				if n.Content[j].Value == k.Value {
					return true
				}
			}
		}
	}
	for _, c := range n.Content {
		if needsDeAnchor(c) {
			return true
		}
	}
	return false
}

func isEmptyNode(n *kyaml.Node) bool {
	switch {
	case n == nil || n.Kind == 0:
		return true
	case n.Kind == kyaml.ScalarNode && n.Tag == "!!null":
		return true
	case n.Kind == kyaml.MappingNode && len(n.Content) == 0:
		return true
	case n.Kind == kyaml.DocumentNode && len(n.Content) == 0:
		return true
	}
	return false
}

// expandObject validates one decoded document and inlines FooList kinds
// that carry items, as kustomize does. Local-config objects are dropped
// unless keepLocal is set.
func expandObject(m map[string]any, keepLocal bool) ([]map[string]any, error) {
	kind, _ := m["kind"].(string)
	if kind == "" {
		return nil, fmt.Errorf("%w: missing kind", ErrInvalidObject)
	}
	if strings.HasSuffix(kind, "List") {
		if items, ok := m["items"]; ok {
			if items == nil {
				return nil, nil
			}
			list, ok := items.([]any)
			if !ok {
				return nil, fmt.Errorf("%w: %s: items is %T, not a list", ErrInvalidObject, kind, items)
			}
			var out []map[string]any
			for i, it := range list {
				im, ok := it.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("%w: %s: items[%d] is not an object", ErrInvalidObject, kind, i)
				}
				if len(im) == 0 {
					continue
				}
				sub, err := expandObject(im, keepLocal)
				if err != nil {
					return nil, fmt.Errorf("%s: items[%d]: %w", kind, i, err)
				}
				out = append(out, sub...)
			}
			return out, nil
		}
	}
	if err := checkObject(m); err != nil {
		return nil, err
	}
	if !keepLocal && isLocalConfig(m) {
		return nil, nil
	}
	return []map[string]any{m}, nil
}

// isLocalConfig reports whether kustomize drops the object from its output:
// it carries the local-config annotation with any value but "false".
func isLocalConfig(m map[string]any) bool {
	md, _ := m["metadata"].(map[string]any)
	ann, _ := md["annotations"].(map[string]any)
	v, ok := ann[localConfigAnnotation]
	return ok && v != "false"
}

// checkObject requires what Flux requires of every built object:
// apiVersion, kind and metadata.name.
func checkObject(m map[string]any) error {
	kind, _ := m["kind"].(string)
	if kind == "" {
		return fmt.Errorf("%w: missing kind", ErrInvalidObject)
	}
	if av, _ := m["apiVersion"].(string); av == "" {
		return fmt.Errorf("%w: %s: missing apiVersion", ErrInvalidObject, kind)
	}
	md, ok := m["metadata"].(map[string]any)
	if !ok {
		return fmt.Errorf("%w: %s: missing metadata", ErrInvalidObject, kind)
	}
	if name, _ := md["name"].(string); name == "" {
		return fmt.Errorf("%w: %s: missing metadata.name", ErrInvalidObject, kind)
	}
	return nil
}

// fieldError locates a problem inside a document by its field path.
type fieldError struct {
	path string // e.g. spec.containers[0]
	msg  string
}

func (e *fieldError) Error() string { return e.path + ": " + e.msg }

// under prefixes the path of e with a map key or list index.
func (e *fieldError) under(seg string) *fieldError {
	switch {
	case e.path == "":
		e.path = seg
	case strings.HasPrefix(e.path, "["):
		e.path = seg + e.path
	default:
		e.path = seg + "." + e.path
	}
	return e
}

// normalize converts decoded YAML into the JSON-compatible form that
// unstructured.Unstructured requires (string keys, int64, float64) and
// rejects null list items, which kustomize rejects too.
func normalize(v any) (any, error) {
	nv, ferr := normalizeValue(v)
	if ferr != nil {
		return nil, ferr
	}
	return nv, nil
}

func normalizeValue(v any) (any, *fieldError) {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			ne, err := normalizeValue(e)
			if err != nil {
				return nil, err.under(k)
			}
			t[k] = ne
		}
		return t, nil
	case map[any]any:
		// YAML allows non-string keys (data: {80: x}); JSON and the API
		// server see them as strings.
		m := make(map[string]any, len(t))
		for k, e := range t {
			ks := fmt.Sprint(k)
			if k == nil {
				ks = "null"
			}
			ne, err := normalizeValue(e)
			if err != nil {
				return nil, err.under(ks)
			}
			m[ks] = ne
		}
		return m, nil
	case []any:
		for i, e := range t {
			seg := "[" + strconv.Itoa(i) + "]"
			if e == nil {
				return nil, &fieldError{path: seg, msg: "empty list item"}
			}
			ne, err := normalizeValue(e)
			if err != nil {
				return nil, err.under(seg)
			}
			t[i] = ne
		}
		return t, nil
	case int:
		return int64(t), nil
	case uint64:
		if t > 1<<63-1 {
			return float64(t), nil
		}
		return int64(t), nil
	case time.Time:
		return t.Format(time.RFC3339Nano), nil
	case []byte:
		return string(t), nil
	case string, bool, int64, float64, nil:
		return t, nil
	}
	return nil, &fieldError{msg: fmt.Sprintf("unsupported value type %T", v)}
}

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
