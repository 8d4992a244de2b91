// Package oci is the OCI artifact kind of source (Flux's OCIRepository):
// configuration packaged as an artifact in a container registry, resolved
// to a manifest digest, pulled, verified and extracted; and the other way
// round, Push and Tag, with which CI publishes a directory as such an
// artifact (`kubectl gitsync push artifact`).
//
// # Format
//
// Artifacts are Flux's: an OCI image manifest whose config has media type
// ConfigMediaType and whose one layer, media type ContentMediaType, is a
// gzip-compressed tar of the directory; the manifest carries the
// annotations AnnotationSource, AnnotationRevision and AnnotationCreated.
// What `flux push artifact` pushes, Fetch pulls, and what Push pushes,
// Flux's OCIRepository and `flux pull artifact` read.
//
// # Resolve
//
// Options.Ref selects the manifest with Flux's precedence: Digest, else
// the highest tag SemVer admits among the tags SemverFilter matches,
// else Tag, else DefaultTag. Resolve costs one request for a tag or a
// digest: a HEAD of the manifest, with the login sent at once when it is
// a basic login or a registry token (go-containerregistry's client would
// first ping the registry); a registry that asks for another scheme gets
// go-containerregistry's full exchange. A semver ref lists the tags
// first. The revision is Flux's: "<tag>@sha256:<hex>", or "sha256:<hex>"
// for a digest ref. Nothing is downloaded.
//
// # Fetch
//
// Fetch fetches the manifest by digest (go-containerregistry checks that
// its content has that digest), verifies its signature when
// Options.Verify asks, selects the layer (Options.Layer: the first layer,
// or the first of a media type), downloads it to a temporary file next to
// dir, checks its size against Options.MaxSize and its digest against the
// manifest (a tampered layer is refused with source.ErrDigestMismatch),
// and only then extracts it with pkg/source/archive (OperationExtract) or
// stores it as one file (OperationCopy, Artifact.Path names it).
//
// # Verification
//
// Options.Verify with provider cosign verifies cosign's key-based
// signatures: the signature manifest at tag "sha256-<hex>.sig" of the
// artifact's repository, whose layers are simple-signing payloads naming
// the artifact's manifest digest, each signed (annotation
// dev.cosignproject.cosign/signature) with a private key. A signature
// verifies when one of the public keys (PEM; ECDSA, as `cosign
// generate-key-pair` makes, RSA or Ed25519) verifies it over its payload
// and the payload names the digest. The verification is done here with
// the standard library, not with cosign's or sigstore-go's packages, which
// would add megabytes to the sync-job binary for what is a signature
// check. A transparency log is not consulted for keys (as Flux, which
// sets IgnoreTlog for keys).
//
// Verification.Keyless or Identities selects keyless verification
// (keyless.go): the same signature layers carry a Fulcio certificate and
// a Rekor entry (annotations dev.sigstore.cosign/certificate and
// .../bundle), verified by sigstore-go against a trusted_root.json — the
// one given, offline, or else the public-good instance's, which the
// checker fetches through TUF — and matched against the accepted OIDC
// issuer and subject (any, when none is given, as Flux); when the root
// lists CT logs, the certificate's embedded SCT must verify too.
//
// cosign v3's bundles (bundle.go) are read as well, and first: a Sigstore
// bundle stored as an OCI 1.1 artifact (BundleMediaType) whose subject is
// the manifest, found among its referrers (the referrers API, or the
// referrers tag "sha256-<hex>"). sigstore-go verifies it with the keys or
// the trusted root and identities; what it signs must name the manifest
// digest, and a DSSE statement must be `cosign sign`'s
// (CosignSignPredicateType). A signature that verifies in either layout is
// enough; Artifact.VerifiedBy names a bundle by its manifest digest.
package oci
