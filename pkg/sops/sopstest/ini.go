package sopstest

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// INI encrypts an INI file of [section] headers and key = value lines
// (keys before the first header are in the section DEFAULT), writing it
// as SOPS's INI store does: values as ENC[...] with the path
// [section, key], comments left out, and the metadata as a [sops] section
// of flattened keys with newlines written as \n.
func INI(plain []byte, o Options) ([]byte, error) {
	e, err := newEnc(&o)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	section := "DEFAULT"
	for _, l := range strings.Split(string(plain), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "" || l[0] == '#' || l[0] == ';':
			continue
		case l[0] == '[':
			section = strings.TrimSuffix(l[1:], "]")
			fmt.Fprintf(&out, "[%s]\n", section)
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return nil, fmt.Errorf("sopstest: not key = value: %q", l)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		s, enc, err := e.leaf([]string{section, k}, v)
		if err != nil {
			return nil, err
		}
		if !enc {
			s = v
		}
		fmt.Fprintf(&out, "%s = %s\n", k, s)
	}
	md, err := e.metadata()
	if err != nil {
		return nil, err
	}
	out.WriteString("\n[sops]\n")
	for _, kv := range flatten("", md) {
		fmt.Fprintf(&out, "%s = %s\n", kv[0], strings.ReplaceAll(kv[1], "\n", `\n`))
	}
	return out.Bytes(), nil
}

// flatten writes nested metadata as SOPS's flat keys: a map's entries as
// prefix__map_key, a list's as prefix__list_N (no separator at the top).
func flatten(prefix string, v any) [][2]string {
	join := func(sep, k string) string {
		if prefix == "" {
			return k
		}
		return prefix + sep + k
	}
	var out [][2]string
	switch v := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			out = append(out, flatten(join("__map_", k), v[k])...)
		}
	case map[string]string:
		m := map[string]any{}
		for k, x := range v {
			m[k] = x
		}
		out = flatten(prefix, m)
	case []map[string]string:
		for i, x := range v {
			out = append(out, flatten(join("__list_", fmt.Sprint(i)), x)...)
		}
	case []map[string]any:
		for i, x := range v {
			out = append(out, flatten(join("__list_", fmt.Sprint(i)), x)...)
		}
	default:
		out = append(out, [2]string{prefix, fmt.Sprint(v)})
	}
	return out
}
