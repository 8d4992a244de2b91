package sops

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// jsonValue is a JSON value that keeps its object keys in file order: the
// MAC depends on the order of the values.
type jsonValue struct {
	object, array bool
	keys          []string     // object keys
	items         []*jsonValue // object values or array items
	scalar        any          // string, json.Number, bool or nil
}

func parseJSON(data []byte) (*jsonValue, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := readJSON(dec)
	if err != nil {
		return nil, fmt.Errorf("JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("JSON: data after the top-level value")
	}
	return v, nil
}

func readJSON(dec *json.Decoder) (*jsonValue, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		v := &jsonValue{object: true}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			item, err := readJSON(dec)
			if err != nil {
				return nil, err
			}
			v.keys = append(v.keys, k.(string))
			v.items = append(v.items, item)
		}
		_, err := dec.Token()
		return v, err
	case json.Delim('['):
		v := &jsonValue{array: true}
		for dec.More() {
			item, err := readJSON(dec)
			if err != nil {
				return nil, err
			}
			v.items = append(v.items, item)
		}
		_, err := dec.Token()
		return v, err
	default:
		return &jsonValue{scalar: tok}, nil
	}
}

// jsonMetadata reads the "sops" entry of a JSON object, reporting false
// when there is none with a mac.
func jsonMetadata(data []byte) (*metadata, bool, error) {
	var top struct {
		Sops json.RawMessage `json:"sops"`
	}
	if err := json.Unmarshal(data, &top); err != nil || len(top.Sops) == 0 || top.Sops[0] != '{' {
		return nil, false, nil
	}
	var md metadata
	if err := json.Unmarshal(top.Sops, &md); err != nil {
		return nil, false, fmt.Errorf("sops metadata: %w", err)
	}
	if md.MAC == "" {
		return nil, false, nil
	}
	return &md, true, nil
}

func decryptJSON(data []byte, keys *Keys, binary bool) ([]byte, error) {
	md, ok, err := jsonMetadata(data)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("no sops metadata")
	}
	root, err := parseJSON(data)
	if err != nil {
		return nil, err
	}
	for i := 0; i < len(root.keys); i++ {
		if root.keys[i] == metadataKey {
			root.keys = append(root.keys[:i], root.keys[i+1:]...)
			root.items = append(root.items[:i], root.items[i+1:]...)
			i--
		}
	}
	w, err := keys.walker(md)
	if err != nil {
		return nil, err
	}
	if err := w.jsonNode(root, nil); err != nil {
		return nil, err
	}
	if err := w.verify(); err != nil {
		return nil, err
	}
	if binary {
		if len(root.keys) != 1 || root.keys[0] != "data" {
			return nil, errors.New("binary SOPS file: want exactly one value, data")
		}
		switch v := root.items[0].scalar.(type) {
		case string:
			return []byte(v), nil
		case []byte:
			return v, nil
		default:
			return nil, errors.New("binary SOPS file: data is not a string")
		}
	}
	var out bytes.Buffer
	if err := writeJSON(&out, root, ""); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// jsonNode decrypts the values below v, which sits at path, in place.
func (w *walker) jsonNode(v *jsonValue, path []string) error {
	switch {
	case v.object:
		for i, k := range v.keys {
			if err := w.jsonNode(v.items[i], append(path[:len(path):len(path)], k)); err != nil {
				return err
			}
		}
	case v.array:
		for _, item := range v.items {
			if err := w.jsonNode(item, path); err != nil {
				return err
			}
		}
	default:
		s := v.scalar
		if n, ok := s.(json.Number); ok {
			// SOPS reads integers in the int64 range as integers,
			// other numbers as floats.
			if i, err := n.Int64(); err == nil {
				s = int(i)
			} else if f, err := n.Float64(); err == nil {
				s = f
			} else {
				return fmt.Errorf("%s: %w", displayPath(path), err)
			}
		}
		if s == nil {
			return nil
		}
		out, err := w.leaf(path, s)
		if err != nil {
			return err
		}
		if w.rules.encrypted(path) {
			v.scalar = out
		}
	}
	return nil
}

// writeJSON writes v indented by two spaces, keys in order.
func writeJSON(out *bytes.Buffer, v *jsonValue, indent string) error {
	inner := indent + "  "
	switch {
	case v.object || v.array:
		open, end := "[", "]"
		if v.object {
			open, end = "{", "}"
		}
		out.WriteString(open)
		for i, item := range v.items {
			if i > 0 {
				out.WriteByte(',')
			}
			out.WriteString("\n" + inner)
			if v.object {
				if err := writeScalar(out, v.keys[i]); err != nil {
					return err
				}
				out.WriteString(": ")
			}
			if err := writeJSON(out, item, inner); err != nil {
				return err
			}
		}
		if len(v.items) > 0 {
			out.WriteString("\n" + indent)
		}
		out.WriteString(end)
		return nil
	default:
		return writeScalar(out, v.scalar)
	}
}

func writeScalar(out *bytes.Buffer, v any) error {
	if b, ok := v.([]byte); ok {
		v = string(b)
	}
	if n, ok := v.(json.Number); ok {
		out.WriteString(n.String())
		return nil
	}
	var buf strings.Builder
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("JSON: %w", err)
	}
	out.WriteString(strings.TrimSuffix(buf.String(), "\n"))
	return nil
}
