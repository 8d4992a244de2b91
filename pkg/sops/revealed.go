package sops

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Revealed returns the values decryption revealed, for masking in
// whatever reports them (redact.Secrets): the scalars of
// the decrypted YAML or JSON that the encrypted file does not hold as they
// are (values encrypted_regex left in clear stay out), but for an
// object's apiVersion, kind and metadata, which name it in every message
// even when SOPS encrypted them; each value of a dotenv or INI file; a
// binary file whole. They are sorted and each is there once, so that the
// same files reveal the same list (what a chart's render returns is
// compared across processes).
func Revealed(f Format, encrypted, decrypted []byte) []string {
	out := revealed(f, encrypted, decrypted)
	slices.Sort(out)
	return slices.Compact(out)
}

func revealed(f Format, encrypted, decrypted []byte) []string {
	switch f {
	case YAML, JSON:
		clear := map[string]bool{}
		var enc any
		if yaml.Unmarshal(encrypted, &enc) == nil {
			scalars(enc, func(s string) { clear[s] = true })
		}
		var out []string
		dec := yaml.NewDecoder(bytes.NewReader(decrypted))
		for {
			var doc any
			if dec.Decode(&doc) != nil {
				break
			}
			if m, ok := doc.(map[string]any); ok {
				delete(m, "apiVersion")
				delete(m, "kind")
				delete(m, "metadata")
				doc = m
			}
			scalars(doc, func(s string) {
				if !clear[s] {
					out = append(out, s)
				}
			})
		}
		return out
	case Dotenv, INI:
		var out []string
		for line := range strings.Lines(string(decrypted)) {
			if _, v, ok := strings.Cut(line, "="); ok {
				out = append(out, v)
			}
		}
		return out
	}
	return []string{string(decrypted)}
}

// scalars calls fn with every scalar of a decoded document, as text.
func scalars(v any, fn func(string)) {
	switch t := v.(type) {
	case map[string]any:
		for _, e := range t {
			scalars(e, fn)
		}
	case []any:
		for _, e := range t {
			scalars(e, fn)
		}
	case nil:
	case string:
		fn(t)
	default:
		fn(fmt.Sprint(t))
	}
}
