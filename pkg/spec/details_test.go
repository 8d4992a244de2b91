package spec

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestSourceKinds checks, for every kind of source, what the rest of
// gitsync reads through the seam: the Secrets a run reads (which the
// generated RBAC grants), whether ignore rules filter its tree, and the
// details status shows.
func TestSourceKinds(t *testing.T) {
	tests := []struct {
		name    string
		source  string
		extra   string
		secrets []string
		ignore  bool
		details []string
	}{
		{name: "git with every extra", source: `
git:
  url: https://git.example.com/app.git
  ref: {tag: v1.2.0}
  secretRef: {name: git-creds}
  verify: {mode: TagAndHEAD, secretRef: {name: git-keys}}
  sparseCheckout: [deploy, charts]
  recurseSubmodules: true
  ignore: |
    # drafts
    /deploy/draft.yaml
    *.md
  include:
  - repository: {url: 'https://TOKEN@git.example.com/base.git', ref: {branch: main}, secretRef: {name: base-creds}}
    fromPath: manifests
    toPath: deploy/base
  - repository: {url: 'https://git.example.com/lib.git'}`,
			extra:   "postBuild: {substituteFrom: [{kind: Secret, name: vars}, {kind: ConfigMap, name: cm}]}",
			secrets: []string{"base-creds", "git-creds", "git-keys", "vars"},
			ignore:  true,
			details: []string{
				"credentials from Secret git-creds",
				"verify TagAndHEAD signatures, keys from Secret git-keys",
				"sparse checkout: deploy, charts",
				"submodules",
				"include https://xxxxx@git.example.com/base.git (branch main): manifests -> deploy/base, credentials from Secret base-creds",
				"include https://git.example.com/lib.git (default branch): / -> lib",
				"ignore rules: /deploy/draft.yaml; *.md",
			}},
		{name: "oci with verification", source: `
oci:
  url: oci://registry.example.com/app
  ref: {semver: ">=1.0.0"}
  secretRef: {name: registry}
  verify: {secretRef: {name: cosign-keys}}
  insecure: true
  ignore: "*.txt"`,
			secrets: []string{"cosign-keys", "registry"},
			ignore:  true,
			details: []string{
				"credentials from Secret registry",
				"verify cosign signatures, keys from Secret cosign-keys",
				"plain HTTP (insecure)",
				"ignore rules: *.txt",
			}},
		{name: "oci, keyless against the public root", source: `
oci:
  url: oci://registry.example.com/app
  verify: {provider: cosign}`,
			ignore:  true,
			details: []string{"verify keyless cosign signatures of any identity, Sigstore's public-good trusted root (TUF)"}},
		{name: "oci, keyless against a root of one's own", source: `
oci:
  url: oci://registry.example.com/app
  verify: {matchOIDCIdentity: [{issuer: '^https://token.actions.githubusercontent.com$', subject: '^https://github.com/org/'}], trustedRootSecretRef: {name: root}}`,
			secrets: []string{"root"},
			ignore:  true,
			details: []string{"verify keyless cosign signatures of 1 identities, trusted root from Secret root"}},
		{name: "git as a GitHub App", source: `
git:
  url: https://github.com/org/fleet
  provider: github
  secretRef: {name: app}`,
			secrets: []string{"app"},
			ignore:  true,
			details: []string{"credentials from Secret app", "authenticates as a GitHub App installation"}},
		{name: "oci chart, copied", source: `
oci:
  url: oci://registry.example.com/charts/web
  layerSelector: {mediaType: application/vnd.cncf.helm.chart.content.v1.tar+gzip, operation: copy}`,
			extra:   "helm: {valuesFrom: [{kind: Secret, name: web-values}]}",
			secrets: []string{"web-values"},
			ignore:  true,
		},
		{name: "bucket", source: `
bucket:
  endpoint: minio.example.com
  bucketName: configs
  prefix: apps/
  region: eu-west-1
  secretRef: {name: s3-keys}
  ignore: ""`,
			secrets: []string{"s3-keys"},
			ignore:  true,
			details: []string{
				"credentials from Secret s3-keys",
				"region eu-west-1",
				"ignore rules: none (the default exclusions are off)",
			}},
		{name: "helm", source: `
helm: {url: 'https://charts.example.com', chart: web, secretRef: {name: charts}}`,
			extra:   "helm: {valuesFrom: [{kind: Secret, name: v}, {kind: Secret, name: charts}]}",
			secrets: []string{"charts", "v"},
			details: []string{"credentials from Secret charts"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := "source:\n" + indent(tt.source) + "\n" + tt.extra
			s, err := Parse([]byte(syncDoc(body)))
			if err != nil {
				t.Fatalf("%v\n%s", err, syncDoc(body))
			}
			if diff := cmp.Diff(tt.secrets, s.SecretNames()); diff != "" {
				t.Errorf("SecretNames (-want +got):\n%s", diff)
			}
			if _, ok := s.Spec.Source.IgnoreRules(); ok != tt.ignore {
				t.Errorf("IgnoreRules ok = %v, want %v", ok, tt.ignore)
			}
			if diff := cmp.Diff(tt.details, s.Spec.Source.Details()); diff != "" {
				t.Errorf("Details (-want +got):\n%s", diff)
			}
		})
	}
}

// indent indents every line of s by two spaces.
func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n  ")
}
