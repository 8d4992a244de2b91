package redact

import (
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	yaml "go.yaml.in/yaml/v3"
)

// MinSecretLength is the shortest value Secrets masks. Shorter values
// ("true", "1", "admin") would mask ordinary words of every message and
// hide little: guessing them is easy anyway.
const MinSecretLength = 6

// minLineLength is the shortest line of a multi-line value masked on its
// own (a PEM body line is 64 characters; "kind: Config" is not a secret).
const minLineLength = 16

// maxLeaves bounds the values one YAML document adds.
const maxLeaves = 10_000

// Secrets is a set of secret values (the data of the Secrets a run read,
// what SOPS decrypted, the data of rendered Secrets) masked wherever a
// message may quote them: an API server's validation error echoes the
// field's value ("Invalid value: \"…\""), a substitution or template error
// its input. Text, Error and Handler replace every occurrence of a value
// by Mask. A value is also masked in the forms messages quote it in: its
// standard base64 encoding (a Secret's data), Go's quoted form (%q), each
// long line of a multi-line value (a key or certificate), and each string
// of a YAML or JSON mapping below a key that names a secret (password,
// token, key, ...: a values.yaml held in a Secret).
//
// The zero value is empty and ready to use; it is safe for concurrent use.
type Secrets struct {
	mu       sync.RWMutex
	values   map[string]bool
	replacer *strings.Replacer // nil when stale
}

// Add adds values to the set.
func (s *Secrets) Add(values ...string) {
	if s == nil {
		return
	}
	var forms []string
	for _, v := range values {
		forms = appendForms(forms, v, 0)
	}
	if len(forms) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.values == nil {
		s.values = map[string]bool{}
	}
	for _, f := range forms {
		if !s.values[f] {
			s.values[f] = true
			s.replacer = nil
		}
	}
}

// AddData adds every value of a Secret's data.
func (s *Secrets) AddData(data map[string][]byte) {
	for _, v := range data {
		s.Add(string(v))
	}
}

// Len returns how many forms of values the set masks.
func (s *Secrets) Len() int {
	if s == nil {
		return 0
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.values)
}

// appendForms appends the forms of v that are masked.
func appendForms(forms []string, v string, depth int) []string {
	v = strings.TrimSpace(v)
	if len(v) < MinSecretLength {
		return forms
	}
	forms = append(forms, v, base64.StdEncoding.EncodeToString([]byte(v)))
	if q := strconv.Quote(v); q[1:len(q)-1] != v {
		forms = append(forms, q[1:len(q)-1])
	}
	if strings.Contains(v, "\n") {
		for line := range strings.Lines(v) {
			if line = strings.TrimSpace(line); len(line) >= minLineLength {
				forms = append(forms, line)
			}
		}
	}
	if depth == 0 && strings.ContainsAny(v, ":{") {
		var doc any
		if yaml.Unmarshal([]byte(v), &doc) == nil {
			if _, ok := doc.(map[string]any); ok {
				n := 0
				forms = appendLeaves(forms, doc, false, &n)
			}
		}
	}
	return forms
}

// secretKey matches the keys of a YAML value (a values.yaml held in a
// Secret) whose strings are masked one by one: the other strings of such
// a document (an image, a Service type, a kubeconfig's kind) are names
// messages need. The whole value and its long lines are masked anyway.
var secretKey = regexp.MustCompile(`(?i)pass|secret|token|key|cred|auth|cert|private|pwd|salt|dsn|conn|session|cookie|signature`)

// appendLeaves appends the forms of the strings in a decoded document
// below a key secretKey matches (under is set below one).
func appendLeaves(forms []string, v any, under bool, n *int) []string {
	if *n >= maxLeaves {
		return forms
	}
	switch t := v.(type) {
	case string:
		if !under {
			return forms
		}
		*n++
		return appendForms(forms, t, 1)
	case map[string]any:
		for k, e := range t {
			forms = appendLeaves(forms, e, under || secretKey.MatchString(k), n)
		}
	case []any:
		for _, e := range t {
			forms = appendLeaves(forms, e, under, n)
		}
	}
	return forms
}

// Text returns s with every value of the set replaced by Mask.
func (s *Secrets) Text(text string) string {
	if s == nil || text == "" {
		return text
	}
	r := s.replacerOf()
	if r == nil {
		return text
	}
	return r.Replace(text)
}

// replacerOf returns the replacer of the current set, building it when
// the set changed: longer values first, so that a value containing
// another is masked whole.
func (s *Secrets) replacerOf() *strings.Replacer {
	s.mu.RLock()
	r, n := s.replacer, len(s.values)
	s.mu.RUnlock()
	if r != nil || n == 0 {
		return r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.replacer == nil {
		vals := make([]string, 0, len(s.values))
		for v := range s.values {
			vals = append(vals, v)
		}
		slices.SortFunc(vals, func(a, b string) int { return cmp.Or(cmp.Compare(len(b), len(a)), strings.Compare(a, b)) })
		pairs := make([]string, 0, 2*len(vals))
		for _, v := range vals {
			pairs = append(pairs, v, Mask)
		}
		s.replacer = strings.NewReplacer(pairs...)
	}
	return s.replacer
}

// Error returns err with the set's values masked in its message.
// errors.Is and errors.As still reach err and what it wraps; nil stays nil.
func (s *Secrets) Error(err error) error {
	if err == nil || s == nil {
		return err
	}
	msg := err.Error()
	safe := s.Text(msg)
	if safe == msg {
		return err
	}
	return &redacted{msg: safe, err: err}
}

// Handler returns a slog.Handler that masks the set's values in every
// record's message and attributes (strings, errors, Stringers and
// anything else formatted as text) before passing it to h. Values added
// later are masked in later records.
func (s *Secrets) Handler(h slog.Handler) slog.Handler {
	return &maskingHandler{s: s, next: h}
}

// maskingHandler is Secrets.Handler's handler. The attributes and groups
// of WithAttrs and WithGroup are kept and handed to next at each record,
// masked then: a value added to the set after a logger was derived is
// masked in its attributes too.
type maskingHandler struct {
	s    *Secrets
	next slog.Handler
	ops  []handlerOp
}

// handlerOp is one WithAttrs (attrs) or WithGroup (group) call.
type handlerOp struct {
	group string
	attrs []slog.Attr
}

func (m *maskingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return m.next.Enabled(ctx, l)
}

func (m *maskingHandler) Handle(ctx context.Context, r slog.Record) error {
	next := m.next
	for _, op := range m.ops {
		if op.attrs == nil {
			next = next.WithGroup(op.group)
			continue
		}
		masked := make([]slog.Attr, len(op.attrs))
		for i, a := range op.attrs {
			masked[i] = m.attr(a)
		}
		next = next.WithAttrs(masked)
	}
	out := slog.NewRecord(r.Time, r.Level, m.s.Text(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(m.attr(a))
		return true
	})
	return next.Handle(ctx, out)
}

func (m *maskingHandler) with(op handlerOp) *maskingHandler {
	return &maskingHandler{s: m.s, next: m.next, ops: append(slices.Clip(m.ops), op)}
}

func (m *maskingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return m
	}
	return m.with(handlerOp{attrs: slices.Clone(attrs)})
}

func (m *maskingHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return m
	}
	return m.with(handlerOp{group: name})
}

// attr masks one attribute.
func (m *maskingHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, m.s.Text(v.String()))
	case slog.KindGroup:
		group := v.Group()
		masked := make([]any, len(group))
		for i, g := range group {
			masked[i] = m.attr(g)
		}
		return slog.Group(a.Key, masked...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, m.s.Text(x.Error()))
		case fmt.Stringer:
			return slog.String(a.Key, m.s.Text(x.String()))
		case []string:
			out := make([]string, len(x))
			for i, e := range x {
				out[i] = m.s.Text(e)
			}
			return slog.Any(a.Key, out)
		case nil, bool, int, int64, float64:
			return slog.Attr{Key: a.Key, Value: v}
		default:
			text := fmt.Sprint(x)
			if safe := m.s.Text(text); safe != text {
				return slog.String(a.Key, safe)
			}
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
