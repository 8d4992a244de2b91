package flux

import (
	"maps"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// FieldNote is a field of a Flux object and what gitsync does with it.
type FieldNote struct {
	// Path is the field, such as spec.interval.
	Path string
	// Note says what gitsync does instead (the schema's note).
	Note string
}

// IgnoredFields returns the fields obj sets that the schema accepts but
// that have no effect in gitsync (interval, retryInterval, ...), each with
// what gitsync does instead, sorted by path. `convert` writes them as
// comments, so that none disappears unnoticed. An object of a kind or
// version Decode does not read has none.
func IgnoredFields(obj *unstructured.Unstructured) []FieldNote {
	gv, err := schema.ParseGroupVersion(obj.GetAPIVersion())
	if err != nil {
		return nil
	}
	s := schemaFor(gv.Group, obj.GetKind())
	if s == nil {
		return nil
	}
	spec, _ := obj.Object["spec"].(map[string]any)
	var out []FieldNote
	var walk func(m map[string]any, fields []field, path, note string)
	walk = func(m map[string]any, fields []field, path, note string) {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			f := findField(fields, k)
			if f == nil || !f.inVersion(gv.Version) || m[k] == nil {
				continue
			}
			p, n := path+"."+k, f.note
			if n == "" {
				n = note
			}
			switch {
			case f.how == ignored && !isEmpty(m[k]):
				out = append(out, FieldNote{Path: p, Note: n})
			case f.how == mapped && f.typ == tObject:
				if sub, ok := m[k].(map[string]any); ok {
					walk(sub, f.fields, p, n)
				}
			}
		}
	}
	walk(spec, s.spec, "spec", "")
	return out
}
