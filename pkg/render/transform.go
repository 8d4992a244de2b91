package render

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	kustypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/resid"
	kyutils "sigs.k8s.io/kustomize/kyaml/utils"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
)

// This file holds kustomize's namespace, name prefix and suffix and image
// transformers, rewritten for decoded objects (map[string]any), so that the
// linear path does not pay for kustomize's YAML node trees. Each follows
// the kustomize code it names, step by step, with kustomize's field specs
// (kustconfig.go); where kustomize's result would depend on how a value was
// written in YAML rather than on the value (the text of a number, the
// quoting of a string that reads as a number), the transformer returns an
// error wrapping errLinear and the tree is built by kustomize.

// errNotLinear reports a value the linear path cannot reproduce exactly.
func errNotLinear(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errLinear, fmt.Sprintf(format, args...))
}

// fieldSpec is a field spec ready for traversal: its path split the way
// kustomize splits it (an escaped slash stays in the name).
type fieldSpec struct {
	kustypes.FieldSpec
	path []string
}

func newFieldSpecs(fss kustypes.FsSlice) []fieldSpec {
	out := make([]fieldSpec, len(fss))
	for i, fs := range fss {
		out[i] = fieldSpec{FieldSpec: fs, path: kyutils.PathSplitter(fs.Path, "/")}
	}
	return out
}

// setFunc sets the value found at the end of a field spec's path: v is the
// current value (nil for null), put stores a new one.
type setFunc func(v any, put func(any)) error

// walkSpec is kustomize's field-spec traversal (filters/fieldspec) over a
// decoded object: the spec applies only if its group, version and kind
// match the object; a list is entered element by element; a missing field
// ends the walk unless the spec creates it (createKind set and the spec's
// create flag); a null field that the walk expects to be a list (a
// "name[]" segment) or creates is replaced with an empty one.
func walkSpec(obj map[string]any, fs *fieldSpec, createKind kyaml.Kind, set setFunc) error {
	if !matchesGVK(&fs.FieldSpec, obj) {
		return nil
	}
	if err := walkPath(obj, func(any) {}, fs.path, fs.CreateIfNotPresent, createKind, set); err != nil {
		return fmt.Errorf("field %s: %w", fs.Path, err)
	}
	return nil
}

func walkPath(v any, put func(any), path []string, create bool, createKind kyaml.Kind, set setFunc) error {
	if len(path) == 0 {
		return set(v, put)
	}
	switch t := v.(type) {
	case nil:
		return nil
	case []any:
		for i := range t {
			if err := walkPath(t[i], func(n any) { t[i] = n }, path, create, createKind, set); err != nil {
				return err
			}
		}
		return nil
	case map[string]any:
		name, isSeq := strings.CutSuffix(path[0], "[]")
		if name == "" {
			return errors.New("cannot set or create an empty field name")
		}
		var kind kyaml.Kind
		lookupOnly := !create || createKind == 0 || isSeq
		switch {
		case lookupOnly:
			if isSeq {
				kind = kyaml.SequenceNode
			}
		case len(path) <= 1:
			kind = createKind
		default:
			kind = kyaml.MappingNode
		}
		field, ok := t[name]
		switch {
		case !ok && lookupOnly:
			return nil
		case !ok || field == nil && kind != 0:
			// Created, or a null turned into the kind the walk
			// expects. A scalar is set right after.
			switch kind {
			case kyaml.MappingNode:
				field = map[string]any{}
			case kyaml.SequenceNode:
				field = []any{}
			default:
				field = nil
			}
			t[name] = field
		}
		return walkPath(field, func(n any) { t[name] = n }, path[1:], create, createKind, set)
	}
	return errors.New("expected sequence or mapping node")
}

// matchesGVK is kustomize's check of a field spec's group, version and
// kind against an object's.
func matchesGVK(fs *kustypes.FieldSpec, obj map[string]any) bool {
	kind, _ := obj["kind"].(string)
	if fs.Kind != "" && fs.Kind != kind {
		return false
	}
	av, _ := obj["apiVersion"].(string)
	group, version := resid.ParseGroupVersion(av)
	if fs.Group != "" && fs.Group != group {
		return false
	}
	return fs.Version == "" || fs.Version == version
}

// plainScalar returns what a YAML scalar written as s without quotes
// decodes to, as kustomize writes names it computes (a new node without a
// tag, in the style of the node it replaces). ok is false when that is
// not the string s itself: then the result depends on the replaced node's
// quoting, which decoded objects do not keep.
func plainScalar(s string) bool {
	if s == "" {
		return false
	}
	switch s[0] {
	case '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '+', '-', '.', '~', '<',
		'n', 'N', 't', 'T', 'f', 'F', 'y', 'Y', 'o', 'O':
	default:
		return true
	}
	var v any
	if err := (&kyaml.Node{Kind: kyaml.ScalarNode, Value: s}).Decode(&v); err != nil {
		return false
	}
	got, ok := v.(string)
	return ok && got == s
}

// setComputedName stores a name kustomize computes (a prefixed name, a
// referral's name) where the old value was the string old.
func setComputedName(v any, put func(any), name string) error {
	if _, ok := v.(string); !ok {
		return errNotLinear("value %v is not a string", v)
	}
	if !plainScalar(name) {
		return errNotLinear("name %q does not read as a string in YAML", name)
	}
	put(name)
	return nil
}

// namespaceStep is kustomize's NamespaceTransformer with its defaults
// (filters/namespace; subjects of role bindings: only those named
// "default").
type namespaceStep struct {
	namespace string
	specs     []fieldSpec
	meta      []fieldSpec // metadata/namespace, created
}

func newNamespaceStep(ns string, fss kustypes.FsSlice) *namespaceStep {
	return &namespaceStep{
		namespace: ns,
		specs:     newFieldSpecs(fss),
		meta:      newFieldSpecs(kustypes.FsSlice{{Path: kustypes.MetadataNamespacePath, CreateIfNotPresent: true}}),
	}
}

// setNamespace is kustomize's SetEntry with the namespace as a string:
// any scalar or null is replaced.
func (s *namespaceStep) setNamespace(v any, put func(any)) error {
	switch v.(type) {
	case map[string]any, []any:
		return errors.New("namespace field specs must target scalar nodes")
	}
	put(s.namespace)
	return nil
}

func (s *namespaceStep) apply(o *linearObject, gvk resid.Gvk) error {
	obj := o.obj
	av, _ := obj["apiVersion"].(string)
	var specs []fieldSpec
	for _, fs := range s.specs {
		if fs.Path == kustypes.MetadataNamespacePath {
			continue
		}
		if av != kustypes.MetadataNamespaceApiVersion && fs.Path == kustypes.MetadataNamePath {
			continue
		}
		specs = append(specs, fs)
	}
	if !gvk.IsClusterScoped() {
		if err := walkSpec(obj, &s.meta[0], kyaml.ScalarNode, s.setNamespace); err != nil {
			return err
		}
	}
	if kind := gvk.Kind; kind == "RoleBinding" || kind == "ClusterRoleBinding" {
		kept := specs[:0:0]
		for _, fs := range specs {
			if (fs.Kind == "RoleBinding" || fs.Kind == "ClusterRoleBinding") && fs.Path == "subjects/namespace" {
				continue
			}
			kept = append(kept, fs)
		}
		specs = kept
		if err := s.defaultSubjects(obj); err != nil {
			return err
		}
	}
	for i := range specs {
		if err := walkSpec(obj, &specs[i], kyaml.ScalarNode, s.setNamespace); err != nil {
			return err
		}
	}
	return nil
}

// defaultSubjects sets the namespace of role binding subjects named
// "default", creating the field.
func (s *namespaceStep) defaultSubjects(obj map[string]any) error {
	subjects, ok := obj["subjects"]
	if !ok || subjects == nil {
		return nil
	}
	list, ok := subjects.([]any)
	if !ok {
		return errors.New("subjects is not a list")
	}
	for i, e := range list {
		if e == nil {
			continue
		}
		m, ok := e.(map[string]any)
		if !ok {
			return fmt.Errorf("subjects[%d] is not a mapping", i)
		}
		name, ok := m["name"]
		if !ok || name == nil {
			continue
		}
		str, ok := name.(string)
		if !ok {
			return errNotLinear("subjects[%d].name is not a string", i)
		}
		if str != "default" {
			continue
		}
		if err := s.setNamespace(m["namespace"], func(n any) { m["namespace"] = n }); err != nil {
			return err
		}
	}
	return nil
}

// affixStep is kustomize's PrefixTransformer or SuffixTransformer.
type affixStep struct {
	affix  string
	suffix bool
	specs  []fieldSpec
}

// affixSkip are the kinds kustomize never prefixes or suffixes.
var affixSkip = []resid.Gvk{
	{Kind: "CustomResourceDefinition"},
	{Group: "apiregistration.k8s.io", Kind: "APIService"},
	{Kind: "Namespace"},
}

func (s *affixStep) apply(o *linearObject, r *linearRun) error {
	org := r.orgID(o)
	for i := range affixSkip {
		if org.IsSelected(&affixSkip[i]) {
			return nil
		}
	}
	for i := range s.specs {
		fs := &s.specs[i]
		if !org.IsSelected(&fs.Gvk) {
			continue
		}
		if fs.Path == kustypes.MetadataNamePath {
			if s.suffix {
				o.suffixes = append(o.suffixes, s.affix)
			} else {
				o.prefixes = append(o.prefixes, s.affix)
			}
			if err := r.storePrevious(o); err != nil {
				return err
			}
		}
		err := walkSpec(o.obj, fs, kyaml.ScalarNode, func(v any, put func(any)) error {
			str, ok := v.(string)
			if !ok {
				return errNotLinear("%s is not a string", fs.Path)
			}
			if s.suffix {
				return setComputedName(v, put, str+s.affix)
			}
			return setComputedName(v, put, s.affix+str)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// imageStep is one entry of kustomize's images: its ImageTagTransformer
// runs the legacy filter (every containers and initContainers list at any
// depth) and then the field-spec filter, both skipping CRDs.
type imageStep struct {
	image   kustypes.Image
	pattern *regexp.Regexp // nil: the name matches nothing
	specs   []fieldSpec
}

func newImageStep(img kustypes.Image, fss kustypes.FsSlice) *imageStep {
	// kustomize builds this pattern from the name for every value.
	p, err := regexp.Compile("^" + img.Name + "(:[a-zA-Z0-9_.{}-]*)?(@[a-zA-Z0-9]+([.+_-][a-zA-Z0-9]+)*:[a-zA-Z0-9_.{}-]*)?$")
	if err != nil {
		p = nil
	}
	return &imageStep{image: img, pattern: p, specs: newFieldSpecs(fss)}
}

func (s *imageStep) apply(o *linearObject) error {
	if kind, _ := o.obj["kind"].(string); kind == "CustomResourceDefinition" {
		return nil
	}
	if err := s.legacy(o.obj); err != nil {
		return err
	}
	for i := range s.specs {
		if err := walkSpec(o.obj, &s.specs[i], 0, s.update); err != nil {
			return err
		}
	}
	return nil
}

// legacy walks the whole object for containers and initContainers lists.
func (s *imageStep) legacy(v any) error {
	switch t := v.(type) {
	case map[string]any:
		for key, e := range t {
			if err := s.legacy(e); err != nil {
				return err
			}
			if key != "containers" && key != "initContainers" {
				continue
			}
			list, ok := e.([]any)
			if !ok {
				continue
			}
			for i, c := range list {
				if c == nil {
					continue
				}
				m, ok := c.(map[string]any)
				if !ok {
					return fmt.Errorf("%s[%d] is not a mapping", key, i)
				}
				img, ok := m["image"]
				if !ok {
					continue
				}
				if err := s.update(img, func(n any) { m["image"] = n }); err != nil {
					return err
				}
			}
		}
	case []any:
		for _, e := range t {
			if err := s.legacy(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// nullTexts are the ways to write a YAML null; kustomize matches an image
// name against the text.
var nullTexts = []string{"", "~", "null", "Null", "NULL"}

// update is kustomize's imageTagUpdater.
func (s *imageStep) update(v any, put func(any)) error {
	switch v.(type) {
	case map[string]any, []any:
		return errors.New("image is not a scalar")
	case nil:
		for _, t := range nullTexts {
			if s.pattern != nil && s.pattern.MatchString(t) {
				return errNotLinear("image %q matches a null image", s.image.Name)
			}
		}
		return nil
	}
	value, ok := v.(string)
	if !ok {
		return errNotLinear("image %v is not a string", v)
	}
	if s.pattern == nil || !s.pattern.MatchString(value) {
		return nil
	}
	name, tag, digest := splitImage(value)
	img := s.image
	if img.NewName != "" {
		name = img.NewName
	}
	switch {
	case img.NewTag != "" && img.Digest != "":
		tag, digest = img.NewTag, img.Digest
	case img.NewTag != "":
		tag, digest = img.NewTag, ""
	case img.Digest != "":
		tag, digest = "", img.Digest
	case img.TagSuffix != "":
		tag, digest = tag+img.TagSuffix, ""
	}
	if tag != "" {
		name += ":" + tag
	}
	if digest != "" {
		name += "@" + digest
	}
	return setComputedName(v, put, name)
}

// splitImage is kustomize's split of an image reference into name, tag and
// digest (a colon after the first slash starts the tag).
func splitImage(ref string) (name, tag, digest string) {
	search := ref
	slash := strings.Index(ref, "/")
	if slash > 0 {
		search = ref[slash:]
	} else {
		slash = 0
	}
	id := strings.Index(search, "@")
	ic := strings.Index(search, ":")
	switch {
	case ic < 0 && id < 0:
		return ref, "", ""
	case id >= 0 && (id < ic || ic < 0):
		id += slash
		return ref[:id], "", strings.TrimPrefix(ref[id:], "@")
	case id >= 0 && ic >= 0:
		id += slash
		ic += slash
		return ref[:ic], strings.TrimPrefix(ref[ic:id], ":"), strings.TrimPrefix(ref[id:], "@")
	}
	ic += slash
	return ref[:ic], strings.TrimPrefix(ref[ic:], ":"), ""
}
