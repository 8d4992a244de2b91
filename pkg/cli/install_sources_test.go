package cli

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync/gitsync/pkg/spec"
)

// TestInstallSourceFlagsGolden exports an install of each kind the source
// flags add: an OCI artifact, a bucket, and Git with every extra.
func TestInstallSourceFlagsGolden(t *testing.T) {
	tests := []struct {
		name, golden string
		args         []string
	}{
		{name: "oci", golden: "testdata/install/oci.yaml", args: []string{
			"install", "web", "-n", "team-a", "--oci-url", "oci://ghcr.io/example/web-config",
			"--oci-semver", ">=1.0.0 <2", "--oci-semver-filter", "^v",
			"--oci-layer-media-type", "application/vnd.cncf.flux.content.v1.tar+gzip", "--oci-layer-operation", "extract",
			"--secret", "ghcr", "--verify-provider", "cosign", "--verify-secret-ref", "cosign-keys",
			"--ignore", "*.md", "--ignore", "/drafts/", "--path", "./deploy",
		}},
		{name: "bucket", golden: "testdata/install/bucket.yaml", args: []string{
			"install", "configs", "-n", "team-b", "--bucket-endpoint", "minio.example.com:9000", "--bucket-name", "configs",
			"--bucket-prefix", "apps/", "--bucket-region", "eu-west-1", "--secret", "s3-keys", "--path", "./apps",
			"--ignore", "*.txt",
		}},
		{name: "git with extras", golden: "testdata/install/git-extras.yaml", args: []string{
			"install", "app", "-n", "team-c", "--url", "https://git.example.com/app.git", "--tag", "v1.2.0",
			"--secret", "git-creds", "--verify-mode", "TagAndHEAD", "--verify-secret-ref", "git-keys",
			"--sparse-checkout", "deploy,charts", "--recurse-submodules",
			"--include", "repository=https://git.example.com/base.git,branch=main,from=manifests,to=deploy/base,secret=base-creds",
			"--include", "repository=https://git.example.com/lib.git", "--ignore", "/deploy/draft.yaml", "--path", "./deploy",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runCLI(t.Context(), "", append(tt.args, "--image", testImage, "--export", "--kubeconfig", offline)...)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.golden, out)
			checkExport(t, out, false)
			// The stored spec is what the flags say, read back as
			// sync-job reads it.
			s := exportedSpec(t, out)
			if s.Spec.Source.Kind() != map[string]string{"oci": "oci", "bucket": "bucket", "git with extras": "git"}[tt.name] {
				t.Errorf("source kind %q", s.Spec.Source.Kind())
			}
		})
	}
}

// exportedSpec parses the Sync stored in an export's spec ConfigMap.
func exportedSpec(t *testing.T, out string) *spec.Sync {
	t.Helper()
	_, doc, ok := strings.Cut(out, "  sync.yaml: |\n")
	if !ok {
		t.Fatalf("no sync.yaml in\n%s", out)
	}
	var lines []string
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(l, "    ") {
			break
		}
		lines = append(lines, strings.TrimPrefix(l, "    "))
	}
	s, err := spec.Parse([]byte(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestInstallSourceFlagsSpec checks field by field what the source flags
// write, independently of the golden files.
func TestInstallSourceFlagsSpec(t *testing.T) {
	base := []string{"install", "x", "-n", "a", "--image", testImage, "--export", "--kubeconfig", offline}
	out, err := runCLI(t.Context(), "", append(base, "--oci-url", "oci://r.example.com/charts/web", "--oci-digest", "sha256:"+strings.Repeat("ab", 32),
		"--oci-layer-operation", "copy", "--release-name", "web", "--insecure", "--verify-secret-ref", "keys")...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	s := exportedSpec(t, out)
	o := s.Spec.Source.OCI
	want := &spec.OCISource{
		URL: "oci://r.example.com/charts/web", Ref: spec.OCIRef{Digest: "sha256:" + strings.Repeat("ab", 32)},
		LayerSelector: &spec.OCILayerSelector{Operation: spec.OCILayerCopy}, Insecure: true,
		Verify: &spec.OCIVerification{Provider: spec.VerifyCosign, SecretRef: &spec.LocalObjectReference{Name: "keys"}},
	}
	if o == nil || o.Timeout == nil || o.Timeout.Duration != spec.DefaultOCITimeout {
		t.Fatalf("spec.source.oci %+v: want the default timeout", o)
	}
	o.Timeout = nil
	if diff := cmp.Diff(want, o); diff != "" {
		t.Errorf("spec.source.oci (-want +got):\n%s", diff)
	}
	if s.Spec.Helm == nil || s.Spec.Helm.ReleaseName != "web" {
		t.Errorf("a copied layer is a chart: spec.helm %+v", s.Spec.Helm)
	}
	if !strings.Contains(out, "- keys\n") {
		t.Error("the Role does not grant get on the verification keys' Secret")
	}

	out, err = runCLI(t.Context(), "", append(base, "--bucket-endpoint", "http://10.0.0.5:9000", "--bucket-name", "cfg", "--insecure")...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	b := exportedSpec(t, out).Spec.Source.Bucket
	if b == nil || b.Endpoint != "http://10.0.0.5:9000" || b.BucketName != "cfg" || !b.Insecure || b.SecretRef != nil || b.Ignore != nil {
		t.Errorf("spec.source.bucket %+v", b)
	}

	// --secret-ref is Flux's name of --secret.
	out, err = runCLI(t.Context(), "", append(base, "--url", "https://git.example.com/a.git", "--secret-ref", "git-creds")...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if g := exportedSpec(t, out).Spec.Source.Git; g.SecretRef == nil || g.SecretRef.Name != "git-creds" {
		t.Errorf("--secret-ref: spec.source.git.secretRef %+v", g.SecretRef)
	}
}

func TestInstallSourceFlagsValidation(t *testing.T) {
	oci := []string{"--oci-url", "oci://r.example.com/app"}
	bucket := []string{"--bucket-endpoint", "minio.example.com", "--bucket-name", "cfg"}
	git := []string{"--url", "https://git.example.com/app.git"}
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no source", nil, "--url, --helm-repo, --oci-url or --bucket-endpoint: required"},
		{"two kinds", slices.Concat(git, oci), "--url, --oci-url: cannot be combined: a sync has one source"},
		{"three kinds", slices.Concat(oci, bucket, []string{"--helm-repo", "https://c.example.com"}), "--helm-repo, --oci-url, --bucket-endpoint: cannot be combined"},
		{"oci flag with git", slices.Concat(git, []string{"--oci-tag", "v1"}), "--oci-tag: only with --oci-url, not with --url"},
		{"bucket flag with oci", slices.Concat(oci, []string{"--bucket-prefix", "a/"}), "--bucket-prefix: only with --bucket-endpoint, not with --oci-url"},
		{"git extras with a bucket", slices.Concat(bucket, []string{"--sparse-checkout", "a", "--recurse-submodules"}), "--sparse-checkout, --recurse-submodules: only with --url, not with --bucket-endpoint"},
		{"git ref with oci", slices.Concat(oci, []string{"--branch", "main"}), "--branch: Git ref flags do not apply to --oci-url (use --oci-tag"},
		{"git ref with a bucket", slices.Concat(bucket, []string{"--tag", "v1"}), "--tag: Git ref flags do not apply to --bucket-endpoint (a bucket has no refs)"},
		{"bucket without endpoint", []string{"--bucket-name", "cfg"}, "--bucket-endpoint: required with --bucket-name"},
		{"bucket without name", []string{"--bucket-endpoint", "minio.example.com"}, "--bucket-name: required with --bucket-endpoint"},
		{"verify mode without keys", slices.Concat(git, []string{"--verify-mode", "HEAD"}), "--verify-secret-ref: required to verify Git signatures"},
		{"provider with oci", slices.Concat(oci, []string{"--provider", "github"}), "--provider: only with --url, not with --oci-url"},
		{"unknown provider", slices.Concat(git, []string{"--provider", "azure"}), "--provider: spec.source.git.provider: Unsupported value"},
		{"verify provider with git", slices.Concat(git, []string{"--verify-provider", "cosign", "--verify-secret-ref", "k"}), "--verify-provider: only with --oci-url, not with --url"},
		{"verify with a bucket", slices.Concat(bucket, []string{"--verify-secret-ref", "k"}), "--verify-secret-ref: only with --url (Git signatures) or --oci-url"},
		{"ignore with a chart", []string{"--helm-repo", "https://c.example.com", "--chart", "a", "--ignore", "x"}, "--ignore: only with --url, --oci-url or --bucket-endpoint"},
		{"bad verify mode", slices.Concat(git, []string{"--verify-mode", "Commit", "--verify-secret-ref", "k"}), "--verify-mode: spec.source.git.verify.mode: Unsupported value"},
		{"tag verify mode without a tag", slices.Concat(git, []string{"--verify-mode", "Tag", "--verify-secret-ref", "k"}), "--verify-mode: spec.source.git.verify.mode: Invalid value: \"Tag\": verifies a tag"},
		{"bad oci url", []string{"--oci-url", "https://r.example.com/app"}, "--oci-url: spec.source.oci.url: Invalid value"},
		{"bad oci digest", slices.Concat(oci, []string{"--oci-digest", "sha256:abc"}), "--oci-digest: spec.source.oci.ref.digest: Invalid value"},
		{"bad layer operation", slices.Concat(oci, []string{"--oci-layer-operation", "move"}), "--oci-layer-operation: spec.source.oci.layerSelector.operation: Unsupported value"},
		{"copy with a path", slices.Concat(oci, []string{"--oci-layer-operation", "copy", "--path", "x"}), "--path: spec.path: Forbidden"},
		{"bad bucket name", []string{"--bucket-endpoint", "minio.example.com", "--bucket-name", "Configs"}, "--bucket-name: spec.source.bucket.bucketName: Invalid value"},
		{"http bucket without insecure", []string{"--bucket-endpoint", "http://minio.example.com", "--bucket-name", "cfg"}, "--bucket-endpoint: spec.source.bucket.endpoint: Invalid value"},
		{"bad bucket secret", slices.Concat(bucket, []string{"--secret", "Bad_Name"}), "--secret: spec.source.bucket.secretRef.name: Invalid value"},
		{"sparse dir leaving the repository", slices.Concat(git, []string{"--sparse-checkout", "../x"}), "--sparse-checkout: spec.source.git.sparseCheckout[0]: Invalid value"},
		{"include without repository", slices.Concat(git, []string{"--include", "branch=main"}), "--include branch=main: repository=URL is required"},
		{"include unknown key", slices.Concat(git, []string{"--include", "repository=https://g.example.com/b.git,path=x"}), `unknown key "path"`},
		{"include without value", slices.Concat(git, []string{"--include", "repository=https://g.example.com/b.git,tag"}), `"tag": want key=value`},
		{"include repeated key", slices.Concat(git, []string{"--include", "url=https://g.example.com/b.git,to=a,to=b"}), "to given twice"},
		{"include ssh without secret", slices.Concat(git, []string{"--include", "repository=ssh://git@g.example.com/b.git"}), "--include: spec.source.git.include[0].repository.secretRef: Required value"},
		{"include two refs", slices.Concat(git, []string{"--include", "repository=https://g.example.com/b.git,tag=v1,branch=main"}), "--include: spec.source.git.include[0].repository.ref"},
		{"values without a chart", slices.Concat(oci, []string{"--set", "a=b"}), "--values, --set, --release-name: only for a chart"},
		{"secret and secret-ref", slices.Concat(bucket, []string{"--secret", "a", "--secret-ref", "b"}), "--secret-ref: cannot be combined with --secret"},
		{"bad secret-ref", slices.Concat(oci, []string{"--secret-ref", "Bad_Name"}), "--secret: spec.source.oci.secretRef.name: Invalid value"},
		{"source flags with a file", []string{"-f", "testdata/install/sync.yaml", "--secret", "x", "--oci-tag", "v1", "--ignore", "y"},
			"--secret, --oci-tag, --ignore: cannot be combined with --filename"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := slices.Concat([]string{"install", "web", "-n", "team-a"}, tt.args, []string{"--kubeconfig", offline, "--request-timeout", "1s"})
			out, err := runCLI(t.Context(), "", args...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v\nwant it to contain %q", err, tt.wantErr)
			}
			if out != "" {
				t.Errorf("output despite the error:\n%s", out)
			}
			if ExitCode(err) != ExitError {
				t.Errorf("exit code %d, want %d", ExitCode(err), ExitError)
			}
		})
	}
}
