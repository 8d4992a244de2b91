package spec

import (
	"bytes"
	"encoding/json"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"

	yaml3 "go.yaml.in/yaml/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// typeErrors returns an error for every value in the JSON document j whose
// type does not fit the Sync field it is decoded into, with the exact path
// (list indices included), which the JSON decoder's own error lacks.
func typeErrors(j []byte) field.ErrorList {
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil
	}
	return checkType(v, reflect.TypeFor[Sync](), nil)
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

func checkType(v any, t reflect.Type, p *field.Path) field.ErrorList {
	if v == nil {
		// null decodes into anything as the zero value.
		return nil
	}
	if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) {
		// Such types (Duration, metav1.Time) check their own input.
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return checkType(v, t.Elem(), p)
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return wrongType(p, v, "an object")
		}
		fields := jsonFields(t)
		var errs field.ErrorList
		for _, k := range sortedKeys(m) {
			if ft, ok := fields[k]; ok {
				errs = append(errs, checkType(m[k], ft, child(p, k))...)
			}
		}
		return errs
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return wrongType(p, v, "an object")
		}
		var errs field.ErrorList
		for _, k := range sortedKeys(m) {
			errs = append(errs, checkType(m[k], t.Elem(), p.Key(k))...)
		}
		return errs
	case reflect.Slice:
		l, ok := v.([]any)
		if !ok {
			return wrongType(p, v, "a list")
		}
		var errs field.ErrorList
		for i, e := range l {
			errs = append(errs, checkType(e, t.Elem(), p.Index(i))...)
		}
		return errs
	case reflect.String:
		if _, ok := v.(string); !ok {
			return wrongType(p, v, "a string")
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return wrongType(p, v, "a boolean (true or false)")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		if _, ok := v.(json.Number); !ok {
			return wrongType(p, v, "a number")
		}
	}
	return nil
}

// child extends p by the field name, starting a path when p is nil.
func child(p *field.Path, name string) *field.Path {
	if p == nil {
		return field.NewPath(name)
	}
	return p.Child(name)
}

func wrongType(p *field.Path, v any, want string) field.ErrorList {
	detail := "must be " + want
	var bad any
	switch x := v.(type) {
	case bool:
		bad = x
		if want == "a string" {
			detail += " (quote it)"
		}
	case string:
		bad = x
	case json.Number:
		bad = x.String()
	case []any:
		bad, detail = field.OmitValueType{}, "a list: "+detail
	case map[string]any:
		bad, detail = field.OmitValueType{}, "an object: "+detail
	}
	return field.ErrorList{field.TypeInvalid(p, bad, detail)}
}

// jsonFields maps the JSON names of t's fields to their types, flattening
// embedded structs as encoding/json does.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for k, v := range jsonFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// fluxHint explains a field, named by its path, that a Flux user may write
// but gitsync does not have.
func fluxHint(path string) string {
	const unsupported = "not supported by this version of gitsync"
	switch path {
	case "spec.interval", "spec.retryInterval", "spec.source.git.interval", "spec.source.oci.interval":
		return "gitsync runs on a cron schedule: use spec.schedule"
	case "spec.source.oci.suspend":
		return "use spec.suspend"
	case "spec.source.oci.certSecretRef":
		return "put ca.crt, tls.crt and tls.key in the Secret named by spec.source.oci.secretRef"
	case "spec.source.oci.serviceAccountName", "spec.source.oci.proxySecretRef":
		return unsupported
	case "spec.sourceRef":
		return "the source is part of the Sync: use spec.source.git"
	case "spec.url":
		return "the repository URL is spec.source.git.url"
	case "spec.ref":
		return "the Git reference is spec.source.git.ref"
	case "spec.secretRef":
		return "the Git credentials are spec.source.git.secretRef"
	case "spec.source.git.suspend":
		return "use spec.suspend"
	case "spec.decryption.serviceAccountName":
		return "cloud key services are not supported: put age (*.agekey) or OpenPGP (*.asc) keys in the Secret spec.decryption.secretRef names"
	case "spec.ignore", "spec.driftIgnoreRules", "spec.driftDetection":
		return "a Sync corrects drift in every field it applies; ignore rules and driftDetection are read from " +
			"the Flux Kustomizations and HelmReleases of its tree (docs/flux.md, Ignore rules); file exclusions are spec.source.*.ignore"
	case "spec.deletionPolicy", "spec.ignoreMissingComponents", "spec.source.git.proxySecretRef":
		return unsupported
	}
	return ""
}

// unknownFieldHint returns " (...)" with a hint for the unknown field at
// path, or "": a Flux field gitsync lacks, or the known field the name is
// closest to (same letters in another case, or at most two edits away).
func unknownFieldHint(path string) string {
	if h := fluxHint(path); h != "" {
		return " (" + h + ")"
	}
	segs := strings.Split(path, ".")
	t := reflect.TypeFor[Sync]()
	for _, seg := range segs[:len(segs)-1] {
		seg, _, _ = strings.Cut(seg, "[")
		ft, ok := jsonFields(t)[seg]
		if !ok {
			return ""
		}
		t = ft
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return ""
		}
	}
	last := segs[len(segs)-1]
	candidates := jsonFields(t)
	if t == reflect.TypeFor[metav1.ObjectMeta]() {
		// Validate refuses the rest of ObjectMeta: do not suggest it.
		candidates = map[string]reflect.Type{"name": nil, "namespace": nil}
	}
	best, bestDist := "", 3 // suggest only names at most two edits away
	for _, name := range sortedKeys(candidates) {
		if strings.EqualFold(name, last) {
			return ` (did you mean "` + name + `"?)`
		}
		if d := editDistance(name, last); d < bestDist && len(name) > 3 {
			best, bestDist = name, d
		}
	}
	if best == "" {
		return ""
	}
	return ` (did you mean "` + best + `"?)`
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// parsePatch decodes an inline patch document.
func parsePatch(s string) (any, error) {
	var v any
	if err := yaml3.Unmarshal([]byte(s), &v); err != nil {
		return nil, err
	}
	return v, nil
}

// lazyRegexp returns a function that compiles expr on its first call and
// returns the same *regexp.Regexp after. The patterns of this package
// with counted repetitions ({0,127}) compile to large programs; compiled at
// package init they cost every sync-job process 0.75 MiB of heap and the
// time to build them, whether its spec has such a field or not.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}
