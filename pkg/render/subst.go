package render

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/fluxcd/pkg/envsubst"
)

// ErrUndefinedVariable is wrapped by the error Render returns when an object
// references a variable that Options.Substitute does not define and the
// expression gives no default.
var ErrUndefinedVariable = errors.New("undefined variable")

// ErrBadSubstitution is wrapped by the error Render returns when a ${...}
// expression cannot be parsed or uses an unsupported operator.
var ErrBadSubstitution = errors.New("bad substitution")

// varNameRE is the rule Flux applies to the names of postBuild variables.
var varNameRE = regexp.MustCompile(`^[_[:alpha:]][_[:alpha:][:digit:]]*$`)

// Substitution is Flux's own: ${...} expressions are evaluated by
// github.com/fluxcd/pkg/envsubst, the library kustomize-controller uses,
// so that a Flux repository renders to exactly what Flux would apply,
// quirks included:
//
//	$$               a literal "$" (so $${var} renders as the text ${var})
//	$var             left as it is: only ${...} is an expression
//	${var}           value of var
//	${var:=word}     word when var is unset or empty; ":-" and "=" alike
//	${#var}          length of the value in bytes
//	${var^} ${var^^} upper-case the first / all characters
//	${var,} ${var,,} lower-case the first / all characters
//	${var:off}       substring from byte offset off; an offset that is
//	                 not a number leaves the value as it is, and a
//	                 negative one (${var:${n}} with n=-3, since ${var:-3}
//	                 is a default) counts from the end
//	${var:off:len}   at most len bytes; a negative len ends that many
//	                 bytes before the end
//	${var#pat}       strip the shortest non-empty prefix matching the glob
//	                 pat ("##": longest); "*" also matches "/"
//	${var%pat}       the same from the end ("%%": longest)
//	${var/old/new}   replace the first old ("//": all, "/#": prefix,
//	                 "/%": suffix); old is literal text, not a glob
//
// Words (defaults, offsets, patterns, replacements) may hold nested
// ${...} expressions, evaluated before the operator: an undefined variable
// inside a default is an error even when the default is not used.
//
//	${var:?word}     evaluated as ${var:-word}, as Flux's library does:
//	${var:+word}     its README lists both as unsupported, yet parses
//	                 them and substitutes the value, or word when the
//	                 value is unset or empty (not the shell's meaning).
//	                 A repository that renders in Flux renders the same
//	                 here. ${var-word}, ${var+word} and ${var?word} fail
//	                 to parse, in Flux too.
//
// An undefined variable without a default is an error in strict mode (a
// Sync's own postBuild, and Flux units under spec.flux.strictSubstitution,
// as Flux with its StrictPostBuildSubstitutions feature gate); otherwise it
// is "", as in Flux by default, and its name is collected so that the run
// can say which variables it substituted empty.
//
// The library reads every character through a closure, which made it ten
// times slower than gitsync's former hand-written evaluator on 4,000
// documents. So the text between expressions is scanned here
// (strings.IndexByte finds "$$" and "${"), the two forms nearly every
// manifest uses, ${var} and ${var:=word} with a literal word, are evaluated
// here (expandSimple), and every other expression is handed to the library
// on its own. TestExpandMatchesEnvsubst and FuzzExpand check that the result
// equals envsubst.Eval of the whole text; BenchmarkExpand4000 measures it.

// maxExtentTries bounds how many closing braces expand tries as the end of
// one expression before it lets the library read the rest of the text
// itself (only deeply nested or malformed expressions get there).
const maxExtentTries = 16

// expand returns s with every ${...} expression replaced, strictly.
func expand(s string, vars map[string]string) (string, error) {
	return expandWith(s, vars, nil)
}

// expandWith is expand; with undefined non-nil it is lenient: an undefined
// variable without a default is "" and its name is added to undefined.
func expandWith(s string, vars map[string]string, undefined map[string]bool) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var missing string
	lookup := func(name string) (string, bool) {
		v, ok := vars[name]
		if !ok {
			if undefined != nil {
				undefined[name] = true
				return "", true
			}
			// The library stops at the first undefined variable that
			// has no default, right after asking for it, so the last
			// name asked for in vain is the one to report.
			missing = name
		}
		return v, ok
	}
	var b strings.Builder
	b.Grow(len(s))
	for pos := 0; pos < len(s); {
		i := strings.IndexByte(s[pos:], '$')
		if i < 0 {
			b.WriteString(s[pos:])
			break
		}
		b.WriteString(s[pos : pos+i])
		pos += i
		switch {
		case strings.HasPrefix(s[pos:], "${"):
			v, n, ok, err := expandSimple(s[pos:], vars)
			if undefined != nil && errors.Is(err, ErrUndefinedVariable) {
				// Lenient: the library's lookup says "" for it.
				ok, err = false, nil
			}
			if !ok {
				v, n, err = expandOne(s[pos:], lookup, &missing)
			}
			if err != nil {
				return "", fmt.Errorf("%s: %w", excerpt(s, pos), err)
			}
			b.WriteString(v)
			pos += n
		case strings.HasPrefix(s[pos:], "$$"):
			// "$$" is a literal "$", and the character after it is
			// not looked at again: "$${x}" is the text "${x}".
			b.WriteByte('$')
			pos += 2
		default:
			b.WriteByte('$')
			pos++
		}
	}
	return b.String(), nil
}

// expandSimple evaluates the two forms nearly every manifest uses,
// ${name} and ${name:=word} (also ":-" and "="), without the library, when
// word holds no nested expression; ok is false for every other form. Both
// are what the library does with them: the value, or for an undefined name
// an error; for the default forms the value unless it is unset or empty,
// else word taken literally (inside a default, "$$" is not an escape).
func expandSimple(s string, vars map[string]string) (v string, n int, ok bool, err error) {
	i := 2
	for i < len(s) {
		r, w := utf8.DecodeRuneInString(s[i:])
		if r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			break
		}
		i += w
	}
	name := s[2:i]
	if name == "" {
		return "", 0, false, nil
	}
	rest := s[i:]
	switch {
	case strings.HasPrefix(rest, "}"):
		v, defined := vars[name]
		if !defined {
			return "", 0, true, fmt.Errorf("%w %q", ErrUndefinedVariable, name)
		}
		return v, i + 1, true, nil
	case strings.HasPrefix(rest, ":="), strings.HasPrefix(rest, ":-"):
		i += 2
	case strings.HasPrefix(rest, "="):
		i++
	default:
		return "", 0, false, nil
	}
	end := strings.IndexByte(s[i:], '}')
	if end < 0 || strings.Contains(s[i:i+end], "${") {
		return "", 0, false, nil
	}
	if v := vars[name]; v != "" {
		return v, i + end + 1, true, nil
	}
	return s[i : i+end], i + end + 1, true, nil
}

// expandOne evaluates the expression at the start of s ("${...") and
// returns its value and how many bytes of s it took. The expression ends
// at the first closing brace up to which the library parses: its parser
// never looks past the brace that closes an expression, so that is where
// a parse of all of s would end it too.
func expandOne(s string, lookup func(string) (string, bool), missing *string) (string, int, error) {
	end := 0
	for range maxExtentTries {
		j := strings.IndexByte(s[end:], '}')
		if j < 0 {
			break
		}
		end += j + 1
		t, err := envsubst.Parse(s[:end])
		if err != nil {
			continue
		}
		v, err := t.Execute(lookup)
		if err != nil {
			return "", 0, fmt.Errorf("%w %q", ErrUndefinedVariable, *missing)
		}
		return v, end, nil
	}
	// No closing brace ends a valid expression within the tries: let the
	// library parse everything that is left, which either fails with its
	// own message or (deep nesting) evaluates the rest of s.
	t, err := envsubst.Parse(s)
	if err != nil {
		return "", 0, fmt.Errorf("%w: %w", ErrBadSubstitution, err)
	}
	v, err := t.Execute(lookup)
	if err != nil {
		return "", 0, fmt.Errorf("%w %q", ErrUndefinedVariable, *missing)
	}
	return v, len(s), nil
}

// excerpt names the expression starting at start for error messages.
func excerpt(s string, start int) string {
	end := strings.IndexByte(s[start:], '}')
	if end < 0 || end > 60 {
		end = min(len(s)-start, 60)
	} else {
		end++
	}
	return fmt.Sprintf("%q", s[start:start+end])
}
