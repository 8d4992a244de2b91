package spec

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const ociDigestA = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParseOCI(t *testing.T) {
	s, err := Parse([]byte(syncDoc(`
source:
  oci:
    url: oci://ghcr.io/team/app-config
    ref: {semver: ">=1.0.0-0", semverFilter: ".*-rc.*", tag: v1}
    layerSelector: {mediaType: application/vnd.cncf.flux.content.v1.tar+gzip}
    provider: generic
    secretRef: {name: registry}
    verify: {secretRef: {name: cosign-keys}}
    insecure: true
    timeout: 2m
path: ./deploy`)))
	if err != nil {
		t.Fatal(err)
	}
	o := s.Spec.Source.OCI
	want := &OCISource{
		URL:           "oci://ghcr.io/team/app-config",
		Ref:           OCIRef{SemVer: ">=1.0.0-0", SemverFilter: ".*-rc.*", Tag: "v1"},
		LayerSelector: &OCILayerSelector{MediaType: "application/vnd.cncf.flux.content.v1.tar+gzip", Operation: OCILayerExtract},
		Provider:      "generic",
		SecretRef:     &LocalObjectReference{Name: "registry"},
		Verify:        &OCIVerification{Provider: VerifyCosign, SecretRef: &LocalObjectReference{Name: "cosign-keys"}},
		Insecure:      true,
		Timeout:       NewDuration(2 * time.Minute),
	}
	if diff := cmp.Diff(want, o, cmp.AllowUnexported(Duration{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"cosign-keys", "registry"}, s.SecretNames()); diff != "" {
		t.Errorf("SecretNames (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]SecretUse{{Name: "cosign-keys", Field: "spec.source.oci.verify.secretRef"}}, s.Spec.Source.MoreSecrets()); diff != "" {
		t.Errorf("MoreSecrets (-want +got):\n%s", diff)
	}
	kind, url, what := s.Spec.Source.Describe()
	if kind != "oci" || url != "oci://ghcr.io/team/app-config" ||
		what != "semver >=1.0.0-0 (tags matching .*-rc.*), layer application/vnd.cncf.flux.content.v1.tar+gzip, verified with cosign" {
		t.Errorf("Describe: %q %q %q", kind, url, what)
	}

	// Keyless: identities and the trusted root's Secret.
	s, err = Parse([]byte(syncDoc(`source: {oci: {url: 'oci://r.example/app', verify: {provider: cosign, trustedRootSecretRef: {name: sigstore-root}, matchOIDCIdentity: [{issuer: '^https://token\.actions\.githubusercontent\.com$', subject: '^https://github\.com/org/'}]}}}`)))
	if err != nil {
		t.Fatal(err)
	}
	wantV := &OCIVerification{Provider: VerifyCosign, TrustedRootSecretRef: &LocalObjectReference{Name: "sigstore-root"},
		MatchOIDCIdentity: []OIDCIdentityMatch{{Issuer: `^https://token\.actions\.githubusercontent\.com$`, Subject: `^https://github\.com/org/`}}}
	if diff := cmp.Diff(wantV, s.Spec.Source.OCI.Verify); diff != "" {
		t.Errorf("keyless (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]SecretUse{{Name: "sigstore-root", Field: OCITrustedRootField}}, s.Spec.Source.MoreSecrets()); diff != "" {
		t.Errorf("keyless MoreSecrets (-want +got):\n%s", diff)
	}
	// Keyless as Flux reads it: without a trusted root (the public-good
	// one, through TUF), without identities (any signer), or with
	// neither; no Secret is read.
	for _, v := range []string{
		`{provider: cosign, matchOIDCIdentity: [{issuer: '^https://token\.actions\.githubusercontent\.com$', subject: '^https://github\.com/org/'}]}`,
		`{provider: cosign, trustedRootSecretRef: {name: sigstore-root}}`,
		`{provider: cosign}`,
		`{}`,
	} {
		s, err := Parse([]byte(syncDoc(`source: {oci: {url: 'oci://r.example/app', verify: ` + v + `}}`)))
		if err != nil {
			t.Errorf("keyless %s: %v", v, err)
			continue
		}
		if got := s.Spec.Source.OCI.Verify; got.SecretRef != nil || got.Provider != VerifyCosign {
			t.Errorf("keyless %s: %+v", v, got)
		}
		if v != `{provider: cosign, trustedRootSecretRef: {name: sigstore-root}}` && len(s.Spec.Source.MoreSecrets()) != 0 {
			t.Errorf("keyless %s reads Secrets: %v", v, s.Spec.Source.MoreSecrets())
		}
	}

	// Defaults: tag latest, Flux's timeout.
	s, err = Parse([]byte(syncDoc("source: {oci: {url: 'oci://r.example/app'}}")))
	if err != nil {
		t.Fatal(err)
	}
	if o := s.Spec.Source.OCI; o.Ref.Tag != DefaultOCITag || o.Timeout.Duration != DefaultOCITimeout || o.LayerSelector != nil {
		t.Errorf("defaults: %+v", o)
	}
	if _, _, what := s.Spec.Source.Describe(); what != "tag latest" {
		t.Errorf("Describe %q", what)
	}
	if more := s.Spec.Source.MoreSecrets(); more != nil || len(s.SecretNames()) != 0 {
		t.Errorf("no secrets expected: %v %v", more, s.SecretNames())
	}

	// A copied chart renders with spec.helm.
	if _, err := Parse([]byte(syncDoc(`
source: {oci: {url: 'oci://r.example/charts/app', layerSelector: {mediaType: application/vnd.cncf.helm.chart.content.v1.tar+gzip, operation: copy}, ref: {digest: ` + ociDigestA + `}}}
helm: {releaseName: app}`))); err != nil {
		t.Errorf("copied chart: %v", err)
	}
}

func TestParseOCIErrors(t *testing.T) {
	tests := []struct {
		name, doc string
		want      []string
	}{
		{"no url", syncDoc("source: {oci: {ref: {tag: v1}}}"), []string{
			`spec.source.oci.url: Required value: oci://host[:port]/path, the artifact's repository`,
		}},
		{"bad urls", syncDoc("source: {oci: {url: 'https://r.example/app'}}"), []string{
			`spec.source.oci.url: Invalid value: "https://r.example/app": must start with oci://`,
		}},
		{"tag in url", syncDoc("source: {oci: {url: 'oci://r.example/app:v1'}}"), []string{
			`spec.source.oci.url: Invalid value: "oci://r.example/app:v1": must not hold a tag or digest: put it in ref`,
		}},
		{"credentials in url", syncDoc("source: {oci: {url: 'oci://bob:S3CRET@r.example/app'}}"), []string{
			`spec.source.oci.url: Invalid value: "oci://xxxxx@r.example/app": may not hold credentials; put them in the Secret named by secretRef`,
		}},
		{"no repository", syncDoc("source: {oci: {url: 'oci://r.example'}}"), []string{
			`spec.source.oci.url: Invalid value: "oci://r.example": must name a repository: oci://host[:port]/path`,
		}},
		{"uppercase repository", syncDoc("source: {oci: {url: 'oci://r.example/App'}}"), []string{
			`spec.source.oci.url: Invalid value: "oci://r.example/App": not a registry repository: lowercase letters, digits, '.', '_', '-' and '/'`,
		}},
		{"bad ref", syncDoc(`source: {oci: {url: 'oci://r.example/app', ref: {digest: 'sha256:xyz', semver: '!!1', tag: '-bad'}}}`), []string{
			`spec.source.oci.ref.digest: Invalid value: "sha256:xyz": must be sha256:<64 lowercase hex>`,
			`spec.source.oci.ref.semver: Invalid value: "!!1": not a semver range`,
			`spec.source.oci.ref.tag: Invalid value: "-bad": not a valid tag: letters, digits, '_', '.' and '-', at most 128, not starting with '.' or '-'`,
		}},
		{"semverFilter", syncDoc(`source: {oci: {url: 'oci://r.example/app', ref: {semverFilter: '('}}}`), []string{
			"spec.source.oci.ref.semverFilter: Invalid value: \"(\": not a regular expression: error parsing regexp: missing closing ): `(`",
			`spec.source.oci.ref.semverFilter: Forbidden: filters the tags of semver, which is not set`,
		}},
		{"layer selector", syncDoc(`source: {oci: {url: 'oci://r.example/app', layerSelector: {mediaType: 'not a type', operation: unpack}}}`), []string{
			`spec.source.oci.layerSelector.mediaType: Invalid value: "not a type": not a media type such as application/vnd.cncf.flux.content.v1.tar+gzip`,
			`spec.source.oci.layerSelector.operation: Unsupported value: "unpack": supported values: "extract", "copy"`,
		}},
		{"copy without helm", syncDoc(`source: {oci: {url: 'oci://r.example/app', layerSelector: {operation: copy}}}
path: ./deploy`), []string{
			`spec.source.oci.layerSelector.operation: Forbidden: copy stores the layer as one file, which only a Helm chart (spec.helm) renders from; use extract for manifests`,
			`spec.path: Forbidden: a copied layer is one file, the chart; there is no path inside it`,
		}},
		{"provider", syncDoc(`source: {oci: {url: 'oci://r.example/app', provider: aws}}`), []string{
			`spec.source.oci.provider: Unsupported value: "aws": supported values: "generic"`,
		}},
		{"verify", syncDoc(`source: {oci: {url: 'oci://r.example/app', verify: {provider: notation}}}`), []string{
			`spec.source.oci.verify.provider: Unsupported value: "notation": supported values: "cosign"`,
		}},
		{"keyless and a key", syncDoc(`source: {oci: {url: 'oci://r.example/app', verify: {secretRef: {name: k}, trustedRootSecretRef: {name: r}, matchOIDCIdentity: [{issuer: x, subject: y}]}}}`), []string{
			`spec.source.oci.verify.secretRef: Invalid value: "k": either secretRef (cosign public keys) or matchOIDCIdentity (keyless), not both`,
		}},
		{"a root and a key", syncDoc(`source: {oci: {url: 'oci://r.example/app', verify: {secretRef: {name: k}, trustedRootSecretRef: {name: r}}}}`), []string{
			`spec.source.oci.verify.secretRef: Invalid value: "k": either secretRef (cosign public keys) or trustedRootSecretRef (keyless), not both`,
		}},
		{"bad identities", syncDoc(`source: {oci: {url: 'oci://r.example/app', verify: {matchOIDCIdentity: [{issuer: x, subject: '('}, {subject: y}]}}}`), []string{
			"spec.source.oci.verify.matchOIDCIdentity[0].subject: Invalid value: \"(\": error parsing regexp: missing closing ): `(`",
			`spec.source.oci.verify.matchOIDCIdentity[1].issuer: Required value: a regular expression`,
		}},
		{"Flux fields", syncDoc(`source: {oci: {url: 'oci://r.example/app', interval: 5m, certSecretRef: {name: c}}}`), []string{
			`spec.source.oci.certSecretRef: Forbidden: unknown field (put ca.crt, tls.crt and tls.key in the Secret named by spec.source.oci.secretRef)`,
			`spec.source.oci.interval: Forbidden: unknown field (gitsync runs on a cron schedule: use spec.schedule)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			if diff := cmp.Diff(tt.want, errorStrings(err)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if strings.Contains(err.Error(), "S3CRET") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}
