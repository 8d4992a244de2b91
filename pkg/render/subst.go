package render

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
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

// expander evaluates the ${...} expressions of Flux's postBuild substitution
// in one string. It is strict: a variable that is not defined is an error
// unless the operator supplies a default.
//
// Grammar (the subset of bash parameter expansion that Flux's envsubst fork
// accepts; $var without braces is never expanded):
//
//	$$               a literal "$" (so $${var} renders as the text ${var})
//	${var}           value of var
//	${var:=word}     word when var is unset or empty (":-" and "=" alike)
//	${#var}          length of the value in bytes
//	${var^} ${var^^} upper-case the first / all characters
//	${var,} ${var,,} lower-case the first / all characters
//	${var:off}       substring from byte offset off (negative counts from the end)
//	${var:off:len}   substring of at most len bytes
//	${var#pat}       strip the shortest prefix matching the glob pat ("##": longest)
//	${var%pat}       strip the shortest suffix matching pat ("%%": longest)
//	${var/old/new}   replace the first old ("//": all, "/#": prefix, "/%": suffix)
//
// Words (defaults, offsets, patterns, replacements) may contain nested ${...}
// expressions; like Flux they are evaluated before the operator, so an
// undefined variable inside a default is an error even when the default is
// not used.
type expander struct {
	vars map[string]string
	src  string
	pos  int
}

// expand returns s with every ${...} expression replaced.
func expand(s string, vars map[string]string) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	e := &expander{vars: vars, src: s}
	var b strings.Builder
	b.Grow(len(s))
	for e.pos < len(s) {
		i := strings.IndexByte(s[e.pos:], '$')
		if i < 0 {
			b.WriteString(s[e.pos:])
			break
		}
		b.WriteString(s[e.pos : e.pos+i])
		e.pos += i
		switch {
		case strings.HasPrefix(s[e.pos:], "$$"):
			// Flux's escape: "$$" is a literal "$" and the character after
			// it is not looked at again, so "$${x}" stays "${x}".
			b.WriteByte('$')
			e.pos += 2
		case strings.HasPrefix(s[e.pos:], "${"):
			start := e.pos
			e.pos += 2
			v, err := e.expr()
			if err != nil {
				return "", fmt.Errorf("%s: %w", excerpt(s, start), err)
			}
			b.WriteString(v)
		default:
			b.WriteByte('$')
			e.pos++
		}
	}
	return b.String(), nil
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

func (e *expander) peek() byte {
	if e.pos < len(e.src) {
		return e.src[e.pos]
	}
	return 0
}

// expr parses what follows "${" up to and including the closing brace.
func (e *expander) expr() (string, error) {
	if e.peek() == '#' {
		e.pos++
		name := e.name()
		if name == "" || e.peek() != '}' {
			return "", fmt.Errorf("%w: expected ${#name}", ErrBadSubstitution)
		}
		e.pos++
		v, err := e.lookup(name)
		return strconv.Itoa(len(v)), err
	}
	name := e.name()
	if name == "" {
		return "", fmt.Errorf("%w: missing variable name", ErrBadSubstitution)
	}
	switch c := e.peek(); c {
	case '}':
		e.pos++
		return e.lookup(name)
	case '=':
		e.pos++
		return e.defaulted(name)
	case ':':
		e.pos++
		switch e.peek() {
		case '=', '-':
			e.pos++
			return e.defaulted(name)
		case '?', '+':
			return "", fmt.Errorf("%w: operator \":%c\" is not supported", ErrBadSubstitution, e.peek())
		}
		return e.substring(name)
	case '^', ',':
		op := string(c)
		e.pos++
		if e.peek() == c {
			op += string(c)
			e.pos++
		}
		if e.peek() != '}' {
			return "", fmt.Errorf("%w: expected \"}\" after %q", ErrBadSubstitution, op)
		}
		e.pos++
		v, err := e.lookup(name)
		return changeCase(v, op), err
	case '#', '%':
		e.pos++
		longest := false
		if e.peek() == c {
			longest = true
			e.pos++
		}
		pat, err := e.word("}", false)
		if err != nil {
			return "", err
		}
		e.pos++ // "}"
		v, err := e.lookup(name)
		if err != nil {
			return "", err
		}
		return trim(v, pat, c == '#', longest)
	case '/':
		e.pos++
		mode := byte('1') // first match; 'a' all, '#' prefix, '%' suffix
		switch e.peek() {
		case '/':
			mode = 'a'
			e.pos++
		case '#', '%':
			mode = e.peek()
			e.pos++
		}
		old, err := e.word("/", true)
		if err != nil {
			return "", err
		}
		if e.peek() != '/' {
			return "", fmt.Errorf("%w: expected ${%s/pattern/replacement}", ErrBadSubstitution, name)
		}
		e.pos++
		repl, err := e.word("}", true)
		if err != nil {
			return "", err
		}
		e.pos++
		v, err := e.lookup(name)
		if err != nil {
			return "", err
		}
		return replace(v, old, repl, mode), nil
	case 0:
		return "", fmt.Errorf("%w: missing closing brace", ErrBadSubstitution)
	default:
		// Covers ${var-word}, ${var+word} and ${var?word}, which Flux's
		// parser rejects too.
		return "", fmt.Errorf("%w: unexpected %q after variable name", ErrBadSubstitution, c)
	}
}

// name reads a variable name: letters, digits and underscores.
func (e *expander) name() string {
	start := e.pos
	for e.pos < len(e.src) {
		r, w := utf8.DecodeRuneInString(e.src[e.pos:])
		if r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			break
		}
		e.pos += w
	}
	return e.src[start:e.pos]
}

// word reads text up to (not including) the first unnested byte of stops,
// expanding nested ${...} expressions. With escapes, "\/" and "\\" stand for
// "/" and "\" and "$$" for "$", as in the pattern and replacement of Flux's
// replace operators.
func (e *expander) word(stops string, escapes bool) (string, error) {
	var b strings.Builder
	for {
		if e.pos >= len(e.src) {
			return "", fmt.Errorf("%w: missing closing brace", ErrBadSubstitution)
		}
		c := e.src[e.pos]
		switch {
		case strings.IndexByte(stops, c) >= 0:
			return b.String(), nil
		case c == '}':
			return "", fmt.Errorf("%w: unexpected \"}\"", ErrBadSubstitution)
		case strings.HasPrefix(e.src[e.pos:], "${"):
			e.pos += 2
			v, err := e.expr()
			if err != nil {
				return "", err
			}
			b.WriteString(v)
		case escapes && c == '\\' && e.pos+1 < len(e.src) && (e.src[e.pos+1] == '/' || e.src[e.pos+1] == '\\'):
			b.WriteByte(e.src[e.pos+1])
			e.pos += 2
		case escapes && strings.HasPrefix(e.src[e.pos:], "$$"):
			b.WriteByte('$')
			e.pos += 2
		default:
			b.WriteByte(c)
			e.pos++
		}
	}
}

// defaulted finishes ${name:=word}: the value, or word when the value is
// unset or empty (Flux treats ":=", ":-" and "=" alike).
func (e *expander) defaulted(name string) (string, error) {
	def, err := e.word("}", false)
	if err != nil {
		return "", err
	}
	e.pos++
	if v := e.vars[name]; v != "" {
		return v, nil
	}
	return def, nil
}

// substring finishes ${name:off} and ${name:off:len}. Like bash (and Flux),
// an offset or length that is not a number leaves the value unchanged.
func (e *expander) substring(name string) (string, error) {
	offText, err := e.word(":}", false)
	if err != nil {
		return "", err
	}
	lenText, hasLen := "", false
	if e.peek() == ':' {
		e.pos++
		hasLen = true
		if lenText, err = e.word("}", false); err != nil {
			return "", err
		}
	}
	e.pos++
	v, err := e.lookup(name)
	if err != nil {
		return "", err
	}
	off, err := strconv.Atoi(offText)
	if err != nil {
		return v, nil
	}
	if off < 0 {
		off = max(len(v)+off, 0)
	}
	if off >= len(v) {
		return "", nil
	}
	if !hasLen {
		return v[off:], nil
	}
	n, err := strconv.Atoi(lenText)
	if err != nil {
		return v, nil
	}
	if n < 0 || off+n >= len(v) {
		return v[off:], nil
	}
	return v[off : off+n], nil
}

// lookup returns the value of name, or ErrUndefinedVariable.
func (e *expander) lookup(name string) (string, error) {
	v, ok := e.vars[name]
	if !ok {
		return "", fmt.Errorf("%w %q", ErrUndefinedVariable, name)
	}
	return v, nil
}

func changeCase(v, op string) string {
	if v == "" {
		return v
	}
	switch op {
	case "^^":
		return strings.ToUpper(v)
	case ",,":
		return strings.ToLower(v)
	}
	r, w := utf8.DecodeRuneInString(v)
	if op == "^" {
		return string(unicode.ToUpper(r)) + v[w:]
	}
	return string(unicode.ToLower(r)) + v[w:]
}

func replace(v, old, repl string, mode byte) string {
	if old == "" {
		return v
	}
	switch mode {
	case 'a':
		return strings.ReplaceAll(v, old, repl)
	case '#':
		if strings.HasPrefix(v, old) {
			return repl + v[len(old):]
		}
		return v
	case '%':
		if strings.HasSuffix(v, old) {
			return v[:len(v)-len(old)] + repl
		}
		return v
	}
	return strings.Replace(v, old, repl, 1)
}

// trim strips the shortest or longest prefix (or suffix) of v that matches
// the glob pat, where "*" and "?" match any character including "/".
func trim(v, pat string, prefix, longest bool) (string, error) {
	re, err := globRegexp(pat)
	if err != nil {
		return "", err
	}
	if prefix {
		if longest {
			for n := len(v); n >= 0; n-- {
				if re.MatchString(v[:n]) {
					return v[n:], nil
				}
			}
			return v, nil
		}
		for n := 0; n <= len(v); n++ {
			if re.MatchString(v[:n]) {
				return v[n:], nil
			}
		}
		return v, nil
	}
	if longest {
		for n := 0; n <= len(v); n++ {
			if re.MatchString(v[n:]) {
				return v[:n], nil
			}
		}
		return v, nil
	}
	for n := len(v); n >= 0; n-- {
		if re.MatchString(v[n:]) {
			return v[:n], nil
		}
	}
	return v, nil
}

// globRegexp compiles a shell glob (*, ?, [...], \c) to an anchored regexp.
func globRegexp(pat string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString(`^(?s:`)
	for i := 0; i < len(pat); i++ {
		switch c := pat[i]; c {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		case '\\':
			if i+1 < len(pat) {
				i++
			}
			b.WriteString(regexp.QuoteMeta(pat[i : i+1]))
		case '[':
			end := strings.IndexByte(pat[i+1:], ']')
			if end < 0 {
				return nil, fmt.Errorf("%w: unterminated [ in pattern %q", ErrBadSubstitution, pat)
			}
			class := pat[i+1 : i+1+end]
			if strings.HasPrefix(class, "^") || strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + strings.ReplaceAll(class, `\`, `\\`) + "]")
			i += end + 1
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString(`)$`)
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("%w: pattern %q: %v", ErrBadSubstitution, pat, err)
	}
	return re, nil
}
