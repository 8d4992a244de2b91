package cli

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync/gitsync/pkg/spec"
)

// install's keyless flags write spec.source.oci.verify's matchOIDCIdentity
// and trustedRootSecretRef, and the job's Role may read the trusted root's
// Secret; incomplete or mixed flags are refused, naming them.
func TestInstallKeylessFlags(t *testing.T) {
	base := []string{"install", "web", "-n", "team-a", "--oci-url", "oci://ghcr.io/example/web-config",
		"--image", testImage, "--export", "--kubeconfig", offline}
	out, err := runCLI(t.Context(), "", append(base, "--verify-oidc-issuer", "^https://token.actions.githubusercontent.com$",
		"--verify-oidc-subject", "^https://github.com/example/.*$", "--verify-trusted-root-secret-ref", "sigstore-root")...)
	if err != nil {
		t.Fatal(err)
	}
	v := exportedSpec(t, out).Spec.Source.OCI.Verify
	want := &spec.OCIVerification{
		Provider:             spec.VerifyCosign, // defaulted
		MatchOIDCIdentity:    []spec.OIDCIdentityMatch{{Issuer: "^https://token.actions.githubusercontent.com$", Subject: "^https://github.com/example/.*$"}},
		TrustedRootSecretRef: &spec.LocalObjectReference{Name: "sigstore-root"},
	}
	if diff := cmp.Diff(want, v); diff != "" {
		t.Errorf("verify (-want +got):\n%s", diff)
	}
	if !strings.Contains(out, "  - sigstore-root\n  resources:\n  - secrets") {
		t.Errorf("the job's Role does not grant get on Secret sigstore-root:\n%s", out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--verify-oidc-issuer", "x"}, "--verify-oidc-issuer, --verify-oidc-subject: the accepted signer needs both"},
		{[]string{"--verify-oidc-issuer", "x", "--verify-oidc-subject", "y", "--verify-trusted-root-secret-ref", "r", "--verify-secret-ref", "k"}, "--verify-secret-ref: not with keyless"},
		{[]string{"--verify-oidc-issuer", "(", "--verify-oidc-subject", "y", "--verify-trusted-root-secret-ref", "r"}, "--verify-oidc-issuer"},
	} {
		_, err := runCLI(t.Context(), "", append(base, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
	// Flux's `--verify-provider cosign` alone: keyless, any identity,
	// Sigstore's public root.
	out, err = runCLI(t.Context(), "", append(base, "--verify-provider", "cosign")...)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&spec.OCIVerification{Provider: spec.VerifyCosign}, exportedSpec(t, out).Spec.Source.OCI.Verify); diff != "" {
		t.Errorf("--verify-provider alone (-want +got):\n%s", diff)
	}
	url := []string{"install", "web", "-n", "team-a", "--url", "https://git.example.com/web.git", "--verify-oidc-subject", "y",
		"--export", "--kubeconfig", offline}
	if _, err := runCLI(t.Context(), "", url...); err == nil || !strings.Contains(err.Error(), "only with --oci-url") {
		t.Errorf("keyless flags with a Git source: %v", err)
	}
}
