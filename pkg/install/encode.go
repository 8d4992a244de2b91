package install

import (
	"bytes"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// Unstructured returns obj as it is applied and exported: the JSON of the
// typed object without its (empty) status, which an apply must not claim.
func Unstructured(obj runtime.Object) (*unstructured.Unstructured, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("%T: encode: %w", obj, err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(b); err != nil {
		return nil, fmt.Errorf("%T: encode: %w", obj, err)
	}
	delete(u.Object, "status")
	return u, nil
}

// Output formats of Marshal.
const (
	// FormatYAML is YAML documents separated by "---" lines.
	FormatYAML = "yaml"
	// FormatJSON is one v1 List holding the objects, indented.
	FormatJSON = "json"
)

// Marshal encodes objs, in order, in format (FormatYAML or FormatJSON), in
// a form `kubectl apply --server-side -f` accepts.
func Marshal(objs []runtime.Object, format string) ([]byte, error) {
	items := make([]any, 0, len(objs))
	for _, obj := range objs {
		u, err := Unstructured(obj)
		if err != nil {
			return nil, err
		}
		items = append(items, u.Object)
	}
	switch format {
	case FormatYAML:
		var buf bytes.Buffer
		for i, item := range items {
			if i > 0 {
				buf.WriteString("---\n")
			}
			b, err := yaml.Marshal(item)
			if err != nil {
				return nil, err
			}
			buf.Write(b)
		}
		return buf.Bytes(), nil
	case FormatJSON:
		b, err := json.MarshalIndent(map[string]any{"apiVersion": "v1", "kind": "List", "items": items}, "", "  ")
		if err != nil {
			return nil, err
		}
		return append(b, '\n'), nil
	}
	return nil, fmt.Errorf("output format %q: must be %s or %s", format, FormatYAML, FormatJSON)
}
