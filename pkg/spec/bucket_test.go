package spec

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func bucketSpec(bucket string) string {
	var b strings.Builder
	b.WriteString("source:\n  bucket:\n")
	for _, line := range strings.Split(strings.TrimSpace(bucket), "\n") {
		b.WriteString("    " + line + "\n")
	}
	return syncDoc(b.String())
}

func TestParseBucket(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      BucketSource
	}{
		{"minimal, defaults", bucketSpec("endpoint: minio.example.com\nbucketName: configs"), BucketSource{
			Provider: BucketProviderGeneric, Endpoint: "minio.example.com", BucketName: "configs",
			Timeout: NewDuration(DefaultBucketTimeout),
		}},
		{"every field", bucketSpec(`
provider: generic
endpoint: 'http://10.0.0.5:9000'
bucketName: team-a.configs
prefix: apps/
region: eu-central-1
insecure: true
secretRef: {name: s3-keys}
timeout: 2m`), BucketSource{
			Provider: BucketProviderGeneric, Endpoint: "http://10.0.0.5:9000", BucketName: "team-a.configs",
			Prefix: "apps/", Region: "eu-central-1", Insecure: true, SecretRef: &LocalObjectReference{Name: "s3-keys"},
			Timeout: NewDuration(2 * time.Minute),
		}},
		{"IPv6 endpoint, partial last prefix component", bucketSpec("endpoint: '[::1]:8333'\nbucketName: abc\nprefix: apps/.hid"), BucketSource{
			Provider: BucketProviderGeneric, Endpoint: "[::1]:8333", BucketName: "abc", Prefix: "apps/.hid",
			Timeout: NewDuration(DefaultBucketTimeout),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(&tc.want, s.Spec.Source.Bucket, cmpOpts); d != "" {
				t.Errorf("spec.source.bucket (-want +got):\n%s", d)
			}
			if s.Spec.Source.Kind() != "bucket" {
				t.Errorf("Kind = %q, want bucket", s.Spec.Source.Kind())
			}
		})
	}
}

func TestParseBucketErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"required fields", bucketSpec("region: us-east-1"), []string{
			`spec.source.bucket.endpoint: Required value: the server's host[:port], e.g. minio.example.com or s3.amazonaws.com`,
			`spec.source.bucket.bucketName: Required value: the bucket's name`,
		}},
		{"providers for later", bucketSpec("provider: aws\nendpoint: s3.amazonaws.com\nbucketName: abc"), []string{
			`spec.source.bucket.provider: Invalid value: "aws": not supported yet: only generic (an S3-compatible endpoint with accesskey and secretkey); aws, gcp, azure are planned`,
		}},
		{"unknown provider", bucketSpec("provider: ftp\nendpoint: s3.amazonaws.com\nbucketName: abc"), []string{
			`spec.source.bucket.provider: Unsupported value: "ftp": supported values: "generic"`,
		}},
		{"endpoint with a path, bad bucket name", bucketSpec("endpoint: 'https://minio.example.com/configs'\nbucketName: Configs_1"), []string{
			`spec.source.bucket.endpoint: Invalid value: "https://minio.example.com/configs": must be host[:port] only, without a path, query or fragment (the bucket is bucketName)`,
			`spec.source.bucket.bucketName: Invalid value: "Configs_1": a bucket name: 3 to 63 lowercase letters, digits, '.' and '-', starting and ending with a letter or digit`,
		}},
		{"endpoint with credentials is not echoed", bucketSpec("endpoint: 'https://AKIA:S3CRET@minio.example.com'\nbucketName: abc"), []string{
			`spec.source.bucket.endpoint: Invalid value: may not hold credentials; put accesskey and secretkey in the Secret named by secretRef`,
		}},
		{"other scheme, bad port", bucketSpec("endpoint: 's3://minio'\nbucketName: abc"), []string{
			`spec.source.bucket.endpoint: Invalid value: "s3://minio": must be host[:port], optionally after https:// or http://`,
		}},
		{"bad port", bucketSpec("endpoint: 'minio:99999'\nbucketName: abc"), []string{
			`spec.source.bucket.endpoint: Invalid value: "minio:99999": the port must be a number from 1 to 65535`,
		}},
		{"bad host", bucketSpec("endpoint: 'minio_1.example'\nbucketName: abc"), []string{
			`spec.source.bucket.endpoint: Invalid value: "minio_1.example": must be host[:port] with a DNS name or an IP address as host`,
		}},
		{"http without insecure", bucketSpec("endpoint: 'http://minio:9000'\nbucketName: abc"), []string{
			`spec.source.bucket.endpoint: Invalid value: "http://minio:9000": plain http:// is allowed only with insecure: true; use https://`,
		}},
		{"https with insecure", bucketSpec("endpoint: 'https://minio:9000'\nbucketName: abc\ninsecure: true"), []string{
			`spec.source.bucket.insecure: Forbidden: contradicts the https:// endpoint: insecure means plain HTTP (it does not disable TLS verification)`,
		}},
		{"prefixes leaving the root", bucketSpec("endpoint: minio\nbucketName: abc\nprefix: /apps"), []string{
			`spec.source.bucket.prefix: Invalid value: "/apps": must not start with /: keys are relative`,
		}},
		{"prefix with ..", bucketSpec("endpoint: minio\nbucketName: abc\nprefix: apps/../x"), []string{
			`spec.source.bucket.prefix: Invalid value: "apps/../x": must not contain . or .. path components`,
		}},
		{"prefix with //", bucketSpec("endpoint: minio\nbucketName: abc\nprefix: apps//x"), []string{
			`spec.source.bucket.prefix: Invalid value: "apps//x": must not contain empty path components (//)`,
		}},
		{"region, secretRef, timeout", bucketSpec("endpoint: minio\nbucketName: abc\nregion: 'eu west'\nsecretRef: {name: ''}\ntimeout: soon"), []string{
			`spec.source.bucket.region: Invalid value: "eu west": a region name: letters, digits, '-' and '_', at most 64 characters`,
			`spec.source.bucket.secretRef.name: Required value`,
			`spec.source.bucket.timeout: Invalid value: "soon": must be a duration such as "90s" or "1m30s"`,
		}},
		{"unknown field", bucketSpec("endpoint: minio\nbucketName: abc\nignores: '*.md'"), []string{
			`spec.source.bucket.ignores: Forbidden: unknown field (did you mean "ignore"?)`,
		}},
		{"two sources", syncDoc("source:\n  git: {url: https://example.com/r.git}\n  bucket: {endpoint: minio, bucketName: abc}"), []string{
			`spec.source: Forbidden: set exactly one source kind, not git and bucket`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			if d := cmp.Diff(tc.want, errorStrings(err)); d != "" {
				t.Errorf("errors (-want +got):\n%s\n%s", d, tc.doc)
			}
			if err != nil && strings.Contains(err.Error(), "S3CRET") {
				t.Errorf("the error shows a credential: %v", err)
			}
		})
	}
}

func TestBucketSecretNamesDescribe(t *testing.T) {
	s, err := Parse([]byte(bucketSpec("endpoint: minio.example.com:9000\nbucketName: configs\nprefix: apps/\nsecretRef: {name: s3-keys}") + `  postBuild:
    substituteFrom:
    - {kind: Secret, name: vars}
`))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"s3-keys", "vars"}, s.SecretNames()); diff != "" {
		t.Errorf("SecretNames (-want +got):\n%s", diff)
	}
	if ref, field := s.Spec.Source.SecretRef(); ref == nil || ref.Name != "s3-keys" || field != "spec.source.bucket.secretRef" {
		t.Errorf("SecretRef = %v, %q", ref, field)
	}
	kind, url, what := s.Spec.Source.Describe()
	if kind != "bucket" || url != "https://minio.example.com:9000" || what != "bucket configs, prefix apps/" {
		t.Errorf("Describe = %q, %q, %q", kind, url, what)
	}
	insecure := BucketSource{Endpoint: "minio:9000", BucketName: "abc", Insecure: true}
	if url, what := insecure.describe(); url != "http://minio:9000" || what != "bucket abc" {
		t.Errorf("describe (insecure) = %q, %q", url, what)
	}
}

// TestBucketChartDirectory checks that spec.helm may render a chart
// directory of a bucket, as a Flux HelmChart may take its chart from a
// Bucket.
func TestBucketChartDirectory(t *testing.T) {
	s, err := Parse([]byte(bucketSpec("endpoint: minio\nbucketName: abc") + "  path: charts/web\n  helm: {releaseName: web}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !s.Spec.IsHelm() || s.Spec.Path != "./charts/web" {
		t.Errorf("IsHelm %v, path %q", s.Spec.IsHelm(), s.Spec.Path)
	}
}
