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
	c.secrets.Add(sops.Revealed(f, data, out)...)
	if c.decrypted == nil {
		c.decrypted = map[string][]byte{}
	}
	c.decrypted[real] = out
	return out, nil
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
