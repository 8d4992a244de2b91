package action

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/spec"
)

// TestBuildStatusSourceKinds checks what status says about each kind of
// source: its URL, what is taken from it, the digest of the last applied
// revision and its other settings.
func TestBuildStatusSourceKinds(t *testing.T) {
	digest := "sha256:" + strings.Repeat("0a", 32)
	tests := []struct {
		name    string
		source  string
		applied string
		want    SourceStatus
	}{
		{"oci", `oci: {url: oci://ghcr.io/example/web, ref: {semver: ">=1.0.0"}, secretRef: {name: ghcr}, verify: {secretRef: {name: keys}}}`,
			"1.2.0@" + digest, SourceStatus{Kind: "oci", URL: "oci://ghcr.io/example/web", Ref: "semver >=1.0.0, verified with cosign", Digest: digest,
				Details: []string{"credentials from Secret ghcr", "verify cosign signatures, keys from Secret keys"}}},
		{"bucket", `bucket: {endpoint: minio.example.com, bucketName: configs, prefix: apps/, region: eu-west-1}`,
			digest, SourceStatus{Kind: "bucket", URL: "https://minio.example.com", Ref: "bucket configs, prefix apps/", Digest: digest,
				Details: []string{"region eu-west-1"}}},
		{"git with extras, never applied", `git: {url: 'https://git.example.com/app.git', ref: {tag: v1}, verify: {mode: Tag, secretRef: {name: pgp}}, sparseCheckout: [deploy]}`,
			"", SourceStatus{Kind: "git", URL: "https://git.example.com/app.git", Ref: "tag v1",
				Details: []string{"verify Tag signatures, keys from Secret pgp", "sparse checkout: deploy"}}},
		{"chart of an HTTP repository: a version, no digest", `helm: {url: 'https://charts.example.com', chart: web}`,
			"1.2.3", SourceStatus{Kind: "helm", URL: "https://charts.example.com", Ref: "chart web, version *"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp, err := spec.Parse([]byte("apiVersion: gitsync.io/v1alpha1\nkind: Sync\nmetadata: {name: web, namespace: ns}\nspec:\n  source:\n    " + tt.source + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			s := &Sync{Ref: Ref{Name: "web", Namespace: "ns"}, Spec: sp,
				Inventory: &inventory.Inventory{Record: inventory.Record{LastAppliedRevision: tt.applied}}}
			if diff := cmp.Diff(tt.want, BuildStatus(s, goldenNow).Source); diff != "" {
				t.Errorf("source (-want +got):\n%s", diff)
			}
		})
	}
}
