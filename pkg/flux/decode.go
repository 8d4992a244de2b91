package flux

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ErrInvalid is wrapped by the FieldError of a field Flux itself would
// reject: unknown, of the wrong type, missing, or with a value outside its
// enumeration.
var ErrInvalid = errors.New("invalid")

// ErrUnsupported is wrapped by the FieldError of a field gitsync refuses,
// and by the error for a Flux kind or API version it does not read.
var ErrUnsupported = errors.New("not supported")

// FieldError is one problem with one field of a Flux object. Decode joins
// all of an object's FieldErrors (errors.Join), so a user sees every
// problem at once.
type FieldError struct {
	// Object is the object; Path the field, such as spec.decryption.
	Object ID
	Path   string
	// Msg says what is wrong.
	Msg string
	// Err is ErrInvalid or ErrUnsupported.
	Err error
}

// Error returns "Kind/namespace/name: path: message".
func (e *FieldError) Error() string { return e.Object.String() + ": " + e.Path + ": " + e.Msg }

// Unwrap returns ErrInvalid or ErrUnsupported.
func (e *FieldError) Unwrap() error { return e.Err }

// fluxGroupSuffixes are the API group suffixes of Flux's own kinds.
var fluxGroupSuffixes = []string{".toolkit.fluxcd.io", ".extensions.fluxcd.io"}

// IsFlux reports whether obj is one of Flux's own objects (any kind of a
// *.toolkit.fluxcd.io or *.extensions.fluxcd.io group), or a Flux
// Operator ResourceSet or ResourceSetInputProvider (resourceset.go). A run lifts these
// out of the rendered set instead of applying them; Decode reads the kinds
// gitsync executes and refuses the others by name.
func IsFlux(obj *unstructured.Unstructured) bool {
	group := obj.GroupVersionKind().Group
	if isOperatorObject(group, obj.GetKind()) {
		return true
	}
	for _, s := range fluxGroupSuffixes {
		if strings.HasSuffix(group, s) {
			return true
		}
	}
	return false
}

// Split separates the Flux objects (IsFlux) of a rendered set from the
// rest, keeping the order of each.
func Split(objs []*unstructured.Unstructured) (flux, rest []*unstructured.Unstructured) {
	for _, o := range objs {
		if IsFlux(o) {
			flux = append(flux, o)
		} else {
			rest = append(rest, o)
		}
	}
	return flux, rest
}

// DecodeOptions are the options of Decode.
type DecodeOptions struct {
	// DefaultNamespace is the namespace of an object that names none: the
	// namespace its objects would be applied to (the unit's
	// targetNamespace, else the sync's namespace). Without it such an
	// object is an error.
	DefaultNamespace string
}

// otherKinds says why the Flux kinds gitsync does not execute are refused,
// by group or by kind.group.
var otherKinds = map[string]string{
	"ExternalArtifact.source.toolkit.fluxcd.io": "(a controller outside Flux produces it and stores its artifact, which a run cannot " +
		"fetch; an ArtifactGenerator's artifacts are read by gitsync itself)",
}

// Decode reads one Flux object. Every field is checked against the schema
// (schema.go, docs/flux.md):
// mapped fields are read into the returned type with Flux's defaults,
// ignored ones are accepted, refused and unknown ones are errors. All
// problems of the object are returned at once, joined, each a *FieldError
// naming the object and the field.
func Decode(obj *unstructured.Unstructured, opts DecodeOptions) (Object, error) {
	gv, err := schema.ParseGroupVersion(obj.GetAPIVersion())
	if err != nil {
		return nil, fmt.Errorf("%s/%s: apiVersion: %w", obj.GetKind(), obj.GetName(), err)
	}
	id := ID{Kind: obj.GetKind(), Namespace: obj.GetNamespace(), Name: obj.GetName()}
	if id.Namespace == "" {
		id.Namespace = opts.DefaultNamespace
	}
	if id.Name == "" || id.Namespace == "" {
		return nil, &FieldError{Object: id, Path: "metadata", Msg: "name and namespace are required", Err: ErrInvalid}
	}
	s := schemaFor(gv.Group, id.Kind)
	if s == nil {
		why := otherKinds[id.Kind+"."+gv.Group]
		if why == "" {
			why = otherKinds[gv.Group]
		}
		if why == "" {
			why = "(no issue yet)"
		}
		return nil, fmt.Errorf("%s: kind %s.%s is %w %s", id, id.Kind, gv.Group, ErrUnsupported, why)
	}
	if !slices.Contains(s.versions, gv.Version) {
		return nil, fmt.Errorf("%s: apiVersion %s is %w: gitsync reads %s/%s", id, gv, ErrUnsupported,
			gv.Group, strings.Join(s.versions, ", "))
	}
	d := &decoder{id: id, version: gv.Version, present: map[string]bool{}, read: map[string]bool{}}
	for _, k := range slices.Sorted(maps.Keys(obj.Object)) {
		switch k {
		case "apiVersion", "kind", "metadata", "status":
			// status is written by Flux's controllers; gitsync keeps
			// its own state in ConfigMaps.
		case "spec":
			if _, ok := obj.Object[k].(map[string]any); !ok && obj.Object[k] != nil {
				d.errorf(k, ErrInvalid, "must be an object")
			}
		default:
			d.errorf(k, ErrInvalid, "unknown field")
		}
	}
	spec, _ := obj.Object["spec"].(map[string]any)
	d.walk(spec, s.spec, "spec")
	if len(d.errs) > 0 {
		return nil, errors.Join(d.errs...)
	}
	meta := Meta{ID: id, APIVersion: obj.GetAPIVersion(), Labels: obj.GetLabels(), Annotations: obj.GetAnnotations()}
	r := reader{m: spec, path: "spec", read: d.read}
	var o Object
	switch id.Kind {
	case KindGitRepository:
		o = decodeGitRepository(meta, r)
	case KindOCIRepository:
		o = decodeOCIRepository(meta, r)
	case KindHelmRepository:
		o = decodeHelmRepository(d, meta, r)
	case KindHelmChart:
		o = decodeHelmChart(meta, r)
	case KindBucket:
		o = decodeBucket(meta, r)
	case KindKustomization:
		o = decodeKustomization(d, meta, r)
	case KindHelmRelease:
		o = decodeHelmRelease(d, meta, r)
	case KindImageRepository:
		o = decodeImageRepository(d, meta, r)
	case KindImagePolicy:
		o = decodeImagePolicy(d, meta, r)
	case KindImageUpdateAutomation:
		o = decodeImageUpdateAutomation(d, meta, r)
	case KindProvider:
		o = decodeProvider(meta, r)
	case KindAlert:
		o = decodeAlert(d, meta, r)
	case KindReceiver:
		o = &Receiver{Meta: meta}
	case KindArtifactGenerator:
		o = decodeArtifactGenerator(d, meta, r)
	case KindResourceSet:
		o = decodeResourceSet(d, meta, r)
	case KindResourceSetInputProvider:
		o = decodeResourceSetInputProvider(meta, r)
	}
	if len(d.errs) > 0 {
		return nil, errors.Join(d.errs...)
	}
	for _, p := range slices.Sorted(maps.Keys(d.present)) {
		if !d.read[p] {
			// A mapped field the builder did not read would be dropped
			// silently: that is a bug in this package, never accepted.
			d.errorf(p, ErrUnsupported, "accepted by the schema but not read (a gitsync bug)")
		}
	}
	if len(d.errs) > 0 {
		return nil, errors.Join(d.errs...)
	}
	return o, nil
}

// DecodeAll decodes every object, returning the decoded ones and all
// errors joined.
func DecodeAll(objs []*unstructured.Unstructured, opts DecodeOptions) ([]Object, error) {
	var out []Object
	var errs []error
	for _, u := range objs {
		o, err := Decode(u, opts)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, o)
	}
	return out, errors.Join(errs...)
}

// decoder walks one object against its schema.
type decoder struct {
	id      ID
	version string
	errs    []error
	// present holds the paths of the mapped leaf values the object sets;
	// read those the builder read. Decode checks that they agree.
	present map[string]bool
	read    map[string]bool
}

// labelSelector reads the label selector r (matchLabels and
// matchExpressions) at path; false, with the error recorded, when it is
// not a valid one.
func (d *decoder) labelSelector(r reader, path string) (labels.Selector, bool) {
	ls := &metav1.LabelSelector{MatchLabels: r.strMap("matchLabels")}
	for _, e := range r.list("matchExpressions") {
		ls.MatchExpressions = append(ls.MatchExpressions, metav1.LabelSelectorRequirement{
			Key: e.str("key"), Operator: metav1.LabelSelectorOperator(e.str("operator")), Values: e.strs("values"),
		})
	}
	s, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		d.errorf(path, ErrInvalid, "%v", err)
		return nil, false
	}
	return s, true
}

func (d *decoder) errorf(path string, kind error, format string, args ...any) {
	d.errs = append(d.errs, &FieldError{Object: d.id, Path: path, Msg: fmt.Sprintf(format, args...), Err: kind})
}

// walk checks the fields of object m at path against fields.
func (d *decoder) walk(m map[string]any, fields []field, path string) {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		p := path + "." + k
		f := findField(fields, k)
		if f == nil || !f.inVersion(d.version) {
			d.errorf(p, ErrInvalid, "unknown field%s", d.hint(fields, k))
			continue
		}
		d.value(f, m[k], p)
	}
	for i := range fields {
		f := &fields[i]
		if f.required && f.inVersion(d.version) && m[f.name] == nil {
			d.errorf(path+"."+f.name, ErrInvalid, "required")
		}
	}
}

func findField(fields []field, name string) *field {
	for i := range fields {
		if fields[i].name == name {
			return &fields[i]
		}
	}
	return nil
}

// hint explains an unknown field name when it is a misspelt case of a
// real one or a field of another API version.
func (d *decoder) hint(fields []field, name string) string {
	for _, f := range fields {
		if f.name == name {
			return fmt.Sprintf(" in %s (it exists in %s)", d.version, strings.Join(f.versions, ", "))
		}
	}
	for _, f := range fields {
		if strings.EqualFold(f.name, name) && f.inVersion(d.version) {
			return fmt.Sprintf(" (did you mean %q?)", f.name)
		}
	}
	return ""
}

// value checks one value v of field f at path p.
func (d *decoder) value(f *field, v any, p string) {
	if v == nil {
		return // null is unset, as the API server reads it
	}
	if f.how == refused {
		if f.evenEmpty || !isEmpty(v) {
			if f.issue != "" {
				d.errorf(p, ErrUnsupported, "not supported yet (%s: issue %s)", f.note, f.issue)
			} else {
				d.errorf(p, ErrUnsupported, "not supported (%s)", f.note)
			}
		}
		return
	}
	if !d.checkType(f, v, p) {
		return
	}
	if f.refuseValue != nil {
		if why := f.refuseValue(v); why != "" {
			d.errorf(p, ErrUnsupported, "%s", why)
			return
		}
	}
	switch f.typ {
	case tObject:
		d.walk(v.(map[string]any), f.fields, p)
		return
	case tObjects:
		for i, e := range v.([]any) {
			d.walk(e.(map[string]any), f.fields, fmt.Sprintf("%s[%d]", p, i))
		}
		return
	}
	if f.how == mapped {
		d.present[p] = true
	}
}

// checkType reports whether v has f's type and passes its enumeration and
// pattern, recording an error when not.
func (d *decoder) checkType(f *field, v any, p string) bool {
	bad := func(want string) bool {
		d.errorf(p, ErrInvalid, "must be %s, not %s", want, describe(v))
		return false
	}
	switch f.typ {
	case tString, tDuration:
		s, ok := v.(string)
		if !ok {
			return bad("a string")
		}
		if f.typ == tDuration {
			if _, err := time.ParseDuration(s); err != nil || !durationRE.MatchString(s) {
				d.errorf(p, ErrInvalid, "%q is not a duration such as 30s, 5m or 1h30m", s)
				return false
			}
		}
		if f.enum != nil && !slices.Contains(f.enum, s) {
			d.errorf(p, ErrInvalid, "%q is not one of %s", s, strings.Join(f.enum, ", "))
			return false
		}
		if f.pattern != nil && !f.pattern.MatchString(s) {
			d.errorf(p, ErrInvalid, "must be %s", f.patternText)
			return false
		}
	case tBool:
		if _, ok := v.(bool); !ok {
			return bad("true or false")
		}
	case tInt:
		switch n := v.(type) {
		case int, int32, int64:
		case float64:
			if n != float64(int64(n)) {
				return bad("an integer")
			}
		default:
			return bad("an integer")
		}
	case tStringMap:
		m, ok := v.(map[string]any)
		if !ok {
			return bad("an object of strings")
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if _, ok := m[k].(string); !ok {
				d.errorf(p+"."+k, ErrInvalid, "must be a string, not %s", describe(m[k]))
				return false
			}
		}
	case tStrings:
		l, ok := v.([]any)
		if !ok {
			return bad("a list of strings")
		}
		for i, e := range l {
			if _, ok := e.(string); !ok {
				d.errorf(fmt.Sprintf("%s[%d]", p, i), ErrInvalid, "must be a string, not %s", describe(e))
				return false
			}
		}
	case tObject, tFree:
		if _, ok := v.(map[string]any); !ok {
			return bad("an object")
		}
	case tObjects, tFreeList:
		l, ok := v.([]any)
		if !ok {
			return bad("a list of objects")
		}
		for i, e := range l {
			if _, ok := e.(map[string]any); !ok {
				d.errorf(fmt.Sprintf("%s[%d]", p, i), ErrInvalid, "must be an object, not %s", describe(e))
				return false
			}
		}
	}
	return true
}

// describe names the JSON type of v for error messages, with the value
// when it is a number or a boolean, so that `tag: 1.10` read as a number is
// recognisable. Strings are not quoted: one may hold a secret.
func describe(v any) string {
	switch t := v.(type) {
	case string:
		return "a string"
	case bool:
		return fmt.Sprintf("the boolean %t", t)
	case int, int32, int64, float64:
		return fmt.Sprintf("the number %v (quote it in YAML)", t)
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%T", v)
}

// isEmpty reports whether v is the zero value of its JSON type.
func isEmpty(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case string:
		return t == ""
	case bool:
		return !t
	case int:
		return t == 0
	case int64:
		return t == 0
	case float64:
		return t == 0
	case map[string]any:
		return len(t) == 0
	case []any:
		return len(t) == 0
	}
	return false
}

// reader reads the validated values of an object, recording which mapped
// values it read. Missing values read as zero values.
type reader struct {
	m    map[string]any
	path string
	read map[string]bool
}

func (r reader) at(name string) string { return r.path + "." + name }

func (r reader) mark(name string) any {
	r.read[r.at(name)] = true
	return r.m[name]
}

// has reports whether the field is set (and not null).
func (r reader) has(name string) bool { return r.m[name] != nil }

func (r reader) obj(name string) reader {
	m, _ := r.m[name].(map[string]any)
	return reader{m: m, path: r.at(name), read: r.read}
}

func (r reader) list(name string) []reader {
	l, _ := r.m[name].([]any)
	out := make([]reader, len(l))
	for i, e := range l {
		m, _ := e.(map[string]any)
		out[i] = reader{m: m, path: fmt.Sprintf("%s[%d]", r.at(name), i), read: r.read}
	}
	return out
}

func (r reader) str(name string) string {
	s, _ := r.mark(name).(string)
	return s
}

// optStr returns a string field that may be set to "", nil when not set.
func (r reader) optStr(name string) *string {
	if !r.has(name) {
		return nil
	}
	s := r.str(name)
	return &s
}

func (r reader) boolean(name string) bool {
	b, _ := r.mark(name).(bool)
	return b
}

// duration returns the duration, or def when the field is not set.
func (r reader) duration(name string, def time.Duration) time.Duration {
	s, _ := r.mark(name).(string)
	if s == "" {
		return def
	}
	d, _ := time.ParseDuration(s) // checked by the walk
	return d
}

func (r reader) strMap(name string) map[string]string {
	m, _ := r.mark(name).(map[string]any)
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k], _ = v.(string)
	}
	return out
}

func (r reader) strs(name string) []string {
	l, _ := r.mark(name).([]any)
	if l == nil {
		return nil
	}
	out := make([]string, len(l))
	for i, v := range l {
		out[i], _ = v.(string)
	}
	return out
}

// free returns an object value as it is (deep-copied, so the caller may
// change it).
func (r reader) free(name string) map[string]any {
	m, _ := r.mark(name).(map[string]any)
	if m == nil {
		return nil
	}
	return deepCopy(m).(map[string]any)
}

func (r reader) freeList(name string) []map[string]any {
	l, _ := r.mark(name).([]any)
	out := make([]map[string]any, len(l))
	for i, e := range l {
		out[i] = deepCopy(e).(map[string]any)
	}
	return out
}

// raw returns any value as it is, deep-copied.
func (r reader) raw(name string) any { return deepCopy(r.mark(name)) }

func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}

// orDefault returns s, or def when s is empty.
func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
