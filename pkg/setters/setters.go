// Package setters updates image references in YAML files at Flux's
// setter markers, as Flux's image-automation-controller does:
//
//	image: ghcr.io/org/app:1.0.0 # {"$imagepolicy": "NAMESPACE:POLICY"}
//	tag: 1.0.0                   # {"$imagepolicy": "NAMESPACE:POLICY:tag"}
//	repository: ghcr.io/org/app  # {"$imagepolicy": "NAMESPACE:POLICY:name"}
//	digest: sha256:...           # {"$imagepolicy": "NAMESPACE:POLICY:digest"}
//
// Only the marked scalars change: the bytes of every file are kept except
// the marked value itself, so formatting, comments and key order survive.
// A value keeps its quoting style; a plain value that would no longer
// read as a string (a tag "1.10") is double-quoted.
package setters

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// MarkerKey is the JSON key of a setter marker.
const MarkerKey = "$imagepolicy"

// Fields a marker can name after NAMESPACE:POLICY; "" is the whole image
// reference.
const (
	FieldImage  = ""
	FieldTag    = "tag"
	FieldName   = "name"
	FieldDigest = "digest"
)

// Image is what a policy resolved to.
type Image struct {
	// Name is the repository, e.g. "ghcr.io/org/app".
	Name string
	// Tag is the chosen tag.
	Tag string
	// Digest is the tag's manifest digest when the policy reflects it,
	// else "".
	Digest string
}

// Ref is the whole image reference: NAME:TAG, with @DIGEST when known.
func (i Image) Ref() string {
	return i.Name + ":" + i.tagDigest()
}

func (i Image) tagDigest() string {
	if i.Digest != "" {
		return i.Tag + "@" + i.Digest
	}
	return i.Tag
}

// Value returns the part of i a marker's field stands for.
func (i Image) Value(field string) string {
	switch field {
	case FieldTag:
		return i.tagDigest()
	case FieldName:
		return i.Name
	case FieldDigest:
		return i.Digest
	}
	return i.Ref()
}

// Marker is one marked scalar.
type Marker struct {
	// File is the slash-separated path of the file, as given.
	File string
	// Line is the 1-based line of the value.
	Line int
	// Policy is "NAMESPACE:POLICY".
	Policy string
	// Field is FieldImage, FieldTag, FieldName or FieldDigest.
	Field string
	// Value is the value in the file.
	Value string
}

// Location is FILE:LINE.
func (m Marker) Location() string { return fmt.Sprintf("%s:%d", m.File, m.Line) }

// Change is a marker whose value was replaced by New.
type Change struct {
	Marker
	New string
}

// Set rewrites the markers in data, the YAML file named file, whose policy
// images holds ("NAMESPACE:POLICY" → Image). It returns the new content,
// every marker found (also those of policies images lacks: they belong to
// another automation and stay as they are) and the changes made. A
// malformed marker or a marked value that cannot be rewritten in place is
// an error naming FILE:LINE.
func Set(file string, data []byte, images map[string]Image) (out []byte, markers []Marker, changes []Change, err error) {
	if !bytes.Contains(data, []byte(MarkerKey)) {
		return data, nil, nil, nil
	}
	type edit struct {
		start, end int
		text       string
	}
	var edits []edit
	lines := lineStarts(data)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, nil, nil, fmt.Errorf("%s: %w", file, err)
		}
		var walkErr error
		walk(&doc, func(n *yaml.Node) {
			if walkErr != nil || !strings.Contains(n.LineComment, MarkerKey) {
				return
			}
			m, ok, err := parseMarker(n.LineComment)
			if err != nil {
				walkErr = fmt.Errorf("%s:%d: %w", file, n.Line, err)
				return
			}
			if !ok {
				return
			}
			if n.Kind != yaml.ScalarNode {
				walkErr = fmt.Errorf("%s:%d: marker %s is not on a scalar value", file, n.Line, m.Policy)
				return
			}
			m.File, m.Line, m.Value = file, n.Line, n.Value
			markers = append(markers, m)
			img, ok := images[m.Policy]
			if !ok {
				return
			}
			nv := img.Value(m.Field)
			if nv == "" {
				walkErr = fmt.Errorf("%s:%d: policy %s has no %s to set", file, n.Line, m.Policy, fieldName(m.Field))
				return
			}
			if nv == n.Value {
				return
			}
			start, end, err := span(data, lines, n)
			if err != nil {
				walkErr = fmt.Errorf("%s:%d: %w", file, n.Line, err)
				return
			}
			edits = append(edits, edit{start, end, render(n.Style, nv)})
			changes = append(changes, Change{Marker: m, New: nv})
		})
		if walkErr != nil {
			return nil, nil, nil, walkErr
		}
	}
	if len(edits) == 0 {
		return data, markers, nil, nil
	}
	var buf bytes.Buffer
	last := 0
	for _, e := range edits { // in document order: the walk follows the file
		if e.start < last {
			return nil, nil, nil, fmt.Errorf("%s: overlapping markers", file)
		}
		buf.Write(data[last:e.start])
		buf.WriteString(e.text)
		last = e.end
	}
	buf.Write(data[last:])
	return buf.Bytes(), markers, changes, nil
}

func fieldName(f string) string {
	if f == FieldImage {
		return "image"
	}
	return f
}

func walk(n *yaml.Node, f func(*yaml.Node)) {
	f(n)
	for _, c := range n.Content {
		walk(c, f)
	}
}

// parseMarker reads a line comment. ok is false for a comment that only
// mentions the key in prose.
func parseMarker(comment string) (m Marker, ok bool, err error) {
	s := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(comment), "#"))
	if !strings.HasPrefix(s, "{") {
		return Marker{}, false, nil
	}
	var obj map[string]string
	if err := json.Unmarshal([]byte(s), &obj); err != nil {
		return Marker{}, false, fmt.Errorf("setter marker %s is not valid JSON: %w", s, err)
	}
	ref, found := obj[MarkerKey]
	if !found {
		return Marker{}, false, nil
	}
	parts := strings.Split(ref, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return Marker{}, false, fmt.Errorf("setter marker %q: want NAMESPACE:POLICY or NAMESPACE:POLICY:tag|name|digest", ref)
	}
	m.Policy = parts[0] + ":" + parts[1]
	if len(parts) == 3 {
		switch parts[2] {
		case FieldTag, FieldName, FieldDigest:
			m.Field = parts[2]
		default:
			return Marker{}, false, fmt.Errorf("setter marker %q: field %q is not tag, name or digest", ref, parts[2])
		}
	}
	return m, true, nil
}

func lineStarts(data []byte) []int {
	starts := []int{0}
	for i, b := range data {
		if b == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

// span returns the byte range of n's value in data, quotes included, after
// checking that the bytes there are the value: a value the file spells
// differently (escapes, line folding) is refused rather than guessed at.
func span(data []byte, lines []int, n *yaml.Node) (int, int, error) {
	if n.Line < 1 || n.Line > len(lines) {
		return 0, 0, errors.New("marked value out of range")
	}
	start := lines[n.Line-1]
	// Column counts characters, not bytes.
	for c := 1; c < n.Column && start < len(data); c++ {
		_, size := utf8.DecodeRune(data[start:])
		start += size
	}
	var open, close string
	switch n.Style {
	case 0, yaml.TaggedStyle:
		if n.Style == yaml.TaggedStyle {
			return 0, 0, errors.New("a tagged marked value cannot be rewritten in place")
		}
	case yaml.DoubleQuotedStyle:
		open, close = `"`, `"`
	case yaml.SingleQuotedStyle:
		open, close = `'`, `'`
	default:
		return 0, 0, errors.New("a block scalar cannot carry a setter marker")
	}
	want := open + n.Value + close
	if !bytes.HasPrefix(data[start:], []byte(want)) {
		return 0, 0, fmt.Errorf("the marked value is not spelled as %q in the file (escapes or folding); write it on one line without escapes", want)
	}
	return start, start + len(want), nil
}

// render spells v in style; a plain v that would read as something other
// than that string is double-quoted.
func render(style yaml.Style, v string) string {
	switch style {
	case yaml.DoubleQuotedStyle:
		b, _ := json.Marshal(v) // JSON strings are YAML double-quoted scalars
		return string(b)
	case yaml.SingleQuotedStyle:
		return `'` + strings.ReplaceAll(v, `'`, `''`) + `'`
	}
	var got any
	if err := yaml.Unmarshal([]byte("v: "+v), &struct {
		V *any `yaml:"v"`
	}{&got}); err == nil {
		if s, ok := got.(string); ok && s == v {
			return v
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}
