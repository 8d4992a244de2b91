package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

// expectedObjects counts, independently of Decode, the objects a file
// holds when Decode accepts it with keepLocal: one per non-empty document,
// or, for a FooList with items, the objects of its non-empty items.
func expectedObjects(t *testing.T, data []byte) int {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	n := 0
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			t.Fatalf("Decode accepted a file the YAML library rejects: %v", err)
		}
		n += countObjects(v)
	}
}

func countObjects(v any) int {
	m, ok := v.(map[string]any)
	if mm, isAny := v.(map[any]any); isAny {
		// A mapping with a key that is not a string (0: x).
		m, ok = make(map[string]any, len(mm)), true
		for k, e := range mm {
			if ks, isString := k.(string); isString {
				m[ks] = e
			} else {
				m[fmt.Sprint(k)] = e
			}
		}
	}
	if !ok || len(m) == 0 {
		return 0
	}
	if kind, _ := m["kind"].(string); strings.HasSuffix(kind, "List") {
		if items, ok := m["items"]; ok {
			list, _ := items.([]any)
			n := 0
			for _, it := range list {
				n += countObjects(it)
			}
			return n
		}
	}
	return 1
}

// FuzzDecode: Decode never panics; it either fails with ErrInvalidObject
// naming the file, or returns every object the file holds (no document
// silently dropped), each with apiVersion, kind and metadata.name, in a
// form that marshals to JSON.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: v\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: b}\n",
		`{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "j"}, "data": {"80": "x"}}`,
		"apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n- {}\n- apiVersion: v1\n  kind: ServiceList\n  items:\n  - {apiVersion: v1, kind: Service, metadata: {name: s}}\n",
		"base: &b {apiVersion: v1, kind: ConfigMap}\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, annotations: {config.kubernetes.io/local-config: \"true\"}}\n<<: *b\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {when: 2024-01-01T00:00:00Z, n: 18446744073709551615, b: !!binary aGk=}\n",
		"kind: ConfigMap\nmetadata: {name: a}\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nlist: [1, ~, 2]\n",
		"- just\n- a list\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n  bad: indent\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, _, err := Decode(data, "dir/file.yaml", true)
		if err != nil {
			if !errors.Is(err, ErrInvalidObject) || !strings.HasPrefix(err.Error(), "dir/file.yaml: ") {
				t.Fatalf("error %q: want ErrInvalidObject naming the file", err)
			}
			return
		}
		if want := expectedObjects(t, data); len(docs) != want {
			t.Fatalf("%d objects decoded, the file holds %d", len(docs), want)
		}
		for i, d := range docs {
			if err := CheckObject(d.Object); err != nil {
				t.Fatalf("object %d: %v", i, err)
			}
			if d.Node == nil || d.Line < 1 {
				t.Fatalf("object %d: no node or line (%d)", i, d.Line)
			}
			if _, err := json.Marshal(d.Object); err != nil {
				t.Fatalf("object %d does not marshal to JSON: %v", i, err)
			}
		}
	})
}
