// Package sdk checks Sigstore signatures in this process with
// sigstore-go (sigcheck.Checker): kubectl-gitsync and the tests use it;
// sync-job runs it in its child process (pkg/source/oci/sigcheck/sigexec)
// so that it does not link sigstore-go. Keys, or a trusted root and
// identities, are the only trust; the one thing fetched is Sigstore's
// public-good trusted root, through TUF, for keyless verification
// without a trusted root of its own (tuf.go).
package sdk

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/gitsync/gitsync/pkg/source/oci/sigcheck"
)

// Checker checks signatures with sigstore-go in this process.
type Checker struct{}

var _ sigcheck.Checker = Checker{}

// Check checks req's bundle or keyless signature layer.
func (Checker) Check(ctx context.Context, req *sigcheck.Request) (*sigcheck.Result, error) {
	if req.Signature != nil && len(req.Bundle) > 0 {
		return nil, errors.New("a signature check takes a bundle or a signature layer, not both")
	}
	h, ok := strings.CutPrefix(req.Digest, "sha256:")
	digest, err := hex.DecodeString(h)
	if !ok || err != nil || len(digest) != sha256.Size {
		return nil, fmt.Errorf("artifact digest %q: not sha256:<hex>", req.Digest)
	}
	var b *bundle.Bundle
	if req.Signature == nil {
		b = &bundle.Bundle{}
		if err := b.UnmarshalJSON(req.Bundle); err != nil {
			return result("", fmt.Sprintf("not a valid Sigstore bundle: %v", err)), nil
		}
	}
	if req.Keyless || len(req.Identities) > 0 {
		trustedRoot, from := req.TrustedRoot, ""
		if len(trustedRoot) == 0 {
			if trustedRoot, from, err = fetchTrustedRoot(ctx); err != nil {
				return nil, fmt.Errorf("keyless verification: %w", err)
			}
		}
		t, err := ParseKeyless(trustedRoot, req.Identities)
		if err != nil {
			if from != "" {
				err = fmt.Errorf("%s: %w", from, err)
			}
			return nil, fmt.Errorf("keyless verification: %w: %w", err, sigcheck.ErrInvalidTrust)
		}
		if b != nil {
			return result(t.checkBundle(b, digest)), nil
		}
		return result(t.checkLegacy(req.Signature)), nil
	}
	if b == nil {
		return nil, errors.New("a cosign v2 signature layer with keys is checked in pkg/source/oci, not here")
	}
	return result(checkBundleWithKeys(req.Keys, b, digest)), nil
}

func result(by, problem string) *sigcheck.Result {
	return &sigcheck.Result{By: by, Problem: problem}
}

// checkBundleWithKeys checks a bundle with public keys. A key is the only
// trust: the transparency log is not consulted, as for the ".sig" layout.
func checkBundleWithKeys(keys []sigcheck.Key, b *bundle.Bundle, digest []byte) (string, string) {
	var problems []string
	for _, k := range keys {
		pub, err := x509.ParsePKIXPublicKey(k.PKIX)
		if err != nil {
			problems = append(problems, k.Name+": "+err.Error())
			continue
		}
		sv, err := signature.LoadDefaultVerifier(pub)
		if err != nil {
			continue // pkg/source/oci admits only keys sigstore loads
		}
		material := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) {
			return root.NewExpiringKey(sv, time.Time{}, time.Time{}), nil
		})
		v, err := verify.NewVerifier(material, verify.WithNoObserverTimestamps())
		if err != nil {
			problems = append(problems, k.Name+": "+err.Error())
			continue
		}
		res, err := v.Verify(b, verify.NewPolicy(verify.WithArtifactDigest("sha256", digest), verify.WithKey()))
		if err != nil {
			problems = append(problems, k.Name+": "+err.Error())
			continue
		}
		if p := checkStatement(res); p != "" {
			return "", p
		}
		return sigcheck.ProviderCosign + " " + k.Name + " " + k.ID, ""
	}
	return "", "by none of the keys (" + strings.Join(problems, "; ") + ")"
}

// checkStatement accepts what a bundle signed: a message signature (the
// verifier checked its digest) or an in-toto statement of `cosign sign`
// (the verifier checked its subject). Another attestation (a provenance,
// an SBOM) about the artifact is not a signature of it.
func checkStatement(res *verify.VerificationResult) string {
	if res.Statement != nil && res.Statement.GetPredicateType() != sigcheck.CosignSignPredicateType {
		return fmt.Sprintf("an attestation of %s, not a cosign signature (%s)", res.Statement.GetPredicateType(), sigcheck.CosignSignPredicateType)
	}
	return ""
}

// KeylessTrust is what keyless verification trusts.
type KeylessTrust struct {
	identities []verify.CertificateIdentity
	// verifier checks cosign v2's signatures, bundleVerifier cosign v3's
	// bundles.
	verifier, bundleVerifier *verify.Verifier
}

// ParseKeyless parses a trusted root (Sigstore's trusted_root.json) and
// the accepted identities. Nothing is fetched: the root is the only
// source of trust. Without identities any signer is accepted in a cosign
// v2 signature layer, as Flux accepts it, and a bundle is refused, as
// cosign (and so Flux) refuses it.
func ParseKeyless(trustedRoot []byte, ids []sigcheck.Identity) (*KeylessTrust, error) {
	if len(trustedRoot) == 0 {
		return nil, fmt.Errorf("no %s in the trusted root Secret", sigcheck.TrustedRootKey)
	}
	tr, err := root.NewTrustedRootFromJSON(trustedRoot)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sigcheck.TrustedRootKey, err)
	}
	if len(tr.FulcioCertificateAuthorities()) == 0 {
		return nil, fmt.Errorf("%s: no certificateAuthorities (Fulcio)", sigcheck.TrustedRootKey)
	}
	if len(tr.RekorLogs()) == 0 {
		return nil, fmt.Errorf("%s: no tlogs (Rekor)", sigcheck.TrustedRootKey)
	}
	t := &KeylessTrust{}
	for i, id := range ids {
		if id.Issuer == "" || id.Subject == "" {
			return nil, fmt.Errorf("matchOIDCIdentity[%d]: issuer and subject are both required", i)
		}
		ci, err := verify.NewShortCertificateIdentity("", id.Issuer, "", id.Subject)
		if err != nil {
			return nil, fmt.Errorf("matchOIDCIdentity[%d]: %w", i, err)
		}
		t.identities = append(t.identities, ci)
	}
	// When the root lists certificate transparency logs, the Fulcio
	// certificate must carry a signed certificate timestamp of one of
	// them, as cosign requires; a root without ctlogs (an offline root
	// made by hand) cannot require it.
	var sct []verify.VerifierOption
	if len(tr.CTLogs()) > 0 {
		sct = append(sct, verify.WithSignedCertificateTimestamps(1))
	}
	// The Rekor entry's signed timestamp is the proof that the
	// certificate was valid when it signed: one entry, its time checked
	// against the certificate's ten minutes.
	t.verifier, err = verify.NewVerifier(tr, append(sct, verify.WithTransparencyLog(1), verify.WithIntegratedTimestamps(1))...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sigcheck.TrustedRootKey, err)
	}
	// A bundle's time may also come from a timestamp authority the root
	// lists (Rekor v2 entries carry no integrated time).
	t.bundleVerifier, err = verify.NewVerifier(tr, append(sct, verify.WithTransparencyLog(1), verify.WithObserverTimestamps(1))...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sigcheck.TrustedRootKey, err)
	}
	return t, nil
}

// policy is the identities' part of a verification policy.
func (t *KeylessTrust) policy() []verify.PolicyOption {
	if len(t.identities) == 0 {
		return []verify.PolicyOption{verify.WithoutIdentitiesUnsafe()}
	}
	opts := make([]verify.PolicyOption, len(t.identities))
	for i, ci := range t.identities {
		opts[i] = verify.WithCertificateIdentity(ci)
	}
	return opts
}

// signedBy says who made a keyless signature: "cosign keyless issuer=…
// subject=…".
func signedBy(res *verify.VerificationResult) string {
	by := sigcheck.ProviderCosign + " keyless"
	if c := res.Signature.Certificate; c != nil {
		by += fmt.Sprintf(" issuer=%s subject=%s", c.Extensions.Issuer, c.SubjectAlternativeName)
	}
	return by
}

// checkLegacy checks a cosign v2 keyless signature layer: a Fulcio
// certificate the trusted root issued to one of the identities, logged in
// a Rekor log the root trusts.
func (t *KeylessTrust) checkLegacy(s *sigcheck.Signature) (string, string) {
	entity, err := keylessEntity(s.Annotations)
	if err != nil {
		return "", err.Error()
	}
	sum := sha256.Sum256(s.Payload)
	entity.sig = bundle.NewMessageSignature(sum[:], "SHA2_256", entity.rawSig)
	res, err := t.verifier.Verify(entity, verify.NewPolicy(verify.WithArtifactDigest("sha256", sum[:]), t.policy()...))
	if err != nil {
		return "", err.Error()
	}
	return signedBy(res), ""
}

// checkBundle checks a cosign v3 bundle keyless.
func (t *KeylessTrust) checkBundle(b *bundle.Bundle, digest []byte) (string, string) {
	if len(t.identities) == 0 {
		return "", "a bundle is verified against matchOIDCIdentity, and none is given (cosign, and so Flux, refuses it too)"
	}
	res, err := t.bundleVerifier.Verify(b, verify.NewPolicy(verify.WithArtifactDigest("sha256", digest), t.policy()...))
	if err != nil {
		return "", err.Error()
	}
	if p := checkStatement(res); p != "" {
		return "", p
	}
	return signedBy(res), ""
}

// cosignEntity is a keyless cosign signature as sigstore-go verifies it:
// a message signature, the Fulcio certificate and one Rekor entry with
// its inclusion promise (cosign v2 stores no inclusion proof).
type cosignEntity struct {
	cert   *x509.Certificate
	rawSig []byte
	sig    *bundle.MessageSignature
	entry  *tlog.Entry
}

// keylessEntity reads a signature layer's annotations.
func keylessEntity(a map[string]string) (*cosignEntity, error) {
	sig, err := base64.StdEncoding.DecodeString(a[sigcheck.SignatureAnnotation])
	if err != nil || len(sig) == 0 {
		return nil, fmt.Errorf("no base64 %s annotation", sigcheck.SignatureAnnotation)
	}
	block, _ := pem.Decode([]byte(a[sigcheck.CertificateAnnotation]))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("no PEM certificate in %s (a keyless signature carries its Fulcio certificate)", sigcheck.CertificateAnnotation)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sigcheck.CertificateAnnotation, err)
	}
	if a[sigcheck.BundleAnnotation] == "" {
		return nil, fmt.Errorf("no %s annotation (the Rekor entry)", sigcheck.BundleAnnotation)
	}
	var rb sigcheck.RekorBundle
	if err := json.Unmarshal([]byte(a[sigcheck.BundleAnnotation]), &rb); err != nil {
		return nil, fmt.Errorf("%s: %w", sigcheck.BundleAnnotation, err)
	}
	body, err := base64.StdEncoding.DecodeString(rb.Payload.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: Payload.body: %w", sigcheck.BundleAnnotation, err)
	}
	logID, err := hex.DecodeString(rb.Payload.LogID)
	if err != nil {
		return nil, fmt.Errorf("%s: Payload.logID: %w", sigcheck.BundleAnnotation, err)
	}
	// cosign v2's bundle is always a Rekor v1 entry, which NewEntry reads
	// (its replacement wants the protobuf bundle cosign v2 does not write).
	entry, err := tlog.NewEntry(body, rb.Payload.IntegratedTime, rb.Payload.LogIndex, logID, rb.SignedEntryTimestamp, nil) //nolint:staticcheck // Rekor v1 by definition
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sigcheck.BundleAnnotation, err)
	}
	return &cosignEntity{cert: cert, rawSig: sig, entry: entry}, nil
}

func (e *cosignEntity) HasInclusionPromise() bool { return e.entry.HasInclusionPromise() }
func (e *cosignEntity) HasInclusionProof() bool   { return false }
func (e *cosignEntity) Timestamps() ([][]byte, error) {
	return nil, nil
}
func (e *cosignEntity) TlogEntries() ([]*tlog.Entry, error) { return []*tlog.Entry{e.entry}, nil }
func (e *cosignEntity) Version() (string, error)            { return "v0.1", nil }
func (e *cosignEntity) SignatureContent() (verify.SignatureContent, error) {
	return e.sig, nil
}
func (e *cosignEntity) VerificationContent() (verify.VerificationContent, error) {
	return bundle.NewCertificate(e.cert), nil
}
