// Package sigcheck is the contract between pkg/source/oci and the code
// that checks Sigstore signatures with sigstore-go: cosign v3's bundles
// (with public keys or keyless) and cosign v2's keyless signature layers.
// sigstore-go and what it imports (protobuf descriptors, Rekor's OpenAPI
// client, TUF, in-toto) are about 6 MB of sync-job's binary and most of
// their init work runs in every process that links them, so pkg/source/oci
// does not link them: each binary chooses a Checker with oci.UseChecker —
// pkg/source/oci/sigcheck/sdk in process (kubectl-gitsync, tests), or
// pkg/source/oci/sigcheck/sigexec in a short-lived child process
// (sync-job, which runs one only when an artifact it fetches has such a
// signature). cosign v2's key-based signatures need none of this: the
// standard library checks them in pkg/source/oci.
//
// This package imports only the standard library.
package sigcheck

import (
	"context"
	"errors"
)

// Annotations and types cosign writes, which both sides read.
const (
	// SignatureAnnotation holds a cosign v2 signature layer's base64
	// signature.
	SignatureAnnotation = "dev.cosignproject.cosign/signature"
	// CertificateAnnotation, ChainAnnotation and BundleAnnotation are a
	// keyless signature layer's Fulcio certificate, its chain, and its
	// Rekor entry (a RekorBundle).
	CertificateAnnotation = "dev.sigstore.cosign/certificate"
	ChainAnnotation       = "dev.sigstore.cosign/chain"
	BundleAnnotation      = "dev.sigstore.cosign/bundle"
	// TrustedRootKey is the key of the trusted root in the Secret named
	// by trustedRootSecretRef.
	TrustedRootKey = "trusted_root.json"
	// CosignSignPredicateType is the predicate type of the in-toto
	// statement `cosign sign` signs (a DSSE envelope) in a bundle: its
	// subject is the manifest digest, its predicate empty.
	CosignSignPredicateType = "https://sigstore.dev/cosign/sign/v1"
	// ProviderCosign names the provider in Result.By.
	ProviderCosign = "cosign"
)

// The environment of keyless verification without a trusted root of its
// own: the TUF repository Sigstore's public-good trusted root is fetched
// from, and the TUF root that repository is trusted by. Both are for an
// air-gapped mirror, or a test; unset, they are the public-good
// instance's (sigstore-go's pkg/tuf DefaultMirror and embedded root).
const (
	// EnvTUFURL is the TUF repository's base URL.
	EnvTUFURL = "GITSYNC_SIGSTORE_TUF_URL"
	// EnvTUFRoot is the path of a TUF root.json trusted instead of the
	// embedded one (the mirror's first root; later ones are fetched).
	EnvTUFRoot = "GITSYNC_SIGSTORE_TUF_ROOT"
)

// Identity is one accepted keyless signer, as Flux's matchOIDCIdentity:
// regular expressions (unanchored, as cosign matches them) on the
// certificate's OIDC issuer and its subject (the SAN).
type Identity struct {
	Issuer  string `json:"issuer"`
	Subject string `json:"subject"`
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

// Key is a trusted public key.
type Key struct {
	// Name is the Secret's key ("cosign.pub"), ID "sha256:<hex>" of PKIX.
	Name string `json:"name"`
	ID   string `json:"id"`
	// PKIX is the key's DER (SubjectPublicKeyInfo).
	PKIX []byte `json:"pkix"`
}

// Signature is a cosign v2 keyless signature layer: its annotations and
// its payload (the simple-signing document, already checked against the
// layer's digest).
type Signature struct {
	Annotations map[string]string `json:"annotations"`
	Payload     []byte            `json:"payload"`
}

// Request asks for one signature of the artifact Digest to be checked:
// Signature when it is set, else Bundle. The trust is Keys, or, keyless
// (Keyless, or Identities given), a Fulcio certificate issued to one of
// Identities, logged in Rekor, both trusted by TrustedRoot. Without a
// TrustedRoot it is Sigstore's public-good one, fetched through TUF (see
// EnvTUFURL); nothing else is fetched.
type Request struct {
	Keys []Key `json:"keys,omitempty"`
	// Keyless selects keyless verification when Identities is empty:
	// a cosign v2 signature layer by any identity verifies (as Flux
	// accepts it), a bundle does not (as cosign refuses it).
	Keyless     bool       `json:"keyless,omitempty"`
	TrustedRoot []byte     `json:"trustedRoot,omitempty"`
	Identities  []Identity `json:"identities,omitempty"`
	// Digest is the artifact's manifest digest, "sha256:<hex>".
	Digest string `json:"digest"`
	// Bundle is a Sigstore bundle (its JSON), from a referrer of Digest.
	Bundle []byte `json:"bundle,omitempty"`
	// Signature is a keyless cosign v2 signature layer.
	Signature *Signature `json:"signature,omitempty"`
}

// Result says who made the signature, or what is wrong with it: exactly
// one of By and Problem is set.
type Result struct {
	// By is "cosign <key name> <key id>" or "cosign keyless issuer=…
	// subject=…".
	By      string `json:"by,omitempty"`
	Problem string `json:"problem,omitempty"`
}

// Checker checks one signature. A signature that does not verify is a
// Result with a Problem; an error means the check could not be made: the
// trust is unusable (wrapping ErrInvalidTrust), the request is malformed,
// or the checker itself failed.
type Checker interface {
	Check(ctx context.Context, req *Request) (*Result, error)
}

// ErrInvalidTrust means the trusted root or the identities cannot be used.
var ErrInvalidTrust = errors.New("invalid verification trust")
