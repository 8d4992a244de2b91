package oci

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/gitsync/gitsync/pkg/source/oci/sigcheck"
)

// Cosign's annotations on a keyless signature layer (cosign v2's ".sig"
// tag): the Fulcio certificate, its chain, and the Rekor entry.
const (
	CertificateAnnotation = sigcheck.CertificateAnnotation
	ChainAnnotation       = sigcheck.ChainAnnotation
	BundleAnnotation      = sigcheck.BundleAnnotation
	// TrustedRootKey is the key of the trusted root in the Secret named
	// by trustedRootSecretRef.
	TrustedRootKey = sigcheck.TrustedRootKey
)

// OIDCIdentity is one accepted keyless signer, as Flux's
// matchOIDCIdentity: regular expressions (unanchored, as cosign matches
// them) on the certificate's OIDC issuer and its subject (the SAN).
type OIDCIdentity = sigcheck.Identity

// RekorBundle is cosign's "dev.sigstore.cosign/bundle" annotation: the
// Rekor log entry and its signed entry timestamp (the log's promise to
// include it).
type RekorBundle = sigcheck.RekorBundle

// RekorPayload is the log entry a RekorBundle promises.
type RekorPayload = sigcheck.RekorPayload

// checkKeyless checks what can be checked of keyless trust without
// sigstore-go, before anything is fetched: identities that are complete
// and compile, a trusted root that is JSON when one is given. The Checker
// parses the root when a signature is checked
// (pkg/source/oci/sigcheck/sdk: its Fulcio CAs, Rekor logs and CT logs),
// after fetching the public-good one when none is given.
func checkKeyless(trustedRoot []byte, ids []OIDCIdentity) error {
	if trustedRoot != nil && !json.Valid(trustedRoot) {
		return fmt.Errorf("%s: not JSON", TrustedRootKey)
	}
	for i, id := range ids {
		if id.Issuer == "" || id.Subject == "" {
			return fmt.Errorf("matchOIDCIdentity[%d]: issuer and subject are both required", i)
		}
		for _, re := range []string{id.Issuer, id.Subject} {
			if _, err := regexp.Compile(re); err != nil {
				return fmt.Errorf("matchOIDCIdentity[%d]: %w", i, err)
			}
		}
	}
	return nil
}

// keylessSigner checks keyless signatures with the Checker: a Fulcio
// certificate the trusted root issued to one of v's identities, logged in
// a Rekor log the root trusts. Both layouts say who signed: "cosign
// keyless issuer=… subject=…".
func keylessSigner(v *Verification, digest string) (signer, string, string) {
	want := make([]string, len(v.Identities))
	for i, id := range v.Identities {
		want[i] = fmt.Sprintf("{issuer: %q, subject: %q}", id.Issuer, id.Subject)
	}
	trust := "identities: " + strings.Join(want, ", ")
	if len(want) == 0 {
		trust = "identities: any (no matchOIDCIdentity)"
	}
	if v.TrustedRoot == nil {
		trust += "; trusted root: Sigstore's public-good instance (TUF)"
	}
	base := sigcheck.Request{Keyless: true, TrustedRoot: v.TrustedRoot, Identities: v.Identities, Digest: digest}
	s := signer{
		legacy: func(ctx context.Context, l v1.Descriptor, payload []byte) (string, string, error) {
			req := base
			req.Signature = &sigcheck.Signature{Annotations: l.Annotations, Payload: payload}
			return check(ctx, &req)
		},
		bundle: func(ctx context.Context, raw []byte) (string, string, error) {
			req := base
			req.Bundle = raw
			return check(ctx, &req)
		},
	}
	return s, "cosign keyless", trust
}
