package syncrun

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"

	"github.com/gitsync/gitsync/pkg/object"
	"github.com/gitsync/gitsync/pkg/render"
	"github.com/gitsync/gitsync/pkg/sops"
	"github.com/gitsync/gitsync/pkg/spec"
)

// decryptionKeys reads the keys of a decryption setting from its Secret in
// namespace ns; field names the setting in errors. A Secret without any
// key entry is an error: every encrypted file would fail anyway, and
// saying so at once names the real cause. The digest covers the Secret's
// key entries, so that new keys make the next run render again.
func (r *runner) decryptionKeys(ctx context.Context, ns string, d *spec.Decryption, field string) (*sops.Keys, string, error) {
	if d == nil {
		return nil, "", nil
	}
	if d.Provider != spec.DecryptionProviderSOPS || d.SecretRef == nil {
		return nil, "", fmt.Errorf("%s: provider must be %s, with a secretRef", field, spec.DecryptionProviderSOPS)
	}
	id := object.ID{Kind: "Secret", Namespace: ns, Name: d.SecretRef.Name}
	data, found, err := r.readDataIn(ctx, ns, "Secret", d.SecretRef.Name, field+".secretRef", false)
	if err != nil {
		return nil, "", err
	}
	if !found {
		return nil, "", fmt.Errorf("%s (%s.secretRef): not found", id, field)
	}
	keys, err := sops.ParseKeys(data)
	if err != nil {
		return nil, "", fmt.Errorf("%s (%s.secretRef): %w", id, field, err)
	}
	if keys.Empty() {
		return nil, "", fmt.Errorf("%s (%s.secretRef): no entry ending in %s or %s holds a key",
			id, field, sops.AgeKeySuffix, sops.PGPKeySuffix)
	}
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(data)) {
		fmt.Fprintf(h, "%d:%s=%d:", len(k), k, len(data[k]))
		h.Write(data[k])
	}
	return keys, hex.EncodeToString(h.Sum(nil)), nil
}

// withDigest adds the digest of another input to a digest of inputs.
func withDigest(digest, more string) string {
	if more == "" {
		return digest
	}
	sum := sha256.Sum256([]byte(digest + "\n" + more))
	return hex.EncodeToString(sum[:])
}

// decryptValuesData decrypts the SOPS-encrypted entries of a valuesFrom
// ConfigMap or Secret (Flux leaves them encrypted; gitsync decrypts them
// with the sync's decryption keys). An entry is read in the format its
// name says, YAML when the name has no known extension, as Helm values
// are YAML. id and field name the object and the spec field in errors.
func decryptValuesData(data map[string][]byte, keys *sops.Keys, id object.ID, field string) (map[string][]byte, error) {
	var out map[string][]byte
	for k, v := range data {
		f := sops.FormatFor(k)
		if f == sops.Binary || f == sops.INI {
			f = sops.YAML
		}
		if !sops.IsEncrypted(f, v) {
			continue
		}
		if keys == nil {
			return nil, fmt.Errorf("%s (%s): key %s: %w", id, field, k, render.ErrDecryptionRequired)
		}
		plain, err := sops.Decrypt(f, v, keys)
		if err != nil {
			return nil, fmt.Errorf("%s (%s): key %s: SOPS decryption failed: %w", id, field, k, err)
		}
		if out == nil {
			out = maps.Clone(data)
		}
		out[k] = plain
	}
	if out == nil {
		return data, nil
	}
	return out, nil
}
