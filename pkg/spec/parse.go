package spec

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	yaml3 "go.yaml.in/yaml/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Parse reads one Sync document: it decodes strictly, applies Default and
// runs Validate. Every problem found is reported at once, as a
// k8s.io/apimachinery/pkg/util/errors.Aggregate of *field.Error (use
// errors.As to reach it); only YAML syntax errors, a document count other
// than one and a document that is not a mapping are reported alone.
//
// Unknown fields and fields of the wrong type are errors named by their path
// (spec.source.git.reff: Forbidden: unknown field). A document whose
// apiVersion or kind is not a Sync's is reported with only that error, since
// every other field would be noise.
//
// YAML is read with the YAML 1.2 core schema (yes and on are strings, only
// true and false are booleans), and unquoted numbers and dates are kept as
// the text written: no Sync field is numeric, so tag: 1.10 means "1.10".
func Parse(data []byte) (*Sync, error) {
	j, err := documentJSON(data)
	if err != nil {
		return nil, err
	}

	// A document that is not a Sync at all would otherwise drown the one
	// useful error in unknown-field errors.
	var tm metav1.TypeMeta
	if err := json.Unmarshal(j, &tm); err == nil {
		if errs := validateTypeMeta(tm); len(errs) > 0 {
			return nil, errs.ToAggregate()
		}
	}

	var s Sync
	strictErrs, err := kjson.UnmarshalStrict(j, &s)
	if err != nil {
		// The decoder names only the first mistyped field, and without list
		// indices; typeErrors names them all, exactly.
		if errs := typeErrors(j); len(errs) > 0 {
			return nil, errs.ToAggregate()
		}
		return nil, fmt.Errorf("decode Sync: %w", err)
	}
	var errs field.ErrorList
	for _, e := range strictErrs {
		errs = append(errs, strictError(e))
	}
	s.Default()
	errs = append(errs, s.Validate()...)
	if len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	return &s, nil
}

// documentJSON converts the single YAML document in data to JSON.
func documentJSON(data []byte) ([]byte, error) {
	dec := yaml3.NewDecoder(bytes.NewReader(data))
	var doc *yaml3.Node
	n := 0
	for {
		var node yaml3.Node
		err := dec.Decode(&node)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("parse YAML: %w", err)
		}
		if isEmptyDocument(&node) {
			// A leading or trailing "---" is not a second document.
			continue
		}
		n++
		doc = &node
	}
	switch {
	case n == 0:
		return nil, errors.New("no Sync document: the input is empty")
	case n > 1:
		return nil, fmt.Errorf("%d YAML documents: a Sync spec is exactly one document", n)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml3.MappingNode {
		return nil, errors.New("a Sync document must be a YAML mapping")
	}
	keepScalarsAsTextOutsideValues(doc)
	var v map[string]any
	if err := doc.Decode(&v); err != nil {
		return nil, fmt.Errorf("parse YAML: %w", err)
	}
	j, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("parse YAML: %w", err)
	}
	return j, nil
}

// isEmptyDocument reports whether a decoded document holds nothing but null.
func isEmptyDocument(doc *yaml3.Node) bool {
	if len(doc.Content) == 0 {
		return true
	}
	c := doc.Content[0]
	return c.Kind == yaml3.ScalarNode && c.ShortTag() == "!!null"
}

// keepScalarsAsText retags, in place, every mapping key and every unquoted
// number or timestamp as a string, so that decoding keeps the text written
// (1.10 stays "1.10", 2024-01-01 stays "2024-01-01") instead of a converted
// value that no string field could hold faithfully.
func keepScalarsAsText(n *yaml3.Node) {
	switch n.Kind {
	case yaml3.ScalarNode:
		switch n.ShortTag() {
		case "!!int", "!!float", "!!timestamp":
			n.Tag = "!!str"
		}
	case yaml3.MappingNode:
		for i, c := range n.Content {
			if i%2 == 0 && c.Kind == yaml3.ScalarNode && c.ShortTag() != "!!merge" {
				c.Tag = "!!str"
				continue
			}
			keepScalarsAsText(c)
		}
	case yaml3.DocumentNode, yaml3.SequenceNode:
		for _, c := range n.Content {
			keepScalarsAsText(c)
		}
	}
}

// strictError turns a strict decoding error of sigs.k8s.io/json (an unknown
// or duplicate field) into a field error at the field's path.
func strictError(err error) *field.Error {
	var fe kjson.FieldError
	if !errors.As(err, &fe) {
		return field.InternalError(nil, err)
	}
	p := fe.FieldPath()
	// The path is already rendered (spec.patches[0].foo); a root-only
	// field.Path prints it unchanged.
	path := field.NewPath(p)
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "duplicate field"):
		return field.Forbidden(path, "duplicate field")
	default:
		return field.Forbidden(path, "unknown field"+unknownFieldHint(p))
	}
}

// Validate checks everything Parse checks after decoding and returns every
// problem with its field path. Fields that are empty but have a default are
// not errors, so a Sync built in Go validates the same before and after
// Default.
func (s *Sync) Validate() field.ErrorList {
	errs := validateTypeMeta(s.TypeMeta)
	errs = append(errs, validateObjectMeta(&s.ObjectMeta, field.NewPath("metadata"))...)
	errs = append(errs, s.Spec.validate(field.NewPath("spec"))...)
	errs = append(errs, s.validateDependsOn()...)
	return errs
}

// Default fills in every unset field that has a default and normalises
// Path, so that specs which mean the same thing are equal (and have equal
// digests). It never touches apiVersion and kind: a document without them
// is not a Sync.
func (s *Sync) Default() {
	s.Spec.setDefaults()
}

// Marshal returns the canonical YAML of s with defaults applied (s itself is
// not changed): keys sorted, durations in canonical form. It is what the
// plugin writes to the spec ConfigMap. Marshal does not validate.
func (s *Sync) Marshal() ([]byte, error) {
	c, err := s.deepCopy()
	if err != nil {
		return nil, err
	}
	c.Default()
	b, err := yaml.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("Sync %s: marshal: %w", s.Name, err)
	}
	return b, nil
}

// Digest returns "sha256:" and the hex SHA-256 of the canonical JSON of the
// spec with defaults applied. Specs that differ only in formatting, key
// order, defaulted fields or the spelling of durations have equal digests;
// a run compares it with the digest it recorded to know the spec is
// unchanged. Metadata is not part of the digest.
func (s *Sync) Digest() string {
	c, err := s.deepCopy()
	if err != nil {
		// Only a Duration holding invalid JSON text could get here, and
		// UnmarshalJSON never stores such text.
		panic(fmt.Sprintf("spec: digest of Sync %s: %v", s.Name, err))
	}
	c.Default()
	// Who is told and where metrics go do not change what is rendered.
	c.Spec.Notify, c.Spec.Metrics = nil, nil
	// Nor does the order of syncs.
	c.Spec.DependsOn = nil
	b, err := json.Marshal(c.Spec)
	if err != nil {
		panic(fmt.Sprintf("spec: digest of Sync %s: %v", s.Name, err))
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// deepCopy copies s through JSON, which every field survives.
func (s *Sync) deepCopy() (*Sync, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("Sync %s: copy: %w", s.Name, err)
	}
	var c Sync
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("Sync %s: copy: %w", s.Name, err)
	}
	return &c, nil
}
