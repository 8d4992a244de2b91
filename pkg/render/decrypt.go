package render

import (
	"errors"
	"fmt"

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
		_ = c.refuse(fmt.Errorf("%s: %w", c.rel(real), ErrDecryptionRequired))
		return nil, ErrDecryptionRequired
	}
	out, err := sops.Decrypt(f, data, c.keys)
	if err != nil {
		err = fmt.Errorf("SOPS decryption failed: %w", err)
		_ = c.refuse(fmt.Errorf("%s: %w", c.rel(real), err))
		return nil, err
	}
	if c.decrypted == nil {
		c.decrypted = map[string][]byte{}
	}
	c.decrypted[real] = out
	return out, nil
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
