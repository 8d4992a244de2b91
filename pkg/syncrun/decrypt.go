package syncrun

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/gitsync/gitsync/pkg/flux"
	"github.com/gitsync/gitsync/pkg/lockdown"
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

// fallbackKeysField names the sync's spec.decryption where a unit's
// decryption without a secretRef falls back to it.
const fallbackKeysField = "spec.decryption (no secretRef: the sync's spec.decryption)"

// kustomizationKeys reads the keys of Flux Kustomization id's decryption d.
// With a secretRef they are read in the Kustomization's namespace, as Flux
// does. Without one, kustomize-controller uses its controller-level keys
// (the Secret of its --sops-age-secret flag); gitsync's controller is the
// sync, so the keys of the sync's own spec.decryption are used, read in
// the sync's namespace, with their digest. A sync without decryption gives
// none: the unit then renders as one without decryption, and
// decryptionHint says what to configure when a file needs keys.
//
// A namespace locked down against cross-namespace references refuses the
// fallback for a Kustomization of another namespace: the sync's keys
// would decrypt that namespace's files, which is the crossing the lockdown
// exists to prevent.
func (r *runner) kustomizationKeys(ctx context.Context, id flux.ID, d *spec.Decryption) (*sops.Keys, string, error) {
	if d == nil || d.SecretRef != nil || d.Provider != spec.DecryptionProviderSOPS {
		return r.decryptionKeys(ctx, id.Namespace, d, "spec.decryption")
	}
	if r.sync.Spec.Decryption == nil {
		return nil, "", nil
	}
	if r.sync.Spec.Flux.CrossNamespaceRefsRefused() && id.Namespace != r.opts.Namespace {
		return nil, "", fmt.Errorf("%s: %s: refused: the sync's keys are in namespace %s, and cross-namespace "+
			"references are refused (%s); give the Kustomization a decryption.secretRef in its own namespace %s",
			id, fallbackKeysField, r.opts.Namespace, r.crossNamespaceRefusal(), id.Namespace)
	}
	keys, digest, err := r.decryptionKeys(ctx, r.opts.Namespace, r.sync.Spec.Decryption, "the sync's spec.decryption")
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", fallbackKeysField, err)
	}
	return keys, digest, nil
}

// decryptionHint says what to configure in the render error of Flux
// Kustomization id when the render needed keys that the unit lacks because
// its decryption, without a secretRef, fell back to a sync without
// decryption. Every other error is returned as it is, so that a unit
// without decryption fails as it always did.
func (r *runner) decryptionHint(err error, id flux.ID, d *spec.Decryption) error {
	if !errors.Is(err, render.ErrDecryptionRequired) || d == nil || d.SecretRef != nil || r.sync.Spec.Decryption != nil {
		return err
	}
	hint := "give the Kustomization a decryption.secretRef, or the sync a spec.decryption"
	if r.sync.Spec.Flux.CrossNamespaceRefsRefused() && id.Namespace != r.opts.Namespace {
		hint = "give the Kustomization a decryption.secretRef (cross-namespace references are refused: " + r.crossNamespaceRefusal() + ")"
	}
	return fmt.Errorf("%w; spec.decryption has no secretRef, and the sync has no spec.decryption whose keys it "+
		"would use: %s", err, hint)
}

// crossNamespaceRefusal says what refuses cross-namespace references: the
// namespace's lockdown, or the sync's own spec.
func (r *runner) crossNamespaceRefusal() string {
	if r.lockdown.NoCrossNamespaceRefs {
		return "the lockdown of namespace " + r.opts.Namespace + ", annotation " + lockdown.AnnotationNoCrossNamespaceRefs
	}
	return "spec.flux.noCrossNamespaceRefs"
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
