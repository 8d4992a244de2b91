package sops

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// metadataKey is the top-level key that holds a file's SOPS metadata.
const metadataKey = "sops"

// yamlDocs parses every document of data.
func yamlDocs(data []byte) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("YAML: %w", err)
		}
		docs = append(docs, &n)
	}
}

// yamlMetadataNode returns the index of the "sops" key in the document's
// top-level mapping, or -1.
func yamlMetadataNode(doc *yaml.Node) (*yaml.Node, int) {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, -1
	}
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Kind == yaml.ScalarNode && m.Content[i].Value == metadataKey {
			return m, i
		}
	}
	return nil, -1
}

// yamlMetadata reads the metadata of the first document, reporting false
// when there is none (a "sops" key that is not a mapping with a mac is
// not SOPS metadata).
func yamlMetadata(data []byte) (*metadata, bool, error) {
	docs, err := yamlDocs(data)
	if err != nil || len(docs) == 0 {
		return nil, false, err
	}
	return yamlMetadataOf(docs[0])
}

func yamlMetadataOf(doc *yaml.Node) (*metadata, bool, error) {
	m, i := yamlMetadataNode(doc)
	if i < 0 || m.Content[i+1].Kind != yaml.MappingNode {
		return nil, false, nil
	}
	var md metadata
	if err := m.Content[i+1].Decode(&md); err != nil {
		return nil, false, fmt.Errorf("sops metadata: %w", err)
	}
	if md.MAC == "" {
		return nil, false, nil
	}
	return &md, true, nil
}

func decryptYAML(data []byte, keys *Keys) ([]byte, error) {
	docs, err := yamlDocs(data)
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, errors.New("no sops metadata")
	}
	md, ok, err := yamlMetadataOf(docs[0])
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("no sops metadata in the first document")
	}
	w, err := keys.walker(md)
	if err != nil {
		return nil, err
	}
	for _, doc := range docs {
		if m, i := yamlMetadataNode(doc); i >= 0 {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
		}
		for _, n := range doc.Content {
			if n.Kind != yaml.MappingNode {
				if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
					continue
				}
				return nil, errors.New("YAML: a SOPS document must be a mapping")
			}
			if err := w.yamlNode(n, nil); err != nil {
				return nil, err
			}
		}
	}
	if err := w.verify(); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	for _, doc := range docs {
		if err := enc.Encode(doc); err != nil {
			return nil, fmt.Errorf("YAML: %w", err)
		}
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// yamlNode decrypts the values below n, which sits at path, in place.
func (w *walker) yamlNode(n *yaml.Node, path []string) error {
	if n.Kind != yaml.ScalarNode {
		w.yamlComments(n, path)
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			w.yamlComments(k, path)
			if v := n.Content[i+1]; v.Kind == yaml.ScalarNode {
				// A scalar's comments belong to the mapping.
				w.yamlComments(v, path)
			}
			var key any
			if err := k.Decode(&key); err != nil {
				return fmt.Errorf("%s: key: %w", displayPath(path), err)
			}
			s, ok := key.(string)
			if !ok {
				return fmt.Errorf("%s: key at line %d is not a string", displayPath(path), k.Line)
			}
			if err := w.yamlNode(n.Content[i+1], append(path[:len(path):len(path)], s)); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for _, item := range n.Content {
			if item.Kind == yaml.ScalarNode {
				w.yamlComments(item, path)
			}
			if err := w.yamlNode(item, path); err != nil {
				return err
			}
		}
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return fmt.Errorf("%s: line %d: %w", displayPath(path), n.Line, err)
		}
		if v == nil {
			return nil
		}
		out, err := w.leaf(path, v)
		if err != nil {
			return err
		}
		if w.rules.encrypted(path) {
			setScalar(n, out)
		}
	case yaml.AliasNode:
		return fmt.Errorf("%s: line %d: YAML aliases are %w in SOPS files", displayPath(path), n.Line, ErrUnsupported)
	}
	return nil
}

// yamlComments decrypts the encrypted comments of n, which SOPS encrypts
// with the path of the mapping or sequence holding them. A comment that
// does not decrypt is left as it is, as SOPS leaves it; comments are not
// covered by the MAC.
func (w *walker) yamlComments(n *yaml.Node, path []string) {
	for _, c := range []*string{&n.HeadComment, &n.LineComment, &n.FootComment} {
		if !strings.Contains(*c, "ENC[") {
			continue
		}
		lines := strings.Split(*c, "\n")
		for i, l := range lines {
			t := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "#"))
			if !isEncryptedValue(t) {
				continue
			}
			if v, err := decryptValue(t, w.key, pathString(path)); err == nil {
				if s, ok := v.(string); ok {
					lines[i] = "#" + s
				}
			}
		}
		*c = strings.Join(lines, "\n")
	}
}

// setScalar stores a decrypted value in n with the tag of its type.
func setScalar(n *yaml.Node, v any) {
	n.Style = 0
	switch v := v.(type) {
	case string:
		n.Tag, n.Value = "!!str", v
	case []byte:
		if utf8.Valid(v) {
			n.Tag, n.Value = "!!str", string(v)
		} else {
			n.Tag, n.Value = "!!binary", base64.StdEncoding.EncodeToString(v)
		}
	case int:
		n.Tag, n.Value = "!!int", strconv.Itoa(v)
	case float64:
		n.Tag, n.Value = "!!float", strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		n.Tag, n.Value = "!!bool", strconv.FormatBool(v)
	case time.Time:
		n.Tag, n.Value = "!!timestamp", v.Format(time.RFC3339Nano)
	}
}
