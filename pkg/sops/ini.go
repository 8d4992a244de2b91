package sops

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// SOPS reads and writes INI files with gopkg.in/ini.v1: sections in file
// order (keys before the first header belong to the section "DEFAULT"), a
// value's path is [section, key], comment lines (# or ;) belong to the key
// or section header that follows them, and the metadata is the section
// [sops], its nested fields flattened as in dotenv files (age__list_0__map_
// recipient) and newlines in them written as \n. This file reads the
// syntax that library writes and the common hand-written forms, and refuses
// what it would read differently (a repeated key).

// iniDefault is the name of the section of keys before the first header.
const iniDefault = "DEFAULT"

type iniSection struct {
	name    string
	comment string // the comment lines before the header, as written
	keys    []iniKey
}

type iniKey struct {
	name, value string
	comment     string // the comment lines before the key, as written
	line        int
}

// parseINI reads an INI file into its sections, the DEFAULT section first.
func parseINI(data []byte) ([]*iniSection, error) {
	lines := strings.Split(string(data), "\n")
	sections := []*iniSection{{name: iniDefault}}
	cur := sections[0]
	var comment []string
	for i := 0; i < len(lines); i++ {
		n := i + 1
		line := strings.TrimLeft(strings.TrimSuffix(lines[i], "\r"), " \t\f\v")
		switch {
		case line == "":
			continue
		case line[0] == '#' || line[0] == ';':
			comment = append(comment, strings.TrimRight(line, " \t"))
			continue
		case line[0] == '[':
			end := strings.LastIndexByte(line, ']')
			if end < 0 {
				return nil, fmt.Errorf("line %d: unclosed section header", n)
			}
			if c := strings.IndexAny(line[end+1:], "#;"); c >= 0 {
				comment = append(comment, strings.TrimSpace(line[end+1+c:]))
			}
			cur = &iniSection{name: line[1:end], comment: strings.Join(comment, "\n")}
			sections = append(sections, cur)
			comment = nil
			continue
		}
		name, rest, err := iniKeyName(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		value, next, err := iniValue(rest, lines, i)
		if err != nil {
			return nil, fmt.Errorf("line %d: key %q: %w", n, name, err)
		}
		i = next
		for _, k := range cur.keys {
			if k.name == name {
				return nil, fmt.Errorf("line %d: [%s] %s: repeated key (first on line %d)", n, cur.name, name, k.line)
			}
		}
		cur.keys = append(cur.keys, iniKey{name: name, value: value, comment: strings.Join(comment, "\n"), line: n})
		comment = nil
	}
	return sections, nil
}

// iniKeyName splits a key line at its first = or :, the key optionally
// quoted with ", """ or `.
func iniKeyName(line string) (string, string, error) {
	quote := ""
	switch {
	case strings.HasPrefix(line, `"""`) && len(line) > 6:
		quote = `"""`
	case line[0] == '"':
		quote = `"`
	case line[0] == '`':
		quote = "`"
	}
	if quote != "" {
		end := strings.Index(line[len(quote):], quote)
		if end < 0 {
			return "", "", errors.New("key name: missing closing quote")
		}
		name := line[len(quote) : len(quote)+end]
		rest := line[len(quote)*2+end:]
		d := strings.IndexAny(rest, "=:")
		if d < 0 {
			return "", "", errors.New("not key = value")
		}
		return name, rest[d+1:], nil
	}
	d := strings.IndexAny(line, "=:")
	if d < 0 {
		return "", "", errors.New("not key = value")
	}
	name := strings.TrimSpace(line[:d])
	if name == "" {
		return "", "", errors.New("empty key name")
	}
	return name, line[d+1:], nil
}

// iniValue reads the value after a key's delimiter, from line i on, and
// returns it with the index of its last line: """ and ` quote (and may
// span lines), a trailing \ continues the value on the next line, an
// unquoted # or ; starts a comment, and surrounding " or ' are removed.
func iniValue(rest string, lines []string, i int) (string, int, error) {
	v := strings.TrimLeft(strings.TrimSuffix(rest, "\r"), " \t\f\v")
	if v == "" {
		return "", i, nil
	}
	quote := ""
	if len(v) > 3 && strings.HasPrefix(v, `"""`) {
		quote = `"""`
	} else if v[0] == '`' {
		quote = "`"
	}
	if quote != "" {
		body := v[len(quote):]
		if end := strings.LastIndex(body, quote); end >= 0 {
			return body[:end], i, nil
		}
		for j := i + 1; j < len(lines); j++ {
			body += "\n"
			if end := strings.LastIndex(lines[j], quote); end >= 0 {
				return body + lines[j][:end], j, nil
			}
			body += lines[j]
		}
		return "", i, fmt.Errorf("value: missing closing %s", quote)
	}
	v = strings.TrimSpace(v)
	for strings.HasSuffix(v, `\`) && i+1 < len(lines) {
		next := strings.TrimSpace(lines[i+1])
		if next == "" {
			break
		}
		i++
		v = v[:len(v)-1] + next
	}
	if c := strings.IndexAny(v, "#;"); c >= 0 {
		v = strings.TrimSpace(v[:c])
	}
	if surrounded(v, '"') || surrounded(v, '\'') {
		v = v[1 : len(v)-1]
	}
	return v, i, nil
}

// surrounded reports whether s is q, text without q, q.
func surrounded(s string, q byte) bool {
	return len(s) >= 2 && s[0] == q && s[len(s)-1] == q && strings.IndexByte(s[1:], q) == len(s)-2
}

func decryptINI(data []byte, keys *Keys) ([]byte, error) {
	sections, err := parseINI(data)
	if err != nil {
		return nil, err
	}
	var meta *iniSection
	body := sections[:0]
	for _, s := range sections {
		if s.name != "sops" {
			body = append(body, s)
			continue
		}
		if meta != nil {
			return nil, errors.New("more than one [sops] section")
		}
		meta = s
	}
	if meta == nil {
		return nil, errors.New("no [sops] section: not a SOPS-encrypted INI file")
	}
	flat := make([][2]string, 0, len(meta.keys))
	for _, k := range meta.keys {
		flat = append(flat, [2]string{k.name, strings.ReplaceAll(k.value, `\n`, "\n")})
	}
	md, err := unflattenMetadata(flat)
	if err != nil {
		return nil, err
	}
	w, err := keys.walker(md)
	if err != nil {
		return nil, err
	}
	key := w.key
	for _, s := range body {
		s.comment = iniComment(s.comment, key, []string{s.name})
		for i := range s.keys {
			k := &s.keys[i]
			v, err := w.leaf([]string{s.name, k.name}, k.value)
			if err != nil {
				return nil, err
			}
			k.value, k.comment = iniString(v), iniComment(k.comment, key, []string{s.name})
		}
	}
	if err := w.verify(); err != nil {
		return nil, err
	}
	return writeINI(body), nil
}

// writeINI writes sections as SOPS's INI library does (`sops decrypt`
// prints the same text): a blank line between sections, no header for a
// leading DEFAULT section, "=" aligned within a section, and keys and
// values quoted where reading them back needs it.
func writeINI(sections []*iniSection) []byte {
	var out bytes.Buffer
	for i, s := range sections {
		writeINIComment(&out, s.comment, false)
		if i == 0 && s.name == iniDefault {
			if len(s.keys) == 0 {
				continue
			}
		} else {
			out.WriteString("[" + s.name + "]\n")
		}
		width := 0
		for _, k := range s.keys {
			width = max(width, len(iniQuoteKey(k.name)))
		}
		for _, k := range s.keys {
			writeINIComment(&out, k.comment, true)
			name := iniQuoteKey(k.name)
			out.WriteString(name + strings.Repeat(" ", width-len(name)) + " = " + iniQuoteValue(k.value) + "\n")
		}
		if i < len(sections)-1 {
			out.WriteString("\n")
		}
	}
	return out.Bytes()
}

// iniComment returns a comment as SOPS keeps it (the first line without its
// comment character), decrypted when SOPS encrypted it. Comments are not
// covered by the MAC; one that does not decrypt is kept as it is, as SOPS
// does.
func iniComment(c string, key []byte, path []string) string {
	if c == "" {
		return ""
	}
	if c[0] == ';' {
		c = strings.TrimLeft(c, "; ")
	} else {
		c = strings.TrimLeft(c, "# ")
	}
	if isEncryptedValue(c) {
		if v, err := decryptValue(c, key, pathString(path)); err == nil {
			if s, ok := v.(string); ok {
				return s
			}
		}
	}
	return c
}

func writeINIComment(out *bytes.Buffer, c string, trim bool) {
	if c == "" {
		return
	}
	for l := range strings.SplitSeq(c, "\n") {
		if l == "" || l[0] != '#' && l[0] != ';' {
			if trim {
				l = strings.TrimSpace(l)
			}
			l = "; " + l
		}
		out.WriteString(l + "\n")
	}
}

// iniString writes a decrypted value as INI text.
func iniString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	}
	b, err := macBytes(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// iniQuoteValue and iniQuoteKey quote as gopkg.in/ini.v1 does, so that the
// text reads back to the same values.
func iniQuoteValue(v string) string {
	switch {
	case strings.ContainsAny(v, "\n`"):
		return `"""` + v + `"""`
	case strings.ContainsAny(v, "#;"):
		return "`" + v + "`"
	case strings.TrimSpace(v) != v:
		return `"` + v + `"`
	}
	return v
}

func iniQuoteKey(k string) string {
	switch {
	case strings.ContainsAny(k, "\"=:"):
		return "`" + k + "`"
	case strings.Contains(k, "`"):
		return `"""` + k + `"""`
	}
	return k
}
