package helm

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"helm.sh/helm/v4/pkg/strvals"
	"sigs.k8s.io/yaml"
)

// DefaultValuesKey is the data key a ValuesSource reads when ValuesKey is
// empty, as in Flux.
const DefaultValuesKey = "values.yaml"

// ValuesSource is one valuesFrom entry of a sync together with what the
// caller read from the cluster. pkg/helm does no I/O for values: the
// orchestrator reads the ConfigMap or Secret and hands its data over, and
// MergeValues applies Flux's rules to it.
type ValuesSource struct {
	// Kind is ConfigMap or Secret; Name is the object's name. Both only
	// name the source in messages.
	Kind, Name string
	// ValuesKey is the data key to read. Default DefaultValuesKey.
	ValuesKey string
	// TargetPath, when set, puts the key's whole content at this path
	// (Helm --set syntax: a.b[0].c, \. for a literal dot) instead of
	// merging it as a YAML mapping.
	TargetPath string
	// Optional tolerates a missing object or key.
	Optional bool
	// Found reports whether the object exists.
	Found bool
	// Data is the object's data: a ConfigMap's data and binaryData, a
	// Secret's data.
	Data map[string][]byte
}

// where names s in messages, e.g. "valuesFrom[1] (ConfigMap/app key
// values.yaml)".
func (s *ValuesSource) where(i int) string {
	return fmt.Sprintf("valuesFrom[%d] (%s/%s key %s)", i, s.Kind, s.Name, cmp.Or(s.ValuesKey, DefaultValuesKey))
}

// MergeValues computes a release's values the way Flux's helm-controller
// does: each valuesFrom source in order, later ones winning, then the
// inline values over all of them. A source without TargetPath must hold a
// YAML mapping, which is merged deeply (mappings merge key by key, any
// other value replaces). A source with TargetPath sets that one path to the
// key's content: a quoted value ('x' or "x") is a string without its
// quotes, otherwise true, false, null and integers are typed as Helm's
// --set types them. A missing object or key is an error unless Optional.
//
// The chart's own values are not part of the result: Render coalesces the
// result over them, as Helm does. The result has the types Helm gives
// values read from YAML (numbers are float64), whatever the input's types.
func MergeValues(from []ValuesSource, inline map[string]any) (map[string]any, error) {
	result := map[string]any{}
	for i := range from {
		s := &from[i]
		if !s.Found {
			if s.Optional {
				continue
			}
			return nil, fmt.Errorf("%s: %s/%s not found", s.where(i), s.Kind, s.Name)
		}
		key := cmp.Or(s.ValuesKey, DefaultValuesKey)
		data, ok := s.Data[key]
		if !ok {
			if s.Optional {
				continue
			}
			return nil, fmt.Errorf("%s: %s/%s has no key %s", s.where(i), s.Kind, s.Name, key)
		}
		if s.TargetPath != "" {
			if err := setPath(result, s.TargetPath, string(data)); err != nil {
				return nil, fmt.Errorf("%s: targetPath %s: %w", s.where(i), s.TargetPath, err)
			}
			continue
		}
		values, err := readValues(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.where(i), err)
		}
		result = mergeMaps(result, values)
	}
	inline, err := normalize(inline)
	if err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	result = mergeMaps(result, inline)
	return normalize(result)
}

// readValues parses YAML values, which must be a mapping; empty data is an
// empty mapping.
func readValues(data []byte) (map[string]any, error) {
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("values are not valid YAML: %w", err)
	}
	switch m := v.(type) {
	case nil:
		return map[string]any{}, nil
	case map[string]any:
		return m, nil
	}
	return nil, fmt.Errorf("values must be a YAML mapping, not %s: %w", kindOf(v), ErrInvalidChart)
}

// kindOf names the YAML kind of a decoded value for messages.
func kindOf(v any) string {
	switch v.(type) {
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case float64, int64, int:
		return "a number"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// setPath sets the value at a --set style path, typing it as described on
// MergeValues. The path is parsed by Helm's own strvals parser; the value
// is handed over whole, so commas and '=' in it are not read as further
// assignments.
func setPath(values map[string]any, path, raw string) error {
	var v any = raw
	quoted := len(raw) >= 2 && (raw[0] == '"' && raw[len(raw)-1] == '"' || raw[0] == '\'' && raw[len(raw)-1] == '\'')
	if quoted {
		v = raw[1 : len(raw)-1]
	} else {
		v = typedValue(raw)
	}
	if strings.ContainsAny(path, "=,") {
		return fmt.Errorf("a path may not contain '=' or ','")
	}
	return strvals.ParseIntoFile(path+"=v", values, func([]rune) (any, error) { return v, nil })
}

// typedValue types an unquoted --set value as Helm does: true, false and
// null (any case), and integers not starting with 0; anything else stays a
// string.
func typedValue(s string) any {
	switch {
	case strings.EqualFold(s, "true"):
		return true
	case strings.EqualFold(s, "false"):
		return false
	case strings.EqualFold(s, "null"):
		return nil
	case s == "0":
		return int64(0)
	case s != "" && s[0] != '0':
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i
		}
	}
	return s
}

// mergeMaps merges src into dst deeply and returns dst: mappings merge key
// by key, anything else in src replaces what dst holds.
func mergeMaps(dst, src map[string]any) map[string]any {
	if dst == nil {
		dst = map[string]any{}
	}
	for k, v := range src {
		if sv, ok := v.(map[string]any); ok {
			if dv, ok := dst[k].(map[string]any); ok {
				dst[k] = mergeMaps(dv, sv)
				continue
			}
		}
		dst[k] = v
	}
	return dst
}

// normalize returns a deep copy of values with the types Helm gives
// values read from YAML (maps, lists, strings, booleans, float64, nil).
func normalize(values map[string]any) (map[string]any, error) {
	if values == nil {
		return map[string]any{}, nil
	}
	b, err := json.Marshal(values)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// ValuesDigest returns "sha256:<hex>" of the canonical JSON of values (map
// keys sorted). A run compares it with the digest it recorded to know that
// the values are unchanged.
func ValuesDigest(values map[string]any) string {
	b, err := json.Marshal(values)
	if err != nil {
		// MergeValues only returns values that marshal.
		b = []byte(err.Error())
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
