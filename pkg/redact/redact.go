// Package redact removes credentials from URLs, and from text and errors
// that may quote URLs, before they reach an error message, a log line, the
// run's record, its history or an Event; and, with Secrets, the known
// secret values a run read or decrypted, wherever a message quotes them.
//
// Users put tokens into source URLs because several forges document it:
// https://TOKEN@host/repo.git, https://host/index.yaml?token=TOKEN. The
// spec refuses some of these forms and Git refuses others, but the
// refusal itself, and any error of net/http or go-git about such a URL,
// would otherwise print it. Every source kind therefore passes URLs and
// errors through this package; it is the one redactor gitsync has.
//
// # What is masked
//
// URL masks, in a URL with a scheme (scheme://…):
//   - the whole userinfo (user and password) before the host, except for
//     ssh:// URLs, whose user is a login name that the server sees in
//     clear anyway ("git"); their password, if any, is masked;
//   - every query value, and every query item that has no value (it may
//     be a bare token), keeping the keys of key=value items;
//   - the fragment.
//
// Masked parts become Mask. A URL without any of these parts is returned
// byte for byte, so messages about ordinary URLs do not change. Text
// without a scheme (an scp-like git@host:path) has no userinfo to mask:
// its user is an SSH login.
package redact

import "strings"

// Mask replaces each masked part.
const Mask = "xxxxx"

// URL returns raw with its credentials masked (see the package
// documentation). It never fails: text that is not a URL is returned as
// it is.
func URL(raw string) string {
	i := strings.Index(raw, "://")
	if i <= 0 || !isScheme(raw[:i]) {
		return raw
	}
	scheme := strings.ToLower(raw[:i])
	rest := raw[i+3:]

	// The authority ends at the first '/', '?' or '#', as in net/url.
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		userinfo, host := authority[:at], authority[at+1:]
		if scheme == "ssh" {
			if user, _, hasPassword := strings.Cut(userinfo, ":"); hasPassword {
				userinfo = user + ":" + Mask
			}
		} else {
			userinfo = Mask
		}
		authority = userinfo + "@" + host
	}

	path, query, fragment := tail, "", ""
	hasQuery, hasFragment := false, false
	if h := strings.IndexByte(path, '#'); h >= 0 {
		path, fragment, hasFragment = path[:h], path[h+1:], true
	}
	if q := strings.IndexByte(path, '?'); q >= 0 {
		path, query, hasQuery = path[:q], path[q+1:], true
	}
	var b strings.Builder
	b.Grow(len(raw))
	b.WriteString(raw[:i+3])
	b.WriteString(authority)
	b.WriteString(path)
	if hasQuery {
		b.WriteByte('?')
		b.WriteString(maskQuery(query))
	}
	if hasFragment {
		b.WriteByte('#')
		if fragment != "" {
			b.WriteString(Mask)
		}
	}
	return b.String()
}

// maskQuery masks every value of a raw query, keeping keys; items
// without '=' are masked whole.
func maskQuery(q string) string {
	if q == "" {
		return ""
	}
	items := strings.FieldsFunc(q, func(r rune) bool { return r == '&' || r == ';' })
	if len(items) == 0 {
		return q // only separators: nothing to hide
	}
	var b strings.Builder
	for n, item := range items {
		if n > 0 {
			b.WriteByte('&')
		}
		key, _, hasValue := strings.Cut(item, "=")
		if !hasValue {
			b.WriteString(Mask)
			continue
		}
		b.WriteString(key)
		b.WriteByte('=')
		b.WriteString(Mask)
	}
	return b.String()
}

// isScheme reports whether s is a URL scheme: a letter, then letters,
// digits, '+', '-' or '.'.
func isScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return s != ""
}

// Text returns s with every URL in it passed through URL. A URL in text
// starts at a scheme followed by "://" and ends at white space, a quote,
// a backquote, '<', '>' or the end of s: how Go's errors and logs quote
// URLs (Get "https://…": …).
func Text(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		start := i
		for start > 0 && isSchemeByte(s[start-1], true) {
			start--
		}
		// A scheme starts with a letter: skip leading digits and marks.
		for start < i && !isSchemeByte(s[start], false) {
			start++
		}
		end := i + 3 + strings.IndexFunc(s[i+3:], endsURL)
		if end < i+3 {
			end = len(s)
		}
		// Punctuation that ends a sentence is not part of the URL
		// (GET https://host/x?a=b: 401).
		for end > i+3 && strings.IndexByte(".,:;)]}", s[end-1]) >= 0 {
			end--
		}
		b.WriteString(s[:start])
		if start < i {
			b.WriteString(URL(s[start:end]))
		} else {
			b.WriteString(s[start:end]) // "://" without a scheme
		}
		s = s[end:]
	}
}

// isSchemeByte reports whether c may be in a scheme; with inner false,
// whether it may start one.
func isSchemeByte(c byte, inner bool) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		return true
	case inner && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		return true
	}
	return false
}

// endsURL reports whether r ends a URL quoted in text.
func endsURL(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\r', '"', '\'', '`', '<', '>':
		return true
	}
	return false
}

// Error returns err with URLs in its message redacted by Text. errors.Is
// and errors.As still reach err and what it wraps. nil stays nil, and an
// error Error returned is not wrapped again.
func Error(err error) error {
	if err == nil {
		return nil
	}
	if _, done := err.(*redacted); done {
		return err
	}
	msg := err.Error()
	safe := Text(msg)
	if safe == msg {
		return err
	}
	return &redacted{msg: safe, err: err}
}

// redacted is an error whose message was redacted.
type redacted struct {
	msg string
	err error
}

// Error returns the redacted message.
func (r *redacted) Error() string { return r.msg }

// Unwrap returns the original error.
func (r *redacted) Unwrap() error { return r.err }
