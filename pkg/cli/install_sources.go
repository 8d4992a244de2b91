package cli

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/gitsync/gitsync/pkg/spec"
)

// sourceFlags are the install flags of the source kinds beyond a plain Git
// repository and a Helm repository: OCI artifacts, buckets, and the Git
// extras (verification, sparse checkout, submodules, includes), plus the
// ignore rules of Git, OCI and buckets alike. They map onto
// spec.source.oci, spec.source.bucket and the extra fields of
// spec.source.git; --secret and --insecure apply to whichever kind is
// chosen.
type sourceFlags struct {
	// OCIURL, OCITag, OCISemVer, OCISemverFilter and OCIDigest set
	// spec.source.oci.url and .ref.
	OCIURL, OCITag, OCISemVer, OCISemverFilter, OCIDigest string
	// OCILayerMediaType and OCILayerOperation set
	// spec.source.oci.layerSelector.
	OCILayerMediaType, OCILayerOperation string

	// BucketEndpoint, BucketName, BucketPrefix and BucketRegion set
	// spec.source.bucket.
	BucketEndpoint, BucketName, BucketPrefix, BucketRegion string

	// VerifyMode (Git), VerifyProvider (OCI) and VerifySecretRef (both)
	// set the source's verify.
	VerifyMode, VerifyProvider, VerifySecretRef string
	// VerifyOIDCIssuer, VerifyOIDCSubject and VerifyTrustedRoot set an
	// OCI source's keyless verification: one accepted signer
	// (matchOIDCIdentity) and the Secret holding trusted_root.json.
	VerifyOIDCIssuer, VerifyOIDCSubject, VerifyTrustedRoot string

	// SparseCheckout, RecurseSubmodules and Include set the Git extras.
	SparseCheckout    []string
	RecurseSubmodules bool
	Include           []string

	// Ignore are ignore rules, one a flag, joined into the source's
	// ignore field (Git, OCI, bucket).
	Ignore []string

	// SecretRef is --secret-ref, Flux's name of --secret.
	SecretRef string

	// Provider sets spec.source.git.provider (generic or github).
	Provider string
}

// addSourceFlags adds the flags of sourceFlags to f.
func (o *sourceFlags) addSourceFlags(f *pflag.FlagSet) {
	f.StringVar(&o.OCIURL, "oci-url", "", "OCI artifact repository: oci://host[:port]/path (spec.source.oci.url); instead of --url")
	f.StringVar(&o.OCITag, "oci-tag", "", `artifact tag (spec.source.oci.ref.tag; default "latest")`)
	f.StringVar(&o.OCISemVer, "oci-semver", "", "semver range; the highest matching tag is synced (spec.source.oci.ref.semver)")
	f.StringVar(&o.OCISemverFilter, "oci-semver-filter", "", "regular expression: only matching tags count for --oci-semver (spec.source.oci.ref.semverFilter)")
	f.StringVar(&o.OCIDigest, "oci-digest", "", "manifest digest sha256:<hex> to sync (spec.source.oci.ref.digest)")
	f.StringVar(&o.OCILayerMediaType, "oci-layer-media-type", "", "media type of the layer to take (spec.source.oci.layerSelector.mediaType; default the first layer)")
	f.StringVar(&o.OCILayerOperation, "oci-layer-operation", "", "extract (a tree of manifests) or copy (a chart package, rendered as with spec.helm) (spec.source.oci.layerSelector.operation)")
	f.StringVar(&o.BucketEndpoint, "bucket-endpoint", "", "S3-compatible server, host[:port] (spec.source.bucket.endpoint); instead of --url")
	f.StringVar(&o.BucketName, "bucket-name", "", "bucket name (spec.source.bucket.bucketName)")
	f.StringVar(&o.BucketPrefix, "bucket-prefix", "", "fetch only keys with this prefix (spec.source.bucket.prefix)")
	f.StringVar(&o.BucketRegion, "bucket-region", "", "region requests are signed for (spec.source.bucket.region; default us-east-1)")
	f.StringVar(&o.VerifyMode, "verify-mode", "", "verify Git signatures: HEAD, Tag or TagAndHEAD (spec.source.git.verify.mode); needs --verify-secret-ref")
	f.StringVar(&o.VerifyProvider, "verify-provider", "", "verify OCI artifact signatures: cosign (spec.source.oci.verify.provider); with --verify-secret-ref the keys, else keyless (--verify-oidc-*)")
	f.StringVar(&o.VerifyOIDCIssuer, "verify-oidc-issuer", "", "keyless cosign: regular expression the signer's OIDC issuer must match (spec.source.oci.verify.matchOIDCIdentity[0].issuer); with --verify-oidc-subject")
	f.StringVar(&o.VerifyOIDCSubject, "verify-oidc-subject", "", "keyless cosign: regular expression the signer's identity must match (spec.source.oci.verify.matchOIDCIdentity[0].subject)")
	f.StringVar(&o.VerifyTrustedRoot, "verify-trusted-root-secret-ref", "", "keyless cosign: Secret whose key trusted_root.json holds the Fulcio CAs and Rekor keys to verify against, offline (spec.source.oci.verify.trustedRootSecretRef; default Sigstore's public-good root, through TUF)")
	f.StringVar(&o.Provider, "provider", "", "how the Git source authenticates: generic (the Secret's credentials) or github (a GitHub App: the Secret's githubApp* keys) (spec.source.git.provider)")
	f.StringVar(&o.VerifySecretRef, "verify-secret-ref", "", "Secret with the trusted public keys (spec.source.git.verify.secretRef, spec.source.oci.verify.secretRef); alone it turns on verification with the default mode or provider")
	f.StringSliceVar(&o.SparseCheckout, "sparse-checkout", nil, "directories of the Git repository to fetch, comma-separated or repeated (spec.source.git.sparseCheckout)")
	f.BoolVar(&o.RecurseSubmodules, "recurse-submodules", false, "fetch Git submodules with the repository's credentials (spec.source.git.recurseSubmodules)")
	f.StringArrayVar(&o.Include, "include", nil, "copy a path of another Git repository before render: repository=URL[,branch=B|tag=T|semver=S|commit=C|ref=NAME][,from=PATH][,to=PATH][,secret=SECRET] (spec.source.git.include; repeatable)")
	f.StringVar(&o.SecretRef, "secret-ref", "", "same as --secret (the name flux create source uses)")
	f.StringArrayVar(&o.Ignore, "ignore", nil, "ignore rule in .gitignore syntax for a Git, OCI or bucket source (spec.source.*.ignore; repeatable, one rule each)")
}

// sourceSpecFlags are the flags of sourceFlags that set spec fields, with
// the field path each sets, for specFlags. A flag that sets a field of
// several kinds is listed once per kind, so that an error in either is
// reported against it.
func sourceSpecFlags() []struct{ flag, path string } {
	return []struct{ flag, path string }{
		{"oci-url", "spec.source.oci.url"},
		{"oci-tag", "spec.source.oci.ref.tag"},
		{"oci-semver", "spec.source.oci.ref.semver"},
		{"oci-semver-filter", "spec.source.oci.ref.semverFilter"},
		{"oci-digest", "spec.source.oci.ref.digest"},
		{"oci-layer-media-type", "spec.source.oci.layerSelector.mediaType"},
		{"oci-layer-operation", "spec.source.oci.layerSelector.operation"},
		{"secret", "spec.source.oci.secretRef"},
		{"insecure", "spec.source.oci.insecure"},
		{"bucket-endpoint", "spec.source.bucket.endpoint"},
		{"bucket-name", "spec.source.bucket.bucketName"},
		{"bucket-prefix", "spec.source.bucket.prefix"},
		{"bucket-region", "spec.source.bucket.region"},
		{"secret", "spec.source.bucket.secretRef"},
		{"insecure", "spec.source.bucket.insecure"},
		{"secret", "spec.source.helm.secretRef"},
		{"insecure", "spec.source.helm.insecure"},
		{"provider", "spec.source.git.provider"},
		{"verify-mode", "spec.source.git.verify.mode"},
		{"verify-secret-ref", "spec.source.git.verify.secretRef"},
		{"verify-provider", "spec.source.oci.verify.provider"},
		{"verify-secret-ref", "spec.source.oci.verify.secretRef"},
		{"verify-oidc-issuer", "spec.source.oci.verify.matchOIDCIdentity"},
		{"verify-oidc-subject", "spec.source.oci.verify.matchOIDCIdentity"},
		{"verify-trusted-root-secret-ref", "spec.source.oci.verify.trustedRootSecretRef"},
		{"sparse-checkout", "spec.source.git.sparseCheckout"},
		{"recurse-submodules", "spec.source.git.recurseSubmodules"},
		{"include", "spec.source.git.include"},
		{"ignore", "spec.source.git.ignore"},
		{"ignore", "spec.source.oci.ignore"},
		{"ignore", "spec.source.bucket.ignore"},
		{"secret-ref", "spec.source.git.secretRef"},
		{"secret-ref", "spec.source.helm.secretRef"},
		{"secret-ref", "spec.source.oci.secretRef"},
		{"secret-ref", "spec.source.bucket.secretRef"},
	}
}

// sourceKindFlag returns the flag that chose the sync's kind of source:
// "url", "helm-repo", "oci-url" or "bucket-endpoint" (the bucket flags
// count as one). More than one, or none, is an error naming the flags.
func (o *installOptions) sourceKindFlag() (string, error) {
	switch {
	case o.SecretRef != "" && o.Secret != "" && o.SecretRef != o.Secret:
		return "", errors.New("--secret-ref: cannot be combined with --secret, which it is another name of")
	case o.SecretRef != "":
		o.Secret = o.SecretRef
	}
	var given []string
	for _, k := range []struct {
		flag string
		set  bool
	}{
		{"url", o.URL != ""},
		{"helm-repo", o.HelmRepo != ""},
		{"oci-url", o.OCIURL != ""},
		{"bucket-endpoint", o.BucketEndpoint != "" || o.BucketName != ""},
	} {
		if k.set {
			given = append(given, k.flag)
		}
	}
	switch len(given) {
	case 0:
		return "", errors.New("--url, --helm-repo, --oci-url or --bucket-endpoint: required (or give a Sync document with -f)")
	case 1:
		return given[0], nil
	}
	if slices.Equal(given, []string{"url", "helm-repo"}) {
		return "", errors.New("--helm-repo: cannot be combined with --url: a sync has one source (a chart in Git: --url with --chart-path)")
	}
	return "", fmt.Errorf("--%s: cannot be combined: a sync has one source", strings.Join(given, ", --"))
}

// checkSourceFlags refuses flags that do not belong to the chosen kind
// of source, naming them and the kind.
func (o *installOptions) checkSourceFlags(kind string) error {
	belongs := map[string][]string{
		"url": {"verify-mode", "sparse-checkout", "recurse-submodules", "include", "provider"},
		"oci-url": {"oci-tag", "oci-semver", "oci-semver-filter", "oci-digest", "oci-layer-media-type", "oci-layer-operation", "verify-provider",
			"verify-oidc-issuer", "verify-oidc-subject", "verify-trusted-root-secret-ref"},
		"bucket-endpoint": {"bucket-name", "bucket-prefix", "bucket-region"},
	}
	set := map[string]bool{
		"oci-tag": o.OCITag != "", "oci-semver": o.OCISemVer != "", "oci-semver-filter": o.OCISemverFilter != "",
		"oci-digest": o.OCIDigest != "", "oci-layer-media-type": o.OCILayerMediaType != "", "oci-layer-operation": o.OCILayerOperation != "",
		"bucket-name": o.BucketName != "", "bucket-prefix": o.BucketPrefix != "", "bucket-region": o.BucketRegion != "",
		"verify-mode": o.VerifyMode != "", "verify-provider": o.VerifyProvider != "",
		"verify-oidc-issuer": o.VerifyOIDCIssuer != "", "verify-oidc-subject": o.VerifyOIDCSubject != "",
		"verify-trusted-root-secret-ref": o.VerifyTrustedRoot != "",
		"sparse-checkout":                len(o.SparseCheckout) > 0, "recurse-submodules": o.RecurseSubmodules, "include": len(o.Include) > 0,
		"provider": o.Provider != "",
	}
	for _, owner := range []string{"url", "oci-url", "bucket-endpoint"} {
		if owner == kind {
			continue
		}
		var wrong []string
		for _, f := range belongs[owner] {
			if set[f] {
				wrong = append(wrong, "--"+f)
			}
		}
		if len(wrong) > 0 {
			return fmt.Errorf("%s: only with --%s, not with --%s", strings.Join(wrong, ", "), owner, kind)
		}
	}
	switch {
	case kind == "bucket-endpoint" && o.BucketEndpoint == "":
		return errors.New("--bucket-endpoint: required with --bucket-name")
	case kind == "bucket-endpoint" && o.BucketName == "":
		return errors.New("--bucket-name: required with --bucket-endpoint")
	case o.VerifySecretRef != "" && kind != "url" && kind != "oci-url":
		return fmt.Errorf("--verify-secret-ref: only with --url (Git signatures) or --oci-url (cosign signatures), not with --%s", kind)
	case (o.VerifyOIDCIssuer == "") != (o.VerifyOIDCSubject == ""):
		return errors.New("--verify-oidc-issuer, --verify-oidc-subject: the accepted signer needs both")
	case o.keyless() && o.VerifySecretRef != "":
		return errors.New("--verify-secret-ref: not with keyless verification (--verify-oidc-*, --verify-trusted-root-secret-ref): either public keys or signer identities")
	case o.VerifyMode != "" && o.VerifySecretRef == "":
		return errors.New("--verify-secret-ref: required to verify Git signatures: the Secret with the trusted public keys")
	case len(o.Ignore) > 0 && kind == "helm-repo":
		return errors.New("--ignore: only with --url, --oci-url or --bucket-endpoint: a chart is not filtered")
	}
	return nil
}

// ignoreRules returns the --ignore rules as one ignore field; nil when
// none were given.
func (o *installOptions) ignoreRules() *string {
	if len(o.Ignore) == 0 {
		return nil
	}
	rules := strings.Join(o.Ignore, "\n") + "\n"
	return &rules
}

// ociSource returns spec.source.oci from the flags.
func (o *installOptions) ociSource() *spec.OCISource {
	s := &spec.OCISource{
		URL:      o.OCIURL,
		Ref:      spec.OCIRef{Tag: o.OCITag, SemVer: o.OCISemVer, SemverFilter: o.OCISemverFilter, Digest: o.OCIDigest},
		Insecure: o.Insecure,
		Ignore:   o.ignoreRules(),
	}
	if o.Secret != "" {
		s.SecretRef = &spec.LocalObjectReference{Name: o.Secret}
	}
	if o.OCILayerMediaType != "" || o.OCILayerOperation != "" {
		s.LayerSelector = &spec.OCILayerSelector{MediaType: o.OCILayerMediaType, Operation: o.OCILayerOperation}
	}
	switch {
	case o.VerifySecretRef != "":
		s.Verify = &spec.OCIVerification{Provider: o.VerifyProvider, SecretRef: &spec.LocalObjectReference{Name: o.VerifySecretRef}}
	case o.keyless() || o.VerifyProvider != "":
		// Keyless, as Flux's `--verify-provider cosign` alone: without a
		// signer any identity's, without a root Sigstore's public one.
		s.Verify = &spec.OCIVerification{Provider: o.VerifyProvider}
		if o.VerifyOIDCIssuer != "" {
			s.Verify.MatchOIDCIdentity = []spec.OIDCIdentityMatch{{Issuer: o.VerifyOIDCIssuer, Subject: o.VerifyOIDCSubject}}
		}
		if o.VerifyTrustedRoot != "" {
			s.Verify.TrustedRootSecretRef = &spec.LocalObjectReference{Name: o.VerifyTrustedRoot}
		}
	}
	return s
}

// keyless reports whether a keyless verification flag was given.
func (o *sourceFlags) keyless() bool {
	return o.VerifyOIDCIssuer != "" || o.VerifyOIDCSubject != "" || o.VerifyTrustedRoot != ""
}

// bucketSource returns spec.source.bucket from the flags.
func (o *installOptions) bucketSource() *spec.BucketSource {
	s := &spec.BucketSource{
		Endpoint:   o.BucketEndpoint,
		BucketName: o.BucketName,
		Prefix:     o.BucketPrefix,
		Region:     o.BucketRegion,
		Insecure:   o.Insecure,
		Ignore:     o.ignoreRules(),
	}
	if o.Secret != "" {
		s.SecretRef = &spec.LocalObjectReference{Name: o.Secret}
	}
	return s
}

// gitExtras sets the Git extras of the flags on g.
func (o *installOptions) gitExtras(g *spec.GitSource) error {
	g.SparseCheckout = o.SparseCheckout
	g.RecurseSubmodules = o.RecurseSubmodules
	g.Ignore = o.ignoreRules()
	if o.VerifySecretRef != "" {
		g.Verify = &spec.GitVerify{Mode: o.VerifyMode, SecretRef: spec.LocalObjectReference{Name: o.VerifySecretRef}}
	}
	for _, v := range o.Include {
		inc, err := parseInclude(v)
		if err != nil {
			return fmt.Errorf("--include %s: %w", v, err)
		}
		g.Include = append(g.Include, inc)
	}
	return nil
}

// parseInclude parses an --include value:
// repository=URL[,branch=B|tag=T|semver=S|commit=C|ref=NAME][,from=PATH][,to=PATH][,secret=SECRET].
// The spec validates the values; this only splits them and refuses
// unknown and repeated keys.
func parseInclude(v string) (spec.GitInclude, error) {
	var inc spec.GitInclude
	seen := map[string]bool{}
	for _, kv := range strings.Split(v, ",") {
		key, val, ok := strings.Cut(kv, "=")
		key = strings.TrimSpace(key)
		if !ok || val == "" {
			return inc, fmt.Errorf("%q: want key=value", kv)
		}
		if seen[key] {
			return inc, fmt.Errorf("%s given twice", key)
		}
		seen[key] = true
		r := &inc.Repository
		switch key {
		case "repository", "url":
			r.URL = val
		case "branch":
			r.Ref.Branch = val
		case "tag":
			r.Ref.Tag = val
		case "semver":
			r.Ref.SemVer = val
		case "commit":
			r.Ref.Commit = val
		case "ref":
			r.Ref.Name = val
		case "from":
			inc.FromPath = val
		case "to":
			inc.ToPath = val
		case "secret", "secret-ref":
			r.SecretRef = &spec.LocalObjectReference{Name: val}
		default:
			return inc, fmt.Errorf("unknown key %q: want repository, branch, tag, semver, commit, ref, from, to or secret", key)
		}
	}
	if inc.Repository.URL == "" {
		return inc, errors.New("repository=URL is required")
	}
	return inc, nil
}
