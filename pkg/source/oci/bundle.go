package oci

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/source/oci/sigcheck"
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
	CosignSignPredicateType = sigcheck.CosignSignPredicateType
	// InTotoPayloadType is the DSSE payload type of an in-toto statement.
	InTotoPayloadType = "application/vnd.in-toto+json"
	// maxReferrers bounds the referrers examined.
	maxReferrers = 64
)

// signer checks one signature and says who made it, or what is wrong
// with it; an error means it could not be checked (see sigcheck.Checker).
type signer struct {
	// legacy checks a ".sig" layer and its payload (checkSignatures).
	legacy func(ctx context.Context, l v1.Descriptor, payload []byte) (by, problem string, err error)
	// bundle checks a Sigstore bundle (its JSON) against the artifact's
	// digest.
	bundle func(ctx context.Context, raw []byte) (by, problem string, err error)
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
	if v.keyless() {
		if err := checkKeyless(v.TrustedRoot, v.Identities); err != nil {
			return "", fmt.Errorf("keyless verification: %v: %w", err, source.ErrInvalidOptions)
		}
		s, kind, trust = keylessSigner(v, digest)
	} else {
		keys, err := parseKeys(v.Keys)
		if err != nil {
			return "", fmt.Errorf("verification keys: %v: %w", err, source.ErrInvalidOptions)
		}
		s, kind, trust = keySigner(keys, digest)
	}
	by, bundles, lookupErr := checkBundles(ctx, repo, ropts, digest, s.bundle)
	if by != "" {
		return by, nil
	}
	if lookupErr != nil && errors.Is(lookupErr, source.ErrInvalidOptions) {
		return "", fmt.Errorf("%s: %w", kind, lookupErr)
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
	check func(ctx context.Context, raw []byte) (by, problem string, err error)) (by, found string, err error) {
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
		by, problem, err := check(ctx, b)
		if err != nil {
			return "", "could not check bundle " + d.Digest.String(), err
		}
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

// readBundle reads the referrer d of digest: the bundle's JSON (the
// Checker parses it); nil and no problem when it is not a Sigstore
// bundle; nil and a problem when it is one that cannot be read; an error
// when the registry fails or a blob has the wrong digest.
func readBundle(ctx context.Context, repo name.Repository, ropts []remote.Option, d v1.Descriptor, digest string) ([]byte, string, error) {
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
	return data, "", nil
}

// keySigner checks signatures with public keys: cosign v2's here, with
// the standard library; bundles with the Checker. For bundles, a key is
// the only trust: the transparency log is not consulted, as for the
// ".sig" layout.
func keySigner(keys []publicKey, digest string) (signer, string, string) {
	names := make([]string, len(keys))
	base := sigcheck.Request{Digest: digest}
	for i, k := range keys {
		names[i] = k.name + " (" + k.id + ")"
		der, err := x509.MarshalPKIXPublicKey(k.key)
		if err != nil {
			continue // parseKeys parsed it from this DER
		}
		base.Keys = append(base.Keys, sigcheck.Key{Name: k.name, ID: k.id, PKIX: der})
	}
	s := signer{
		legacy: func(_ context.Context, l v1.Descriptor, payload []byte) (string, string, error) {
			by, problem := legacyKeyCheck(keys, l, payload)
			return by, problem, nil
		},
		bundle: func(ctx context.Context, raw []byte) (string, string, error) {
			req := base
			req.Bundle = raw
			return check(ctx, &req)
		},
	}
	return s, "cosign", "keys tried: " + strings.Join(names, ", ")
}
