package oci

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore-go/pkg/verify"
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
	// verifier checks cosign v2's signatures, bundleVerifier cosign v3's
	// bundles.
	verifier, bundleVerifier *verify.Verifier
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
		return nil, fmt.Errorf("%s: %w", TrustedRootKey, err)
	}
	// A bundle's time may also come from a timestamp authority the root
	// lists (Rekor v2 entries carry no integrated time).
	t.bundleVerifier, err = verify.NewVerifier(tr, append(sct, verify.WithTransparencyLog(1), verify.WithObserverTimestamps(1))...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", TrustedRootKey, err)
	}
	return t, nil
}

// signer checks keyless signatures: a Fulcio certificate the trusted root
// issued to one of ids, logged in a Rekor log the root trusts. Both
// layouts say who signed: "cosign keyless issuer=… subject=…".
func (t *keylessTrust) signer(ids []OIDCIdentity) (signer, string, string) {
	want := make([]string, len(ids))
	for i, id := range ids {
		want[i] = fmt.Sprintf("{issuer: %q, subject: %q}", id.Issuer, id.Subject)
	}
	opts := make([]verify.PolicyOption, len(t.identities))
	for i, ci := range t.identities {
		opts[i] = verify.WithCertificateIdentity(ci)
	}
	signedBy := func(res *verify.VerificationResult) string {
		by := ProviderCosign + " keyless"
		if c := res.Signature.Certificate; c != nil {
			by += fmt.Sprintf(" issuer=%s subject=%s", c.Extensions.Issuer, c.SubjectAlternativeName)
		}
		return by
	}
	s := signer{
		legacy: func(l v1.Descriptor, payload []byte) (string, string) {
			entity, err := keylessEntity(l.Annotations)
			if err != nil {
				return "", err.Error()
			}
			sum := sha256.Sum256(payload)
			entity.sig = bundle.NewMessageSignature(sum[:], "SHA2_256", entity.rawSig)
			res, err := t.verifier.Verify(entity, verify.NewPolicy(verify.WithArtifactDigest("sha256", sum[:]), opts...))
			if err != nil {
				return "", err.Error()
			}
			return signedBy(res), ""
		},
		bundle: func(b *bundle.Bundle, digest []byte) (string, string) {
			res, err := t.bundleVerifier.Verify(b, verify.NewPolicy(verify.WithArtifactDigest("sha256", digest), opts...))
			if err != nil {
				return "", err.Error()
			}
			if p := checkStatement(res); p != "" {
				return "", p
			}
			return signedBy(res), ""
		},
	}
	return s, "cosign keyless", "identities: " + strings.Join(want, ", ")
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
