package oci

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

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/source/registry"
)

// Cosign's annotations on a keyless signature layer (cosign v2's ".sig"
// tag): the Fulcio certificate, its chain, and the Rekor entry.
const (
	CertificateAnnotation = "dev.sigstore.cosign/certificate"
	ChainAnnotation       = "dev.sigstore.cosign/chain"
	BundleAnnotation      = "dev.sigstore.cosign/bundle"
	// TrustedRootKey is the key of the trusted root in the Secret named
	// by trustedRootSecretRef.
	TrustedRootKey = "trusted_root.json"
)

// OIDCIdentity is one accepted keyless signer, as Flux's
// matchOIDCIdentity: regular expressions (unanchored, as cosign matches
// them) on the certificate's OIDC issuer and its subject (the SAN).
type OIDCIdentity struct {
	Issuer  string
	Subject string
}

// RekorBundle is cosign's "dev.sigstore.cosign/bundle" annotation: the
// Rekor log entry and its signed entry timestamp (the log's promise to
// include it).
type RekorBundle struct {
	SignedEntryTimestamp []byte       `json:"SignedEntryTimestamp"`
	Payload              RekorPayload `json:"Payload"`
}

// RekorPayload is the log entry a RekorBundle promises.
type RekorPayload struct {
	Body           string `json:"body"` // base64 of the canonical entry
	IntegratedTime int64  `json:"integratedTime"`
	LogIndex       int64  `json:"logIndex"`
	LogID          string `json:"logID"` // hex
}

// keylessTrust is what keyless verification trusts.
type keylessTrust struct {
	root       *root.TrustedRoot
	identities []verify.CertificateIdentity
	verifier   *verify.Verifier
}

// parseKeyless parses a trusted root (Sigstore's trusted_root.json) and
// the accepted identities. Nothing is fetched: the root is the only
// source of trust.
func parseKeyless(trustedRoot []byte, ids []OIDCIdentity) (*keylessTrust, error) {
	if len(ids) == 0 {
		return nil, errors.New("matchOIDCIdentity: at least one {issuer, subject} is required")
	}
	if len(trustedRoot) == 0 {
		return nil, fmt.Errorf("no %s in the trusted root Secret", TrustedRootKey)
	}
	tr, err := root.NewTrustedRootFromJSON(trustedRoot)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", TrustedRootKey, err)
	}
	if len(tr.FulcioCertificateAuthorities()) == 0 {
		return nil, fmt.Errorf("%s: no certificateAuthorities (Fulcio)", TrustedRootKey)
	}
	if len(tr.RekorLogs()) == 0 {
		return nil, fmt.Errorf("%s: no tlogs (Rekor)", TrustedRootKey)
	}
	t := &keylessTrust{root: tr}
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
	// The Rekor entry's signed timestamp is the proof that the
	// certificate was valid when it signed: one entry, its time checked
	// against the certificate's ten minutes.
	t.verifier, err = verify.NewVerifier(tr, verify.WithTransparencyLog(1), verify.WithIntegratedTimestamps(1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", TrustedRootKey, err)
	}
	return t, nil
}

// verifyKeyless verifies that a keyless cosign signature stored with the
// artifact's repository signs digest, by a Fulcio certificate the trusted
// root issued to one of the identities, logged in a Rekor log the root
// trusts. It returns what verified it ("cosign keyless issuer=… subject=…").
// Errors wrap source.ErrVerification and name the digest and identities.
func verifyKeyless(ctx context.Context, repo name.Repository, ropts []remote.Option, digest string, t *keylessTrust, ids []OIDCIdentity) (string, error) {
	want := make([]string, len(ids))
	for i, id := range ids {
		want[i] = fmt.Sprintf("{issuer: %q, subject: %q}", id.Issuer, id.Subject)
	}
	wanted := strings.Join(want, ", ")
	fail := func(format string, args ...any) error {
		return fmt.Errorf("cosign keyless: %s; identities: %s: %w", fmt.Sprintf(format, args...), wanted, source.ErrVerification)
	}
	tag := repo.Tag(SignatureTag(digest))
	desc, err := remote.Get(tag, append(ropts, remote.WithContext(ctx))...)
	if err != nil {
		if registry.IsNotFound(err) {
			return "", fail("artifact %s is not signed (no signature manifest %s)", digest, tag.TagStr())
		}
		return "", fmt.Errorf("cosign: get signature manifest %s: %w", tag.TagStr(), registry.Error(err))
	}
	m, err := v1.ParseManifest(strings.NewReader(string(desc.Manifest)))
	if err != nil {
		return "", fail("signature manifest %s: %v", tag.TagStr(), err)
	}
	var problems []string
	seen := 0
	for _, l := range m.Layers {
		if string(l.MediaType) != SimpleSigningMediaType {
			continue
		}
		if seen++; seen > maxSignatures {
			break
		}
		entity, err := keylessEntity(l.Annotations)
		if err != nil {
			problems = append(problems, fmt.Sprintf("signature %s: %v", l.Digest, err))
			continue
		}
		payload, err := readPayload(ctx, repo, ropts, l)
		if err != nil {
			return "", fmt.Errorf("cosign: signature %s: %w", l.Digest, err)
		}
		sum := sha256.Sum256(payload)
		entity.sig = bundle.NewMessageSignature(sum[:], "SHA2_256", entity.rawSig)
		opts := make([]verify.PolicyOption, len(t.identities))
		for i, ci := range t.identities {
			opts[i] = verify.WithCertificateIdentity(ci)
		}
		res, err := t.verifier.Verify(entity, verify.NewPolicy(verify.WithArtifactDigest("sha256", sum[:]), opts...))
		if err != nil {
			problems = append(problems, fmt.Sprintf("signature %s: %v", l.Digest, err))
			continue
		}
		var ss simpleSigning
		if err := json.Unmarshal(payload, &ss); err != nil {
			problems = append(problems, fmt.Sprintf("signature %s: payload: %v", l.Digest, err))
			continue
		}
		if ss.Critical.Type != simpleSigningType || ss.Critical.Image.Digest != digest {
			problems = append(problems, fmt.Sprintf("signature %s signs %q, not this artifact", l.Digest, ss.Critical.Image.Digest))
			continue
		}
		by := ProviderCosign + " keyless"
		if c := res.Signature.Certificate; c != nil {
			by += fmt.Sprintf(" issuer=%s subject=%s", c.Extensions.Issuer, c.SubjectAlternativeName)
		}
		return by, nil
	}
	if seen == 0 {
		return "", fail("artifact %s: signature manifest %s holds no %s layer", digest, tag.TagStr(), SimpleSigningMediaType)
	}
	return "", fail("artifact %s: no signature verifies (%s)", digest, strings.Join(problems, "; "))
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
	sig, err := base64.StdEncoding.DecodeString(a[SignatureAnnotation])
	if err != nil || len(sig) == 0 {
		return nil, fmt.Errorf("no base64 %s annotation", SignatureAnnotation)
	}
	block, _ := pem.Decode([]byte(a[CertificateAnnotation]))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("no PEM certificate in %s (a keyless signature carries its Fulcio certificate)", CertificateAnnotation)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CertificateAnnotation, err)
	}
	if a[BundleAnnotation] == "" {
		return nil, fmt.Errorf("no %s annotation (the Rekor entry)", BundleAnnotation)
	}
	var rb RekorBundle
	if err := json.Unmarshal([]byte(a[BundleAnnotation]), &rb); err != nil {
		return nil, fmt.Errorf("%s: %w", BundleAnnotation, err)
	}
	body, err := base64.StdEncoding.DecodeString(rb.Payload.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: Payload.body: %w", BundleAnnotation, err)
	}
	logID, err := hex.DecodeString(rb.Payload.LogID)
	if err != nil {
		return nil, fmt.Errorf("%s: Payload.logID: %w", BundleAnnotation, err)
	}
	// cosign v2's bundle is always a Rekor v1 entry, which NewEntry reads
	// (its replacement wants the protobuf bundle cosign v2 does not write).
	entry, err := tlog.NewEntry(body, rb.Payload.IntegratedTime, rb.Payload.LogIndex, logID, rb.SignedEntryTimestamp, nil) //nolint:staticcheck // Rekor v1 by definition
	if err != nil {
		return nil, fmt.Errorf("%s: %w", BundleAnnotation, err)
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
