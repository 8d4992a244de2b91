package sops

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// dotenvPrefix starts the keys of a dotenv file's metadata.
const dotenvPrefix = "sops_"

// Separators of flattened metadata keys: age__list_0__map_recipient is
// age[0].recipient.
const (
	flatMap  = "__map_"
	flatList = "__list_"
)

type dotenvLine struct {
	comment    bool
	key, value string
}

func parseDotenv(data []byte) ([]dotenvLine, error) {
	var lines []dotenvLine
	for i, l := range bytes.Split(data, []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		if l[0] == '#' {
			lines = append(lines, dotenvLine{comment: true, value: string(l[1:])})
			continue
		}
		k, v, ok := bytes.Cut(l, []byte("="))
		if !ok {
			return nil, fmt.Errorf("line %d: not KEY=VALUE", i+1)
		}
		lines = append(lines, dotenvLine{key: string(k), value: strings.ReplaceAll(string(v), `\n`, "\n")})
	}
	return lines, nil
}

func decryptDotenv(data []byte, keys *Keys) ([]byte, error) {
	lines, err := parseDotenv(data)
	if err != nil {
		return nil, err
	}
	var flat [][2]string
	body := lines[:0]
	for _, l := range lines {
		if !l.comment && strings.HasPrefix(l.key, dotenvPrefix) {
			flat = append(flat, [2]string{strings.TrimPrefix(l.key, dotenvPrefix), l.value})
			continue
		}
		body = append(body, l)
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
	var out bytes.Buffer
	for _, l := range body {
		if l.comment {
			c := l.value
			if isEncryptedValue(c) {
				if v, err := decryptValue(c, key, pathString(nil)); err == nil {
					if s, ok := v.(string); ok {
						c = s
					}
				}
			}
			out.WriteString("#" + c + "\n")
			continue
		}
		v, err := w.leaf([]string{l.key}, l.value)
		if err != nil {
			return nil, err
		}
		s, ok := v.(string)
		if !ok {
			b, err := macBytes(v)
			if err != nil {
				return nil, err
			}
			s = string(b)
			if bv, isBool := v.(bool); isBool {
				s = strconv.FormatBool(bv)
			}
		}
		out.WriteString(l.key + "=" + strings.ReplaceAll(s, "\n", `\n`) + "\n")
	}
	if err := w.verify(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// unflattenMetadata rebuilds the metadata from flattened keys.
func unflattenMetadata(flat [][2]string) (*metadata, error) {
	if len(flat) == 0 {
		return nil, errors.New("no sops metadata")
	}
	root := map[string]any{}
	for _, kv := range flat {
		if err := setFlat(root, kv[0], kv[1]); err != nil {
			return nil, fmt.Errorf("sops metadata: %s: %w", kv[0], err)
		}
	}
	tree := listify(root)
	m := tree.(map[string]any)
	// Flattened values are all strings; SOPS reads these two weakly typed.
	if v, ok := m["mac_only_encrypted"].(string); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("sops metadata: mac_only_encrypted: %w", err)
		}
		m["mac_only_encrypted"] = b
	}
	if v, ok := m["shamir_threshold"].(string); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("sops metadata: shamir_threshold: %w", err)
		}
		m["shamir_threshold"] = n
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var md metadata
	if err := json.Unmarshal(raw, &md); err != nil {
		return nil, fmt.Errorf("sops metadata: %w", err)
	}
	return &md, nil
}

// setFlat stores value under a flattened key. List indices become map keys
// "#N" until listify turns them into slices.
func setFlat(root map[string]any, key, value string) error {
	var tokens []string
	first := key
	if i := strings.Index(key, "__"); i >= 0 && (strings.HasPrefix(key[i:], flatMap) || strings.HasPrefix(key[i:], flatList)) {
		first, key = key[:i], key[i:]
	} else {
		key = ""
	}
	tokens = append(tokens, first)
	for key != "" {
		var sep string
		switch {
		case strings.HasPrefix(key, flatMap):
			sep = flatMap
		case strings.HasPrefix(key, flatList):
			sep = flatList
		default:
			return errors.New("malformed flattened key")
		}
		key = key[len(sep):]
		end := len(key)
		for _, s := range []string{flatMap, flatList} {
			if j := strings.Index(key, s); j >= 0 && j < end {
				end = j
			}
		}
		name := key[:end]
		if sep == flatList {
			if _, err := strconv.Atoi(name); err != nil {
				return errors.New("malformed list index")
			}
			name = "#" + name
		}
		tokens = append(tokens, name)
		key = key[end:]
	}
	m := root
	for _, t := range tokens[:len(tokens)-1] {
		next, ok := m[t].(map[string]any)
		if !ok {
			if _, exists := m[t]; exists {
				return errors.New("conflicting flattened keys")
			}
			next = map[string]any{}
			m[t] = next
		}
		m = next
	}
	m[tokens[len(tokens)-1]] = value
	return nil
}

// listify turns maps whose keys are all "#N" into slices ordered by N.
func listify(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	list := len(m) > 0
	for k, x := range m {
		m[k] = listify(x)
		if !strings.HasPrefix(k, "#") {
			list = false
		}
	}
	if !list {
		return m
	}
	idx := make([]int, 0, len(m))
	for k := range m {
		n, _ := strconv.Atoi(k[1:])
		idx = append(idx, n)
	}
	sort.Ints(idx)
	out := make([]any, 0, len(idx))
	for _, n := range idx {
		out = append(out, m["#"+strconv.Itoa(n)])
	}
	return out
}
