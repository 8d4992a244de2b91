package spec

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSourceKindSecretRefDescribe(t *testing.T) {
	type out struct{ Kind, Secret, Field, DKind, URL, What string }
	tests := []struct {
		name string
		src  Source
		want out
	}{
		{"git", Source{Git: &GitSource{URL: "https://g/r.git", Ref: GitRef{Tag: "v1"}, SecretRef: &LocalObjectReference{Name: "creds"}}},
			out{"git", "creds", "spec.source.git.secretRef", "git", "https://g/r.git", "tag v1"}},
		{"git with a token in the URL", Source{Git: &GitSource{URL: "https://TOKEN@g/r.git"}},
			out{"git", "", "", "git", "https://xxxxx@g/r.git", "default branch"}},
		{"helm", Source{Helm: &HelmSource{URL: "https://charts.example.com", Chart: "web", Version: "1.x", SecretRef: &LocalObjectReference{Name: "repo"}}},
			out{"helm", "repo", "spec.source.helm.secretRef", "helm", "https://charts.example.com", "chart web, version 1.x"}},
		{"oci", Source{Helm: &HelmSource{URL: "oci://registry.example.com/charts/web"}},
			out{"helm", "", "", "helm", "oci://registry.example.com/charts/web", "version *"}},
		{"none", Source{}, out{}},
		{"two", Source{Git: &GitSource{URL: "https://g/r.git", SecretRef: &LocalObjectReference{Name: "a"}}, Helm: &HelmSource{URL: "oci://r/c"}}, out{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got out
			got.Kind = tt.src.Kind()
			ref, field := tt.src.SecretRef()
			if ref != nil {
				got.Secret = ref.Name
			}
			got.Field = field
			got.DKind, got.URL, got.What = tt.src.Describe()
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestSecretNames(t *testing.T) {
	s, err := Parse([]byte(syncDoc(`
source: {helm: {url: 'oci://r.example.com/c', chart: app, secretRef: {name: registry}}}
helm:
  valuesFrom:
  - {kind: Secret, name: values}
  - {kind: ConfigMap, name: not-a-secret}
  - {kind: Secret, name: registry, valuesKey: v.yaml}`)))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"registry", "values"}, s.SecretNames()); diff != "" {
		t.Errorf("helm sync (-want +got):\n%s", diff)
	}
	s, err = Parse([]byte(gitSpec("url: https://example.com/r.git\nsecretRef: {name: git}") + `  postBuild:
    substituteFrom:
    - {kind: Secret, name: vars}
    - {kind: ConfigMap, name: cm}
`))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"git", "vars"}, s.SecretNames()); diff != "" {
		t.Errorf("git sync (-want +got):\n%s", diff)
	}
}

// TestParseErrorsHideURLCredentials checks that no validation error echoes
// a credential written into a source URL, whichever rule refuses the URL.
func TestParseErrorsHideURLCredentials(t *testing.T) {
	for name, doc := range map[string]string{
		"git password":              gitSpec("url: https://bob:S3CRET@example.com/r.git"),
		"git token in query":        gitSpec("url: https://example.com/r.git?token=S3CRET"),
		"git fragment":              gitSpec("url: https://example.com/r.git#S3CRET"),
		"git http without insecure": gitSpec("url: http://S3CRET@example.com/r.git"),
		"git unparsable":            gitSpec("url: 'https://S3CRET@example.com:port/r.git'"),
		"git bad scheme":            gitSpec("url: 'ftp://u:S3CRET@example.com/r.git'"),
		"helm userinfo":             syncDoc("source: {helm: {url: 'https://S3CRET@c.example.com', chart: a}}"),
		"helm query":                syncDoc("source: {helm: {url: 'https://c.example.com/?token=S3CRET', chart: a}}"),
		"helm http":                 syncDoc("source: {helm: {url: 'http://u:S3CRET@c.example.com', chart: a}}"),
		"helm bad scheme":           syncDoc("source: {helm: {url: 's3://AK:S3CRET@bucket', chart: a}}"),
		"oci userinfo":              syncDoc("source: {helm: {url: 'oci://u:S3CRET@r.example.com/c'}}"),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(doc))
			if err == nil {
				t.Fatalf("Parse accepted\n%s", doc)
			}
			if strings.Contains(err.Error(), "S3CRET") {
				t.Errorf("the error shows the credential:\n%v", err)
			}
			if !strings.Contains(err.Error(), "spec.source.") {
				t.Errorf("the error names no field: %v", err)
			}
		})
	}
}
