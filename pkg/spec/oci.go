package spec

import (
	"regexp"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/google/go-containerregistry/pkg/name"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gitsync/gitsync/pkg/redact"
)

// OCI artifact sources: Flux's OCIRepository as a member of Source.

const (
	// DefaultOCITag is the tag followed when spec.source.oci.ref selects
	// nothing, as in Flux.
	DefaultOCITag = "latest"
	// DefaultOCITimeout bounds one registry operation when
	// spec.source.oci.timeout is not set; it is Flux's default.
	DefaultOCITimeout = 60 * time.Second
	// OCILayerExtract extracts the selected layer (a tar, gzip-compressed
	// or not) as the source's tree. It is the default.
	OCILayerExtract = "extract"
	// OCILayerCopy stores the selected layer's blob as one file: a Helm
	// chart package, rendered with spec.helm.
	OCILayerCopy = "copy"
	// VerifyCosign verifies cosign signatures.
	VerifyCosign = "cosign"
)

var (
	// ociTag is the grammar of an OCI tag.
	ociTag = lazyRegexp(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)
	// ociDigest is a sha256 manifest digest.
	ociDigest = lazyRegexp(`^sha256:[a-f0-9]{64}$`)
	// mediaType is the grammar of a media type (RFC 6838), with the
	// suffixes OCI uses.
	mediaType = lazyRegexp(`^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$`)
)

// OCISource is an artifact in an OCI registry, as Flux's OCIRepository
// spec: what `flux push artifact` or `kubectl gitsync push artifact`
// pushed.
type OCISource struct {
	// URL is oci://host[:port]/path, the artifact's repository, without
	// tag or digest.
	URL string `json:"url"`
	// Ref selects the artifact. Default: tag DefaultOCITag.
	Ref OCIRef `json:"ref,omitzero"`
	// LayerSelector selects the layer and says what is done with it.
	// Default: the first layer, extracted.
	LayerSelector *OCILayerSelector `json:"layerSelector,omitempty"`
	// Provider is the registry's authentication provider. Only "generic"
	// (credentials from SecretRef) is supported; aws, azure and gcp are
	// not yet.
	Provider string `json:"provider,omitempty"`
	// SecretRef names a Secret in the sync's namespace with the registry
	// login (.dockerconfigjson, or username and password) and TLS
	// settings (ca.crt; tls.crt and tls.key).
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`
	// Verify makes a run refuse an artifact whose cosign signature does
	// not verify.
	Verify *OCIVerification `json:"verify,omitempty"`
	// Insecure permits a plain-HTTP registry. It does not disable TLS
	// verification.
	Insecure bool `json:"insecure,omitempty"`
	// Timeout bounds one registry operation. Default DefaultOCITimeout.
	Timeout *Duration `json:"timeout,omitempty"`
	// Ignore holds exclusion rules in .gitignore syntax for the extracted
	// tree (Flux's ignore), with the .sourceignore files it holds. Default:
	// Flux's default exclusions. A copied layer is one file and is not
	// filtered.
	Ignore *string `json:"ignore,omitempty"`
}

// OCIRef selects an artifact, as Flux's OCIRepositoryRef. When several
// fields are set, Flux's precedence applies: Digest, then SemVer, then
// Tag.
type OCIRef struct {
	// Digest is a manifest digest, sha256:<64 hex>.
	Digest string `json:"digest,omitempty"`
	// SemVer is a Masterminds/semver/v3 range: the highest tag in it.
	SemVer string `json:"semver,omitempty"`
	// SemverFilter is a regular expression: only the tags it matches are
	// considered for SemVer.
	SemverFilter string `json:"semverFilter,omitempty"`
	// Tag is a tag.
	Tag string `json:"tag,omitempty"`
}

// OCILayerSelector selects a layer, as Flux's.
type OCILayerSelector struct {
	// MediaType selects the first layer of this media type. Default:
	// the first layer.
	MediaType string `json:"mediaType,omitempty"`
	// Operation is OCILayerExtract (default) or OCILayerCopy.
	Operation string `json:"operation,omitempty"`
}

// OCIVerification verifies an artifact's signature, as Flux's
// OCIRepositoryVerification: key-based cosign signatures (SecretRef) or,
// without SecretRef, keyless ones (MatchOIDCIdentity, TrustedRootSecretRef).
type OCIVerification struct {
	// Provider is VerifyCosign (the default).
	Provider string `json:"provider,omitempty"`
	// SecretRef names a Secret in the sync's namespace whose keys ending
	// in ".pub" are the trusted public keys (PEM). Default: keyless
	// verification.
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`
	// MatchOIDCIdentity lists the accepted keyless signers; a signature
	// by any of them verifies. Default, as in Flux: a cosign v2 signature
	// by any identity verifies, a cosign v3 bundle does not.
	MatchOIDCIdentity []OIDCIdentityMatch `json:"matchOIDCIdentity,omitempty"`
	// TrustedRootSecretRef names a Secret in the sync's namespace whose
	// key trusted_root.json is Sigstore's trusted root (Fulcio CAs, Rekor
	// keys): keyless signatures are verified offline against it alone
	// (a private Sigstore instance, or no network). Default: the trusted
	// root of Sigstore's public-good instance, fetched through TUF when a
	// keyless signature is checked.
	TrustedRootSecretRef *LocalObjectReference `json:"trustedRootSecretRef,omitempty"`
}

// OIDCIdentityMatch is one accepted keyless signer, as Flux's: regular
// expressions on the Fulcio certificate's OIDC issuer and subject.
type OIDCIdentityMatch struct {
	Issuer  string `json:"issuer"`
	Subject string `json:"subject"`
}

// Describe returns what the ref selects in words: "tag latest",
// "semver >=1.0.0 (tags matching ^v)", "digest sha256:0123456789ab".
func (r OCIRef) Describe() string {
	switch {
	case r.Digest != "":
		return "digest " + r.Digest[:min(len(r.Digest), len("sha256:")+12)]
	case r.SemVer != "" && r.SemverFilter != "":
		return "semver " + r.SemVer + " (tags matching " + r.SemverFilter + ")"
	case r.SemVer != "":
		return "semver " + r.SemVer
	case r.Tag != "":
		return "tag " + r.Tag
	}
	return "tag " + DefaultOCITag
}

// Operation returns the layer operation with its default applied.
func (l *OCILayerSelector) operation() string {
	if l == nil || l.Operation == "" {
		return OCILayerExtract
	}
	return l.Operation
}

func (o *OCISource) secretRef() *LocalObjectReference { return o.SecretRef }

// ignoreRules returns spec.source.oci.ignore: an extracted artifact is
// filtered by ignore rules, as Flux filters it.
func (o *OCISource) ignoreRules() *string { return o.Ignore }

func (o *OCISource) describe() (url, what string) {
	parts := []string{o.Ref.Describe()}
	if l := o.LayerSelector; l != nil && l.MediaType != "" {
		parts = append(parts, "layer "+l.MediaType)
	}
	if o.LayerSelector.operation() == OCILayerCopy {
		parts = append(parts, "copied")
	}
	if o.Verify != nil {
		parts = append(parts, "verified with "+o.Verify.Provider)
	}
	return o.URL, strings.Join(parts, ", ")
}

// OCITrustedRootField is the SecretUse.Field of the trusted root's Secret.
const OCITrustedRootField = "spec.source.oci.verify.trustedRootSecretRef"

// moreSecrets returns the Secret of the trusted keys or trusted root.
func (o *OCISource) moreSecrets() []SecretUse {
	if o.Verify == nil {
		return nil
	}
	var out []SecretUse
	if o.Verify.SecretRef != nil {
		out = append(out, SecretUse{Name: o.Verify.SecretRef.Name, Field: "spec.source.oci.verify.secretRef"})
	}
	if o.Verify.TrustedRootSecretRef != nil {
		out = append(out, SecretUse{Name: o.Verify.TrustedRootSecretRef.Name, Field: OCITrustedRootField})
	}
	return out
}

// setOCIDefaults fills in the defaults of spec.source.oci.
func (s *SyncSpec) setOCIDefaults() {
	o := s.Source.OCI
	if o == nil {
		return
	}
	if o.Ref == (OCIRef{}) {
		o.Ref.Tag = DefaultOCITag
	}
	if o.Timeout == nil {
		o.Timeout = NewDuration(DefaultOCITimeout)
	}
	if o.LayerSelector != nil && o.LayerSelector.Operation == "" {
		o.LayerSelector.Operation = OCILayerExtract
	}
	if o.Verify != nil && o.Verify.Provider == "" {
		o.Verify.Provider = VerifyCosign
	}
}

func (o *OCISource) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	up := p.Child("url")
	shown := redact.URL(o.URL)
	switch rest, ok := strings.CutPrefix(o.URL, "oci://"); {
	case o.URL == "":
		errs = append(errs, field.Required(up, "oci://host[:port]/path, the artifact's repository"))
	case !ok:
		errs = append(errs, field.Invalid(up, shown, "must start with oci://"))
	default:
		host, path, _ := strings.Cut(strings.TrimSuffix(rest, "/"), "/")
		switch {
		case strings.Contains(host, "@"):
			errs = append(errs, field.Invalid(up, shown, "may not hold credentials; put them in the Secret named by secretRef"))
		case path == "":
			errs = append(errs, field.Invalid(up, shown, "must name a repository: oci://host[:port]/path"))
		case strings.ContainsAny(path, ":@"):
			errs = append(errs, field.Invalid(up, shown, "must not hold a tag or digest: put it in ref"))
		default:
			if _, err := name.NewRepository(host+"/"+path, name.StrictValidation); err != nil {
				errs = append(errs, field.Invalid(up, shown, "not a registry repository: lowercase letters, digits, '.', '_', '-' and '/'"))
			}
		}
	}
	rp := p.Child("ref")
	r := o.Ref
	if r.Digest != "" && !ociDigest().MatchString(r.Digest) {
		errs = append(errs, field.Invalid(rp.Child("digest"), r.Digest, "must be sha256:<64 lowercase hex>"))
	}
	if r.SemVer != "" {
		if _, err := semver.NewConstraint(r.SemVer); err != nil {
			errs = append(errs, field.Invalid(rp.Child("semver"), r.SemVer, "not a semver range"))
		}
	}
	if r.SemverFilter != "" {
		if _, err := regexp.Compile(r.SemverFilter); err != nil {
			errs = append(errs, field.Invalid(rp.Child("semverFilter"), r.SemverFilter, "not a regular expression: "+err.Error()))
		}
		if r.SemVer == "" {
			errs = append(errs, field.Forbidden(rp.Child("semverFilter"), "filters the tags of semver, which is not set"))
		}
	}
	if r.Tag != "" && !ociTag().MatchString(r.Tag) {
		errs = append(errs, field.Invalid(rp.Child("tag"), r.Tag, "not a valid tag: letters, digits, '_', '.' and '-', at most 128, not starting with '.' or '-'"))
	}
	if l := o.LayerSelector; l != nil {
		lp := p.Child("layerSelector")
		if l.MediaType != "" && !mediaType().MatchString(l.MediaType) {
			errs = append(errs, field.Invalid(lp.Child("mediaType"), l.MediaType, "not a media type such as application/vnd.cncf.flux.content.v1.tar+gzip"))
		}
		if op := l.Operation; op != "" && op != OCILayerExtract && op != OCILayerCopy {
			errs = append(errs, field.NotSupported(lp.Child("operation"), op, []string{OCILayerExtract, OCILayerCopy}))
		}
	}
	if o.Provider != "" && o.Provider != "generic" {
		errs = append(errs, field.NotSupported(p.Child("provider"), o.Provider, []string{"generic"}))
	}
	if o.SecretRef != nil {
		errs = append(errs, validateRefName(p.Child("secretRef", "name"), o.SecretRef.Name)...)
	}
	if v := o.Verify; v != nil {
		vp := p.Child("verify")
		if v.Provider != "" && v.Provider != VerifyCosign {
			errs = append(errs, field.NotSupported(vp.Child("provider"), v.Provider, []string{VerifyCosign}))
		}
		errs = append(errs, v.validateSigners(vp)...)
	}
	errs = append(errs, validateDuration(p.Child("timeout"), o.Timeout)...)
	return errs
}

// validateOCI checks what an OCI source means for the rest of the spec: a
// copied layer is one file, which only a Helm chart renders from.
func (s *SyncSpec) validateOCI(p *field.Path) field.ErrorList {
	o := s.Source.OCI
	if o == nil || o.LayerSelector.operation() != OCILayerCopy {
		return nil
	}
	var errs field.ErrorList
	if s.Helm == nil {
		errs = append(errs, field.Forbidden(p.Child("source", "oci", "layerSelector", "operation"),
			"copy stores the layer as one file, which only a Helm chart (spec.helm) renders from; use extract for manifests"))
	}
	if c, ok := cleanRelative(s.Path); ok && c != "." {
		errs = append(errs, field.Forbidden(p.Child("path"), "a copied layer is one file, the chart; there is no path inside it"))
	}
	return errs
}

// validateSigners checks that verification names one kind of trust: keys
// (secretRef), or keyless signers (matchOIDCIdentity, trustedRootSecretRef,
// both optional as in Flux), never both.
func (v *OCIVerification) validateSigners(vp *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case len(v.MatchOIDCIdentity) > 0 && v.SecretRef != nil:
		errs = append(errs, field.Invalid(vp.Child("secretRef"), v.SecretRef.Name,
			"either secretRef (cosign public keys) or matchOIDCIdentity (keyless), not both"))
	case v.TrustedRootSecretRef != nil && v.SecretRef != nil:
		errs = append(errs, field.Invalid(vp.Child("secretRef"), v.SecretRef.Name,
			"either secretRef (cosign public keys) or trustedRootSecretRef (keyless), not both"))
	}
	if v.SecretRef != nil {
		errs = append(errs, validateRefName(vp.Child("secretRef", "name"), v.SecretRef.Name)...)
	}
	if v.TrustedRootSecretRef != nil {
		errs = append(errs, validateRefName(vp.Child("trustedRootSecretRef", "name"), v.TrustedRootSecretRef.Name)...)
	}
	for i, id := range v.MatchOIDCIdentity {
		ip := vp.Child("matchOIDCIdentity").Index(i)
		for _, f := range []struct{ name, re string }{{"issuer", id.Issuer}, {"subject", id.Subject}} {
			if f.re == "" {
				errs = append(errs, field.Required(ip.Child(f.name), "a regular expression"))
			} else if _, err := regexp.Compile(f.re); err != nil {
				errs = append(errs, field.Invalid(ip.Child(f.name), f.re, err.Error()))
			}
		}
	}
	return errs
}
