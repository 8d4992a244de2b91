package syncrun

import (
	"fmt"
	"testing"

	"github.com/gitsync/gitsync/pkg/source/oci/sigcheck"
	"github.com/gitsync/gitsync/tests/sigstoretest"
)

// TestOCIKeylessPublicGoodRoot runs a sync whose keyless verification
// names no trusted root, as Flux's usually do: the trusted root is
// fetched through TUF (from the test's mirror, named by the variables
// sync-job reads). The identity's signature is applied; another's fails
// the run; a trustedRootSecretRef whose Secret lacks trusted_root.json
// fails it too, rather than falling back to the public root.
func TestOCIKeylessPublicGoodRoot(t *testing.T) {
	f, vs, sign := keylessFixture(t)
	mirror := sigstoretest.ServeTUF(t, vs.TrustedRoot(t))
	t.Setenv(sigcheck.EnvTUFURL, mirror.URL)
	t.Setenv(sigcheck.EnvTUFRoot, mirror.RootPath)
	const issuer, subject, stranger = keylessIssuer, keylessSubject, keylessStranger
	const identity = `
        matchOIDCIdentity:
        - {issuer: '^https://token\.actions\.githubusercontent\.com$', subject: '^https://github\.com/org/app/'}`
	f.installOCI("      verify:\n        provider: cosign" + identity)

	d1 := f.push(map[string]string{"deploy/a.yaml": cm("a", "1")})
	sign(d1, subject)
	res := f.run()
	f.mustSucceed(res)
	if want := "cosign keyless issuer=" + issuer + " subject=" + subject; res.VerifiedBy != want {
		t.Errorf("verified by %q, want %q", res.VerifiedBy, want)
	}
	if c, _ := f.configMap("a"); c.Data["value"] != "1" {
		t.Errorf("value %q, want 1", c.Data["value"])
	}
	if mirror.TrustedRootServed() == 0 {
		t.Errorf("the mirror did not serve the trusted root")
	}
	refused := f.refusedRun("a")

	d2 := f.push(map[string]string{"deploy/a.yaml": cm("a", "2")})
	sign(d2, stranger)
	refused("another identity", d2, "expected SAN value to match regex", "evil", "public-good")

	sign(d2, subject)
	f.secret("no-root", map[string]string{"root.json": "{}"})
	f.installOCI("      verify:\n        provider: cosign\n        trustedRootSecretRef: {name: no-root}" + identity)
	refused("a root Secret without trusted_root.json", "spec.source.oci.verify.trustedRootSecretRef: Secret no-root holds no trusted_root.json")
}

// TestFluxOCIRepositoryPublicGoodRoot: OCIRepositories verified keyless
// as Flux's examples write them (flux2-multi-tenancy's kyverno: no
// trustedRootSecretRef; Flux's own tests: not even matchOIDCIdentity)
// are read through TUF's trusted root and applied when signed.
func TestFluxOCIRepositoryPublicGoodRoot(t *testing.T) {
	reg := startRegistry(t)
	vs := sigstoretest.New(t)
	mirror := sigstoretest.ServeTUF(t, vs.TrustedRoot(t))
	t.Setenv(sigcheck.EnvTUFURL, mirror.URL)
	t.Setenv(sigcheck.EnvTUFRoot, mirror.RootPath)
	const issuer = "https://token.actions.githubusercontent.com"
	for repo, cmName := range map[string]string{"app": "a", "other": "b"} {
		d := pushArtifact(t, reg, repo, map[string]string{"deploy/" + cmName + ".yaml": cm(cmName, "1")})
		p := sigstoretest.SimpleSigning(t, d)
		sigstoretest.PushSignature(t, reg, regUser, regPassword, repo, d, p, vs.Sign(t, "https://github.com/kyverno/kyverno/.github/workflows/release.yaml@refs/tags/v1.13.0", issuer, p))
	}
	ociRepository := func(name, repo, verify string) string {
		return fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata: {name: %s, namespace: NS}
spec:
  interval: 5m
  url: %s
  ref: {tag: latest}
  secretRef: {name: registry}
  certSecretRef: {name: registry-tls}
  verify:
%s
`, name, reg.URL(repo), verify)
	}
	f := newFluxSync(t, map[string]string{
		"clusters/test/flux-system/gotk-sync.yaml": ownRepository,
		"clusters/test/oci.yaml": ociRepository("identity", "app", `    provider: cosign
    matchOIDCIdentity:
    - issuer: "^https://token.actions.githubusercontent.com$"
      subject: "^https://github.com/kyverno/kyverno/.github/workflows/release.yaml@refs/tags/.*$"`) +
			"---\n" + ociRepository("anyone", "other", "    provider: cosign"),
		"clusters/test/units.yaml": sourceKustomization("by-identity", "./deploy", "OCIRepository", "identity") +
			sourceKustomization("by-anyone", "./deploy", "OCIRepository", "anyone"),
	})
	f.secret("registry", map[string][]byte{".dockerconfigjson": dockerConfigFor(t, reg)})
	f.secret("registry-tls", map[string][]byte{"ca.crt": reg.CA().CertPEM})

	res := f.run()
	mustUnitsSucceed(t, res)
	for _, cmName := range []string{"a", "b"} {
		if v := f.configValue(cmName); v != "1" {
			t.Errorf("%s = %q, want 1", cmName, v)
		}
	}
	if mirror.TrustedRootServed() == 0 {
		t.Errorf("the mirror did not serve the trusted root")
	}
}
