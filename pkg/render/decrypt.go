package render

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	objectid "github.com/gitsync/gitsync/pkg/object"
	"github.com/gitsync/gitsync/pkg/sops"
)

// ErrDecryptionRequired is wrapped by the error Render returns when the
// render reads a SOPS-encrypted file, or yields a SOPS-encrypted object,
// and Options.Decryption is nil. The ciphertext is never applied.
var ErrDecryptionRequired = errors.New("decryption required: SOPS-encrypted, and no decryption is configured")

// decrypt returns a file's content as the render uses it: SOPS-encrypted
// files (recognised by their metadata, in the format SOPS picks by
// extension) decrypted, everything else unchanged. Decrypting as files are
// read, before kustomize parses them, covers resources, patches and
// generator files and envs alike, keeps the values in the order the MAC
// was computed in, and never decrypts a file the render does not use.
func (c *confinedFS) decrypt(real string, data []byte) ([]byte, error) {
	if out, ok := c.decrypted[real]; ok {
		return out, nil
	}
	f := sops.FormatFor(real)
	if !sops.IsEncrypted(f, data) {
		return data, nil
	}
	// The error returned is wrapped with the file's name by the readers
	// that know it; the violation, which Render reports after a kustomize
	// build, names the file itself.
	if c.keys == nil {
		err := ErrDecryptionRequired
		if ids := encryptedObjects(data); len(ids) > 0 {
			err = fmt.Errorf("%w (for %s)", ErrDecryptionRequired, strings.Join(ids, ", "))
		}
		_ = c.refuse(fmt.Errorf("%s: %w", c.rel(real), err))
		return nil, err
	}
	out, err := sops.Decrypt(f, data, c.keys)
	if err != nil {
		err = fmt.Errorf("SOPS decryption failed: %w", err)
		_ = c.refuse(fmt.Errorf("%s: %w", c.rel(real), err))
		return nil, err
	}
	c.secrets.Add(decryptedValues(f, data, out)...)
	if c.decrypted == nil {
		c.decrypted = map[string][]byte{}
	}
	c.decrypted[real] = out
	return out, nil
}

// decryptedValues returns the values decryption revealed: the scalars of
// the decrypted YAML or JSON that the encrypted file does not hold as they
// are (values encrypted_regex left in clear stay out), but for an
// object's apiVersion, kind and metadata, which name it in every message
// even when SOPS encrypted them; each value of a dotenv or INI file; a
// binary file whole.
func decryptedValues(f sops.Format, encrypted, decrypted []byte) []string {
	switch f {
	case sops.YAML, sops.JSON:
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
	case sops.Dotenv, sops.INI:
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

// encryptedObjects names the objects of an encrypted YAML or JSON file, as
// far as their kind and name are in clear (encrypted_regex leaves them so),
// for the message that asks for decryption.
func encryptedObjects(data []byte) []string {
	var ids []string
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc struct {
			Kind     string `yaml:"kind"`
			Metadata struct {
				Name      string `yaml:"name"`
				Namespace string `yaml:"namespace"`
			} `yaml:"metadata"`
		}
		if err := dec.Decode(&doc); err != nil {
			return ids
		}
		id := objectid.ID{Kind: doc.Kind, Namespace: doc.Metadata.Namespace, Name: doc.Metadata.Name}.String()
		if doc.Kind != "" && doc.Metadata.Name != "" && !strings.Contains(id, "ENC[") {
			ids = append(ids, id)
		}
	}
}

// checkNotEncrypted fails on an object that still carries SOPS metadata
// after the render (one that did not come from a file, or was encrypted
// as a nested document): it would be applied as ciphertext.
func checkNotEncrypted(obj map[string]any, keys *sops.Keys) error {
	md, ok := obj["sops"].(map[string]any)
	if !ok {
		return nil
	}
	if _, ok := md["mac"]; !ok {
		return nil
	}
	if keys == nil {
		return ErrDecryptionRequired
	}
	return errors.New("still SOPS-encrypted after decryption; encrypt whole files, not objects inside other objects")
}
