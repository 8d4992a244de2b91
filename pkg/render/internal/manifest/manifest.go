// Package manifest decodes files of Kubernetes manifests: YAML or JSON,
// several documents per file, FooList kinds expanded, following kustomize's
// reading rules, naming file, document and line on error. It depends on
// nothing but the YAML library, so that its fuzz target builds quickly.
package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// ErrInvalidObject is wrapped by every error about a document that is not a
// Kubernetes object: invalid YAML, no apiVersion, no kind, no name.
var ErrInvalidObject = errors.New("invalid object")

// LocalConfigAnnotation marks objects that kustomize drops from its output
// on purpose (config.kubernetes.io/local-config); Decode drops them too
// unless asked to keep them.
const LocalConfigAnnotation = "config.kubernetes.io/local-config"

// mergeTag is the tag of a YAML merge key (<<), as kustomize's kyaml
// names it.
const mergeTag = "!!merge"

// Document is a decoded object and the node tree of the document it came
// from (a List's, for an item of a List; such files are not plain).
type Document struct {
	// Object is the decoded object, JSON-compatible (Normalize).
	Object map[string]any
	// Node is the document's node tree.
	Node *yaml.Node
	// Line is the document's first line in the file.
	Line int
}

// Decode decodes every document of a file named file into objects:
// empty documents are skipped, FooList kinds with items are expanded,
// local-config objects are dropped unless keepLocal is set. Every other
// document is an object or an error naming file, document and line:
// nothing is dropped silently. It also reports whether the file is
// plain: without YAML anchors, aliases, merge keys, duplicate keys and
// List kinds, which kustomize's reader treats its own way.
func Decode(data []byte, file string, keepLocal bool) (docs []Document, plain bool, err error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	plain = true
	for doc := 1; ; doc++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, plain, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("%s: document %d: %w: %w", file, doc, ErrInvalidObject, err)
		}
		body := &n
		if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
			body = n.Content[0]
		}
		if isEmptyNode(body) {
			continue
		}
		at := fmt.Sprintf("%s: document %d (line %d)", file, doc, body.Line)
		if body.Kind != yaml.MappingNode {
			return nil, false, fmt.Errorf("%s: %w: not a mapping", at, ErrInvalidObject)
		}
		if plain && NeedsDeAnchor(body) {
			plain = false
		}
		var v any
		if err := body.Decode(&v); err != nil {
			return nil, false, fmt.Errorf("%s: %w: %w", at, ErrInvalidObject, err)
		}
		nv, err := Normalize(v)
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
			docs = append(docs, Document{Object: o, Node: body, Line: body.Line})
		}
	}
}

// NeedsDeAnchor reports whether kustomize's anchor expansion could change
// the document below n: it rebuilds every mapping, merging merge keys and
// duplicate keys.
func NeedsDeAnchor(n *yaml.Node) bool {
	if n.Anchor != "" || n.Kind == yaml.AliasNode || n.Tag == mergeTag {
		return true
	}
	if n.Kind == yaml.MappingNode {
		var seen map[string]bool // for mappings too large to compare pairwise
		if len(n.Content) > 32 {
			seen = make(map[string]bool, len(n.Content)/2)
		}
		for i := 0; i < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
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
		if NeedsDeAnchor(c) {
			return true
		}
	}
	return false
}

func isEmptyNode(n *yaml.Node) bool {
	switch {
	case n == nil || n.Kind == 0:
		return true
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		return true
	case n.Kind == yaml.MappingNode && len(n.Content) == 0:
		return true
	case n.Kind == yaml.DocumentNode && len(n.Content) == 0:
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
	if err := CheckObject(m); err != nil {
		return nil, err
	}
	if !keepLocal && IsLocalConfig(m) {
		return nil, nil
	}
	return []map[string]any{m}, nil
}

// IsLocalConfig reports whether kustomize drops the object from its output:
// it carries the local-config annotation with any value but "false".
func IsLocalConfig(m map[string]any) bool {
	md, _ := m["metadata"].(map[string]any)
	ann, _ := md["annotations"].(map[string]any)
	v, ok := ann[LocalConfigAnnotation]
	return ok && v != "false"
}

// CheckObject requires what Flux requires of every built object:
// apiVersion, kind and metadata.name.
func CheckObject(m map[string]any) error {
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

// Normalize converts decoded YAML into the JSON-compatible form that
// unstructured.Unstructured requires (string keys, int64, float64) and
// rejects null list items, which kustomize rejects too.
func Normalize(v any) (any, error) {
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
