package oci

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/source/registry"
)

// cosign v3's signatures: a Sigstore bundle stored as an OCI 1.1 artifact
// whose subject is the signed manifest (cosign's specs/BUNDLE_SPEC.md).
const (
	// BundleMediaType is the artifactType of a bundle's manifest and the
	// media type of its one layer, the bundle's JSON.
	BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// bundleMediaTypePrefix matches every bundle version.
	bundleMediaTypePrefix = "application/vnd.dev.sigstore.bundle"
	// EmptyMediaType is the media type of a bundle manifest's config.
	EmptyMediaType = "application/vnd.oci.empty.v1+json"
	// CosignSignPredicateType is the predicate type of the in-toto
	// statement `cosign sign` signs (a DSSE envelope) in a bundle: its
	// subject is the manifest digest, its predicate empty.
	CosignSignPredicateType = "https://sigstore.dev/cosign/sign/v1"
	// InTotoPayloadType is the DSSE payload type of an in-toto statement.
	InTotoPayloadType = "application/vnd.in-toto+json"
	// maxReferrers bounds the referrers examined.
	maxReferrers = 64
)

// signer checks one signature and says who made it, or what is wrong
// with it.
type signer struct {
	// legacy checks a ".sig" layer and its payload (checkSignatures).
	legacy func(l v1.Descriptor, payload []byte) (by, problem string)
	// bundle checks a Sigstore bundle against the artifact's digest.
	bundle func(b *bundle.Bundle, digest []byte) (by, problem string)
}

// verifyArtifact verifies that a cosign signature of digest, in either
// layout, verifies with v: first a Sigstore bundle among the referrers of
// digest (cosign v3), then the signature manifest at the ".sig" tag
// (cosign v2), as cosign looks for both. It returns what verified it;
// a bundle adds "(sigstore bundle <its manifest digest>)". Errors wrap
// source.ErrVerification and say where signatures were looked for.
func verifyArtifact(ctx context.Context, repo name.Repository, ropts []remote.Option, digest string, v *Verification) (string, error) {
	var (
		s           signer
		kind, trust string
	)
	if len(v.Identities) > 0 {
		t, err := parseKeyless(v.TrustedRoot, v.Identities)
		if err != nil {
			return "", fmt.Errorf("keyless verification: %v: %w", err, source.ErrInvalidOptions)
		}
		s, kind, trust = t.signer(v.Identities)
	} else {
		keys, err := parseKeys(v.Keys)
		if err != nil {
			return "", fmt.Errorf("verification keys: %v: %w", err, source.ErrInvalidOptions)
		}
		s, kind, trust = keySigner(keys)
	}
	by, bundles, lookupErr := checkBundles(ctx, repo, ropts, digest, s.bundle)
	if by != "" {
		return by, nil
	}
	by, err := checkSignatures(ctx, repo, ropts, digest, kind, trust, bundles, s.legacy)
	if err == nil {
		return by, nil
	}
	if lookupErr != nil && errors.Is(err, source.ErrVerification) {
		// The registry failed to list the referrers: that, not a missing
		// signature, is the error.
		return "", fmt.Errorf("%s: referrers of %s: %w (and %v)", kind, digest, lookupErr, err)
	}
	return "", err
}

// checkBundles lists the referrers of digest (the referrers API, or the
// referrers tag "sha256-<hex>" where the registry has none), reads each
// Sigstore bundle among them and checks it. It returns the first signer
// that verifies, else what was found, for the error message, and the
// error of listing the referrers, if any.
func checkBundles(ctx context.Context, repo name.Repository, ropts []remote.Option, digest string,
	check func(b *bundle.Bundle, digest []byte) (by, problem string)) (by, found string, err error) {
	h, err := v1.NewHash(digest)
	if err != nil {
		return "", "", err
	}
	raw, err := hex.DecodeString(h.Hex)
	if err != nil {
		return "", "", err
	}
	where := "referrers of " + digest + " (referrers API, or tag " + strings.Replace(digest, ":", "-", 1) + ")"
	idx, err := remote.Referrers(repo.Digest(digest), append(ropts, remote.WithContext(ctx))...)
	if err != nil {
		if registry.IsNotFound(err) {
			return "", "no sigstore bundle: " + where + " not found", nil
		}
		return "", "could not list " + where, registry.Error(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return "", "could not list " + where, err
	}
	var problems []string
	seen := 0
	for _, d := range im.Manifests {
		// A registry reports the manifest's artifactType, or its config's
		// media type (the empty one) when it does not know artifactType.
		if d.ArtifactType != "" && d.ArtifactType != EmptyMediaType && !strings.HasPrefix(d.ArtifactType, bundleMediaTypePrefix) {
			continue
		}
		if seen++; seen > maxReferrers {
			break
		}
		b, problem, err := readBundle(ctx, repo, ropts, d, digest)
		if err != nil {
			return "", "could not read referrer " + d.Digest.String(), fmt.Errorf("referrer %s: %w", d.Digest, err)
		}
		if b == nil {
			if problem != "" {
				problems = append(problems, fmt.Sprintf("referrer %s: %s", d.Digest, problem))
			}
			continue
		}
		by, problem := check(b, raw)
		if problem != "" {
			problems = append(problems, fmt.Sprintf("bundle %s: %s", d.Digest, problem))
			continue
		}
		return by + " (sigstore bundle " + d.Digest.String() + ")", "", nil
	}
	if len(problems) == 0 {
		return "", "no sigstore bundle among the " + where, nil
	}
	return "", "no sigstore bundle verifies (" + strings.Join(problems, "; ") + ")", nil
}

// readBundle reads the referrer d of digest: nil and no problem when it
// is not a Sigstore bundle; nil and a problem when it is one that cannot
// be read; an error when the registry fails or a blob has the wrong
// digest.
func readBundle(ctx context.Context, repo name.Repository, ropts []remote.Option, d v1.Descriptor, digest string) (*bundle.Bundle, string, error) {
	desc, err := remote.Get(repo.Digest(d.Digest.String()), append(ropts, remote.WithContext(ctx))...)
	if err != nil {
		if registry.IsNotFound(err) {
			return nil, "listed but not found", nil
		}
		return nil, "", registry.Error(err)
	}
	m, err := v1.ParseManifest(strings.NewReader(string(desc.Manifest)))
	if err != nil {
		return nil, "", fmt.Errorf("manifest: %w", err)
	}
	i := slices.IndexFunc(m.Layers, func(l v1.Descriptor) bool { return strings.HasPrefix(string(l.MediaType), bundleMediaTypePrefix) })
	if i < 0 || !strings.HasPrefix(m.ArtifactType, bundleMediaTypePrefix) && m.ArtifactType != "" {
		return nil, "", nil // another kind of referrer (an SBOM, a Notation signature)
	}
	if m.Subject == nil || m.Subject.Digest.String() != digest {
		return nil, "its manifest's subject is not " + digest, nil
	}
	data, err := readPayload(ctx, repo, ropts, m.Layers[i])
	if err != nil {
		return nil, "", err
	}
	var b bundle.Bundle
	if err := b.UnmarshalJSON(data); err != nil {
		return nil, fmt.Sprintf("not a valid Sigstore bundle: %v", err), nil
	}
	return &b, "", nil
}

// checkStatement accepts what a bundle signed: a message signature (the
// verifier checked its digest) or an in-toto statement of `cosign sign`
// (the verifier checked its subject). Another attestation (a provenance,
// an SBOM) about the artifact is not a signature of it.
func checkStatement(res *verify.VerificationResult) string {
	if res.Statement != nil && res.Statement.GetPredicateType() != CosignSignPredicateType {
		return fmt.Sprintf("an attestation of %s, not a cosign signature (%s)", res.Statement.GetPredicateType(), CosignSignPredicateType)
	}
	return ""
}

// keySigner checks signatures with public keys. For bundles, a key is the
// only trust: the transparency log is not consulted, as for the ".sig"
// layout.
func keySigner(keys []publicKey) (signer, string, string) {
	names := make([]string, len(keys))
	verifiers := make([]*verify.Verifier, len(keys))
	for i, k := range keys {
		names[i] = k.name + " (" + k.id + ")"
		sv, err := signature.LoadDefaultVerifier(k.key)
		if err != nil {
			continue // parseKeys admits only keys sigstore loads
		}
		material := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) {
			return root.NewExpiringKey(sv, time.Time{}, time.Time{}), nil
		})
		verifiers[i], _ = verify.NewVerifier(material, verify.WithNoObserverTimestamps())
	}
	s := signer{
		legacy: func(l v1.Descriptor, payload []byte) (string, string) {
			return legacyKeyCheck(keys, l, payload)
		},
		bundle: func(b *bundle.Bundle, digest []byte) (string, string) {
			var problems []string
			for i, k := range keys {
				if verifiers[i] == nil {
					continue
				}
				res, err := verifiers[i].Verify(b, verify.NewPolicy(verify.WithArtifactDigest("sha256", digest), verify.WithKey()))
				if err != nil {
					problems = append(problems, k.name+": "+err.Error())
					continue
				}
				if p := checkStatement(res); p != "" {
					return "", p
				}
				return ProviderCosign + " " + k.name + " " + k.id, ""
			}
			return "", "by none of the keys (" + strings.Join(problems, "; ") + ")"
		},
	}
	return s, "cosign", "keys tried: " + strings.Join(names, ", ")
}
