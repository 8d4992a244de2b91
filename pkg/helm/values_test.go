package helm

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func cm(name, key, data string) ValuesSource {
	return ValuesSource{Kind: "ConfigMap", Name: name, ValuesKey: key, Found: true, Data: map[string][]byte{key: []byte(data)}}
}

func TestMergeValues(t *testing.T) {
	for _, tc := range []struct {
		name   string
		from   []ValuesSource
		inline map[string]any
		want   map[string]any
	}{{
		name: "later sources win, maps merge deeply, inline wins over all",
		from: []ValuesSource{
			cm("base", "values.yaml", "image: {repository: app, tag: '1.0'}\nreplicas: 1\nlist: [a, b]\n"),
			{Kind: "Secret", Name: "s", Found: true, Data: map[string][]byte{"values.yaml": []byte("image: {tag: '2.0'}\nlist: [c]\npassword: x\n")}},
		},
		inline: map[string]any{"replicas": int64(3), "image": map[string]any{"pullPolicy": "Always"}},
		want: map[string]any{
			"image":    map[string]any{"repository": "app", "tag": "2.0", "pullPolicy": "Always"},
			"replicas": float64(3), "list": []any{"c"}, "password": "x",
		},
	}, {
		name: "targetPath sets one value, typed like --set",
		from: []ValuesSource{
			cm("a", "values.yaml", "resources: {limits: {cpu: 1}}\n"),
			{Kind: "ConfigMap", Name: "b", ValuesKey: "cpu", TargetPath: "resources.limits.cpu", Found: true, Data: map[string][]byte{"cpu": []byte("500m")}},
			{Kind: "ConfigMap", Name: "b", ValuesKey: "n", TargetPath: "count", Found: true, Data: map[string][]byte{"n": []byte("42")}},
			{Kind: "ConfigMap", Name: "b", ValuesKey: "q", TargetPath: "quoted", Found: true, Data: map[string][]byte{"q": []byte(`"42"`)}},
			{Kind: "ConfigMap", Name: "b", ValuesKey: "b", TargetPath: "flag", Found: true, Data: map[string][]byte{"b": []byte("true")}},
			{Kind: "ConfigMap", Name: "b", ValuesKey: "l", TargetPath: "list[1].name", Found: true, Data: map[string][]byte{"l": []byte("x,y=z")}},
			{Kind: "ConfigMap", Name: "b", ValuesKey: "d", TargetPath: `annotations.example\.com/key`, Found: true, Data: map[string][]byte{"d": []byte("v")}},
			{Kind: "ConfigMap", Name: "b", ValuesKey: "z", TargetPath: "zero", Found: true, Data: map[string][]byte{"z": []byte("007")}},
		},
		want: map[string]any{
			"resources": map[string]any{"limits": map[string]any{"cpu": "500m"}},
			"count":     float64(42), "quoted": "42", "flag": true, "zero": "007",
			"list":        []any{nil, map[string]any{"name": "x,y=z"}},
			"annotations": map[string]any{"example.com/key": "v"},
		},
	}, {
		name: "optional sources that are missing are skipped",
		from: []ValuesSource{
			{Kind: "ConfigMap", Name: "gone", Optional: true},
			{Kind: "Secret", Name: "nokey", Optional: true, Found: true, Data: map[string][]byte{"other": []byte("a: 1")}},
			cm("ok", "custom.yaml", "a: 2\n"),
		},
		want: map[string]any{"a": float64(2)},
	}, {
		name: "empty values",
		from: []ValuesSource{cm("empty", "values.yaml", "")},
		want: map[string]any{},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MergeValues(tc.from, tc.inline)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("MergeValues (-want +got):\n%s", d)
			}
		})
	}
}

func TestMergeValuesErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		from    []ValuesSource
		message string
	}{
		{"missing object", []ValuesSource{cm("a", "values.yaml", ""), {Kind: "ConfigMap", Name: "gone"}},
			"valuesFrom[1] (ConfigMap/gone key values.yaml): ConfigMap/gone not found"},
		{"missing key", []ValuesSource{{Kind: "Secret", Name: "s", ValuesKey: "v.yaml", Found: true, Data: map[string][]byte{}}},
			"valuesFrom[0] (Secret/s key v.yaml): Secret/s has no key v.yaml"},
		{"a list is not values", []ValuesSource{cm("l", "values.yaml", "- a\n- b\n")},
			"valuesFrom[0] (ConfigMap/l key values.yaml): values must be a YAML mapping, not a list"},
		{"a string is not values", []ValuesSource{cm("l", "values.yaml", "just text\n")},
			"values must be a YAML mapping, not a string"},
		{"invalid YAML", []ValuesSource{cm("l", "values.yaml", "a: [\n")},
			"values are not valid YAML"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := MergeValues(tc.from, nil)
			if err == nil || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("MergeValues: %v, want an error containing %q", err, tc.message)
			}
		})
	}
}

func TestValuesDigest(t *testing.T) {
	a, err := MergeValues(nil, map[string]any{"b": map[string]any{"count": int64(1), "text": "s"}, "a": true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := MergeValues([]ValuesSource{cm("c", "values.yaml", "a: true\nb:\n  text: s\n  count: 1\n")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ValuesDigest(a) != ValuesDigest(b) {
		t.Errorf("equal values from different sources have digests %s and %s", ValuesDigest(a), ValuesDigest(b))
	}
	b["a"] = false
	if ValuesDigest(a) == ValuesDigest(b) {
		t.Error("different values have equal digests")
	}
	if !strings.HasPrefix(ValuesDigest(a), "sha256:") || len(ValuesDigest(a)) != 71 {
		t.Errorf("digest %q is not sha256:<64 hex>", ValuesDigest(a))
	}
}
