package apply

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/value"
)

// IgnoreRule names fields of existing objects that gitsync leaves to
// whoever else writes them (an autoscaler's spec.replicas, an annotation
// an operator stamps): Flux's ignore rules (a Kustomization's spec.ignore,
// a HelmRelease's spec.driftDetection.ignore).
//
// When Apply sends an object that exists and that a rule selects, it
// leaves out of the apply every field under the rule's paths that gitsync
// does not own any more (its Apply entry in metadata.managedFields lacks
// it): someone else took it, and force would take it back. Fields under
// the paths that gitsync still owns are sent as rendered, so that a
// change in Git still reaches them and, above all, so that the apply never
// deletes them (server-side apply removes a field its only owner stops
// sending). Once another manager took such a field, gitsync's fingerprint
// of the object no longer covers it, so their later writes are no drift.
//
// A new object is created with all of its fields, as Flux does. Paths
// that point at nothing in the rendered object change nothing.
type IgnoreRule struct {
	// Paths are JSON pointers (RFC 6901) into the object, such as
	// "/spec/replicas" or "/metadata/annotations/example.com~1hash". A
	// list element is named by its index in the rendered list. Required.
	Paths []string
	// Target selects the objects the rule applies to. Default nil: every
	// object of the Apply.
	Target *IgnoreTarget
}

// IgnoreTarget selects objects: an object must match every field that is
// set, as a Flux (kustomize) selector.
type IgnoreTarget struct {
	// Group, Version, Kind, Name and Namespace are regular expressions
	// that must match the whole value (they are anchored, as in Flux).
	Group, Version, Kind, Name, Namespace string
	// LabelSelector and AnnotationSelector are label selector
	// expressions ("app=web,tier!=db") over labels and annotations.
	LabelSelector, AnnotationSelector string
}

// IgnoreRuleError is one problem of an IgnoreRule. Field names it relative
// to the rule: "paths[1]", "target.kind".
type IgnoreRuleError struct {
	Field, Msg string
}

func (e *IgnoreRuleError) Error() string { return e.Field + ": " + e.Msg }

// Check returns the problems of r: no paths, a path that is not a JSON
// pointer, an expression that does not compile.
func (r IgnoreRule) Check() []*IgnoreRuleError {
	_, errs := compileRule(r)
	return errs
}

// ignoreRule is an IgnoreRule ready to match.
type ignoreRule struct {
	pointers                              [][]string
	group, version, kind, name, namespace *regexp.Regexp // nil matches anything
	labels, annotations                   labels.Selector
}

// compileIgnore compiles rules, or says what is wrong with the first rule
// that does not compile.
func compileIgnore(rules []IgnoreRule) ([]ignoreRule, error) {
	out := make([]ignoreRule, 0, len(rules))
	for i, r := range rules {
		c, errs := compileRule(r)
		if len(errs) > 0 {
			return nil, fmt.Errorf("ignore rule %d: %w", i, errs[0])
		}
		out = append(out, c)
	}
	return out, nil
}

func compileRule(r IgnoreRule) (ignoreRule, []*IgnoreRuleError) {
	var c ignoreRule
	var errs []*IgnoreRuleError
	if len(r.Paths) == 0 {
		errs = append(errs, &IgnoreRuleError{Field: "paths", Msg: "at least one path is required"})
	}
	for i, p := range r.Paths {
		tokens, err := ParsePointer(p)
		if err != nil {
			errs = append(errs, &IgnoreRuleError{Field: fmt.Sprintf("paths[%d]", i), Msg: err.Error()})
			continue
		}
		c.pointers = append(c.pointers, tokens)
	}
	if t := r.Target; t != nil {
		for _, f := range []struct {
			name, expr string
			re         **regexp.Regexp
		}{
			{"group", t.Group, &c.group}, {"version", t.Version, &c.version}, {"kind", t.Kind, &c.kind},
			{"name", t.Name, &c.name}, {"namespace", t.Namespace, &c.namespace},
		} {
			if f.expr == "" {
				continue
			}
			re, err := regexp.Compile("^(?:" + f.expr + ")$")
			if err != nil {
				errs = append(errs, &IgnoreRuleError{Field: "target." + f.name, Msg: "not a regular expression: " + err.Error()})
				continue
			}
			*f.re = re
		}
		for _, f := range []struct {
			name, expr string
			sel        *labels.Selector
		}{
			{"labelSelector", t.LabelSelector, &c.labels}, {"annotationSelector", t.AnnotationSelector, &c.annotations},
		} {
			if f.expr == "" {
				continue
			}
			sel, err := labels.Parse(f.expr)
			if err != nil {
				errs = append(errs, &IgnoreRuleError{Field: "target." + f.name, Msg: err.Error()})
				continue
			}
			*f.sel = sel
		}
	}
	return c, errs
}

// ParsePointer splits a JSON pointer (RFC 6901) into its unescaped
// reference tokens. The empty pointer (the whole object) is refused: a
// rule that ignores a whole object is an opt-out, which
// AnnotationReconcile says better.
func ParsePointer(p string) ([]string, error) {
	if p == "" {
		return nil, fmt.Errorf("%q: the empty pointer names the whole object", p)
	}
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("%q is not a JSON pointer: it must start with /", p)
	}
	tokens := strings.Split(p[1:], "/")
	for i, t := range tokens {
		for j := 0; j < len(t); j++ {
			if t[j] == '~' && (j+1 == len(t) || (t[j+1] != '0' && t[j+1] != '1')) {
				return nil, fmt.Errorf("%q is not a JSON pointer: ~ must be followed by 0 or 1", p)
			}
		}
		tokens[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return tokens, nil
}

// selects tells whether the rule applies to the object of kind gvk with
// m's name, labels and annotations, whose namespace (as resolved: none for
// a cluster-scoped object) is namespace.
func (r *ignoreRule) selects(gvk schema.GroupVersionKind, m metav1.Object, namespace string) bool {
	for _, x := range []struct {
		re *regexp.Regexp
		s  string
	}{{r.group, gvk.Group}, {r.version, gvk.Version}, {r.kind, gvk.Kind}, {r.name, m.GetName()}, {r.namespace, namespace}} {
		if x.re != nil && !x.re.MatchString(x.s) {
			return false
		}
	}
	if r.labels != nil && !r.labels.Matches(labels.Set(m.GetLabels())) {
		return false
	}
	if r.annotations != nil && !r.annotations.Matches(labels.Set(m.GetAnnotations())) {
		return false
	}
	return true
}

// ignoredPointers returns the pointers of the rules that select the
// object (see selects).
func ignoredPointers(rules []ignoreRule, gvk schema.GroupVersionKind, m metav1.Object, namespace string) [][]string {
	var out [][]string
	for i := range rules {
		if rules[i].selects(gvk, m, namespace) {
			out = append(out, rules[i].pointers...)
		}
	}
	return out
}

// fieldsWithout returns the canonical JSON of the FieldsV1 set raw without
// the paths under pointers, for the fingerprint (stateOfIgnoring). A
// pointer's map keys are field names; an index names a list element only
// in a list the set keys by index: an element of a list keyed by its
// fields (containers by name) cannot be told from the set alone, so such a
// pointer leaves nothing out, and a change of its field counts as drift
// (once: the apply that corrects it leaves the field out when another
// writer took it). Raw bytes that do not parse are returned as they are.
func fieldsWithout(raw []byte, pointers [][]string) []byte {
	var set fieldpath.Set
	if err := set.FromJSON(bytes.NewReader(raw)); err != nil {
		return raw
	}
	var prefixes []fieldpath.Path
	for _, p := range pointers {
		if prefix, ok := setPath(&set, p); ok {
			prefixes = append(prefixes, prefix)
		}
	}
	out := &set
	if len(prefixes) > 0 {
		out = &fieldpath.Set{}
		set.Iterate(func(p fieldpath.Path) {
			for _, prefix := range prefixes {
				if hasPrefix(p, prefix) {
					return
				}
			}
			out.Insert(p.Copy())
		})
	}
	b, err := out.ToJSON()
	if err != nil {
		return raw
	}
	return b
}

// setPath returns the path of set that pointer names, or false when an
// index in it cannot be mapped (see fieldsWithout).
func setPath(set *fieldpath.Set, pointer []string) (fieldpath.Path, bool) {
	var path fieldpath.Path
	node := set
	for _, tok := range pointer {
		pe := fieldpath.FieldNameElement(tok)
		if i, err := strconv.Atoi(tok); err == nil && strconv.Itoa(i) == tok && !hasChild(node, pe) {
			pe = fieldpath.IndexElement(i)
			if !hasChild(node, pe) {
				return nil, false
			}
		}
		path = append(path, pe)
		if sub, ok := node.Children.Get(pe); ok {
			node = sub
		} else {
			node = &fieldpath.Set{}
		}
	}
	return path, true
}

func hasChild(s *fieldpath.Set, pe fieldpath.PathElement) bool {
	_, ok := s.Children.Get(pe)
	return ok || s.Members.Has(pe)
}

// hasPrefix tells whether p starts with prefix.
func hasPrefix(p, prefix fieldpath.Path) bool {
	if len(p) < len(prefix) {
		return false
	}
	for i := range prefix {
		if !p[i].Equals(prefix[i]) {
			return false
		}
	}
	return true
}

// leaveIgnored returns body (the JSON the engine would send) without the
// fields under pointers that manager's Apply entry in live's managedFields
// does not hold; see IgnoreRule. The keys of keep, gitsync's own labels,
// always stay. When nothing is left out, body is returned as it is.
func leaveIgnored(body []byte, live []metav1.ManagedFieldsEntry, manager string, pointers [][]string, keep map[string]string) ([]byte, error) {
	owned := &fieldpath.Set{}
	if e := applyEntry(live, manager); e != nil && e.FieldsV1 != nil {
		if err := owned.FromJSON(bytes.NewReader(e.FieldsV1.GetRawBytes())); err != nil {
			return nil, fmt.Errorf("reading gitsync's managed fields: %w", err)
		}
	}
	var obj map[string]any
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, err
	}
	changed := false
	for _, p := range pointers {
		v, _, c := leave(obj, false, owned, p)
		obj, changed = v.(map[string]any), changed || c
	}
	if !changed {
		return body, nil
	}
	if len(keep) > 0 {
		md, _ := obj["metadata"].(map[string]any)
		if md == nil {
			md = map[string]any{}
			obj["metadata"] = md
		}
		l, _ := md["labels"].(map[string]any)
		if l == nil {
			l = map[string]any{}
			md["labels"] = l
		}
		for k, v := range keep {
			l[k] = v
		}
	}
	return json.Marshal(obj)
}

// leave gives up what ptr points to inside v, except the fields gitsync
// owns. member tells whether gitsync's field set has v's own path, owned
// holds its paths below v. It returns the new v, whether v stays at all,
// and whether anything changed.
func leave(v any, member bool, owned *fieldpath.Set, ptr []string) (any, bool, bool) {
	if len(ptr) == 0 {
		return prune(v, member, owned)
	}
	if member && owned.Empty() {
		return v, true, false // gitsync owns v as a whole (an atomic map or list)
	}
	switch c := v.(type) {
	case map[string]any:
		cv, ok := c[ptr[0]]
		if !ok {
			return v, true, false
		}
		m, s := child(owned, fieldpath.FieldNameElement(ptr[0]))
		nv, stays, changed := leave(cv, m, s, ptr[1:])
		if !changed {
			return v, true, false
		}
		if stays {
			c[ptr[0]] = nv
		} else {
			delete(c, ptr[0])
		}
		return c, len(c) > 0 || member, true
	case []any:
		i, err := strconv.Atoi(ptr[0])
		if err != nil || i < 0 || i >= len(c) || strconv.Itoa(i) != ptr[0] {
			return v, true, false // no such element ("-" included)
		}
		m, s, known := element(owned, c[i], i)
		if !known {
			return v, true, false // cannot tell what gitsync owns there: leave nothing out
		}
		nv, stays, changed := leave(c[i], m, s, ptr[1:])
		if !changed {
			return v, true, false
		}
		out := append([]any(nil), c[:i]...)
		if stays {
			out = append(out, nv)
		}
		out = append(out, c[i+1:]...)
		return out, len(out) > 0 || member, true
	}
	return v, true, false // the pointer goes through a scalar: it names nothing
}

// prune keeps of v only what gitsync owns (member: v's own path; owned:
// the paths below it), as leave does for the value a pointer names.
func prune(v any, member bool, owned *fieldpath.Set) (any, bool, bool) {
	if owned.Empty() {
		return v, member, !member // a leaf, or a value gitsync owns nothing below
	}
	switch c := v.(type) {
	case map[string]any:
		changed := false
		for k, cv := range c {
			m, s := child(owned, fieldpath.FieldNameElement(k))
			nv, stays, ch := prune(cv, m, s)
			switch {
			case !stays:
				delete(c, k)
			case ch:
				c[k] = nv
			}
			changed = changed || ch
		}
		return c, len(c) > 0 || member, changed
	case []any:
		var out []any
		changed := false
		for i, e := range c {
			m, s, known := element(owned, e, i)
			if !known {
				out = append(out, e)
				continue
			}
			nv, stays, ch := prune(e, m, s)
			if stays {
				out = append(out, nv)
			}
			changed = changed || ch
		}
		if !changed {
			return v, true, false
		}
		return out, len(out) > 0 || member, true
	}
	return v, true, false // a scalar with paths below it: keep it
}

// child returns whether owned has pe itself, and its paths below pe.
func child(owned *fieldpath.Set, pe fieldpath.PathElement) (bool, *fieldpath.Set) {
	member := owned.Members.Has(pe)
	sub, ok := owned.Children.Get(pe)
	if !ok {
		sub = &fieldpath.Set{}
	}
	return member, sub
}

// element finds the path element of list item e (at index i) among
// owned's. known is false when some key of owned cannot be compared with
// e (a key field e does not set, which the server may default), so that
// whether gitsync owns part of e cannot be told; an element that matches
// none of owned's keys is owned by gitsync in no part.
func element(owned *fieldpath.Set, e any, i int) (member bool, sub *fieldpath.Set, known bool) {
	var found *fieldpath.PathElement
	ambiguous := false
	check := func(pe fieldpath.PathElement) {
		if found != nil {
			return
		}
		switch {
		case pe.Index != nil:
			if *pe.Index == i {
				found = &pe
			}
		case pe.Value != nil:
			if value.Equals(*pe.Value, value.NewValueInterface(normalizeNumbers(e))) {
				found = &pe
			}
		case pe.Key != nil:
			m, ok := e.(map[string]any)
			if !ok {
				ambiguous = true
				return
			}
			for _, f := range *pe.Key {
				fv, ok := m[f.Name]
				if !ok {
					ambiguous = true
					return
				}
				if !value.Equals(f.Value, value.NewValueInterface(normalizeNumbers(fv))) {
					return
				}
			}
			found = &pe
		}
	}
	owned.Members.Iterate(check)
	owned.Children.Iterate(check)
	if found != nil {
		m, s := child(owned, *found)
		return m, s, true
	}
	return false, &fieldpath.Set{}, !ambiguous
}

// normalizeNumbers turns the whole float64s encoding/json decodes into
// int64s, as the API server's field sets hold them.
func normalizeNumbers(v any) any {
	switch t := v.(type) {
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1<<53 {
			return int64(t)
		}
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = normalizeNumbers(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = normalizeNumbers(e)
		}
		return out
	}
	return v
}
