package syncrun

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gitsync/gitsync/tests/helmrepo"
	"github.com/gitsync/gitsync/tests/sigstoretest"
)

// The identities of the keyless tests: a release workflow, and a workflow
// of another repository.
const (
	keylessIssuer   = "https://token.actions.githubusercontent.com"
	keylessSubject  = "https://github.com/org/app/.github/workflows/release.yml@refs/heads/main"
	keylessStranger = "https://github.com/evil/app/.github/workflows/x.yml@refs/heads/main"
)

// keylessFixture is an OCI sync with its registry Secret written, a
// virtual Sigstore, and sign, which signs an artifact's digest keyless as
// subject (issuer keylessIssuer) and pushes the signature.
func keylessFixture(t *testing.T) (*ociFixture, *sigstoretest.VirtualSigstore, func(digest, subject string)) {
	t.Helper()
	f := newOCIFixture(t, nil)
	vs := sigstoretest.New(t)
	sign := func(digest, subject string) {
		t.Helper()
		p := sigstoretest.SimpleSigning(t, digest)
		sigstoretest.PushSignature(t, f.reg, regUser, regPassword, "app", digest, p, vs.Sign(t, subject, keylessIssuer, p))
	}
	f.secret("registry", map[string]string{"username": regUser, "password": regPassword, "ca.crt": string(f.reg.CA().CertPEM)})
	return f, vs, sign
}

// TestOCIKeylessVerification runs a sync whose artifact is signed keyless
// (Fulcio certificate, Rekor entry), verified offline against the trusted
// root in a Secret: a good identity is applied and recorded; a signature
// by another identity, and a root that no longer trusts the signer, fail
// the run and change nothing.
func TestOCIKeylessVerification(t *testing.T) {
	f, vs, sign := keylessFixture(t)
	const issuer, subject, stranger = keylessIssuer, keylessSubject, keylessStranger
	f.secret("sigstore-root", map[string]string{"trusted_root.json": string(vs.TrustedRoot(t))})
	f.installOCI(`      verify:
        provider: cosign
        trustedRootSecretRef: {name: sigstore-root}
        matchOIDCIdentity:
        - {issuer: '^https://token\.actions\.githubusercontent\.com$', subject: '^https://github\.com/org/app/'}`)

	d1 := f.push(map[string]string{"deploy/a.yaml": cm("a", "1")})
	sign(d1, subject)
	res := f.run()
	f.mustSucceed(res)
	want := "cosign keyless issuer=" + issuer + " subject=" + subject
	if res.VerifiedBy != want || f.inventory().Record.LastRun.VerifiedBy != want {
		t.Errorf("verified %q, recorded %q, want %q", res.VerifiedBy, f.inventory().Record.LastRun.VerifiedBy, want)
	}
	if c, _ := f.configMap("a"); c.Data["value"] != "1" {
		t.Errorf("value %q, want 1", c.Data["value"])
	}
	refused := f.refusedRun("a")

	// Signed keyless, but by another identity.
	d2 := f.push(map[string]string{"deploy/a.yaml": cm("a", "2")})
	sign(d2, stranger)
	refused("another identity", d2, "expected SAN value to match regex", "evil")

	// The trusted root changes to one that does not trust the signer's
	// CA or log: the same revision is verified again and refused.
	sign(d2, subject)
	f.secret("sigstore-root", map[string]string{"trusted_root.json": string(sigstoretest.New(t).TrustedRoot(t))})
	refused("untrusted root", d2, "no signature verifies")
}

// TestFluxOCIRepositoryKeyless: a Kustomization reads an OCIRepository
// with keyless verification (matchOIDCIdentity, trustedRootSecretRef):
// a signature by the identity is applied; one by another identity fails
// the unit, naming the OCIRepository, and applies nothing.
func TestFluxOCIRepositoryKeyless(t *testing.T) {
	fluxOCIKeyless(t, func(t *testing.T, reg *helmrepo.Registry, vs *sigstoretest.VirtualSigstore, digest, subject, issuer string) {
		p := sigstoretest.SimpleSigning(t, digest)
		sigstoretest.PushSignature(t, reg, regUser, regPassword, "app", digest, p, vs.Sign(t, subject, issuer, p))
	}, "")
}

// fluxOCIKeyless runs a Flux OCIRepository unit with keyless verification
// over an artifact that sign signs as release@example.com, then over one it
// signs as another identity: the first is applied, the second fails the unit
// naming the OCIRepository, the identity, the digest and want, and applies
// nothing.
func fluxOCIKeyless(t *testing.T, sign func(t *testing.T, reg *helmrepo.Registry, vs *sigstoretest.VirtualSigstore, digest, subject, issuer string), want string) {
	t.Helper()
	reg := startRegistry(t)
	vs := sigstoretest.New(t)
	const issuer = "https://accounts.google.com"
	d1 := pushArtifact(t, reg, "app", map[string]string{"deploy/a.yaml": cm("a", "1")})
	sign(t, reg, vs, d1, "release@example.com", issuer)
	ociRepository := fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata: {name: app, namespace: NS}
spec:
  interval: 5m
  url: %s
  ref: {tag: latest}
  secretRef: {name: registry}
  certSecretRef: {name: registry-tls}
  verify:
    provider: cosign
    trustedRootSecretRef: {name: sigstore-root}
    matchOIDCIdentity:
    - {issuer: '^https://accounts\.google\.com$', subject: '^release@example\.com$'}
`, reg.URL("app"))
	f := newFluxSync(t, map[string]string{
		"clusters/test/flux-system/gotk-sync.yaml": ownRepository,
		"clusters/test/oci.yaml":                   ociRepository,
		"clusters/test/units.yaml":                 sourceKustomization("oci-a", "./deploy", "OCIRepository", "app"),
	})
	f.secret("registry", map[string][]byte{".dockerconfigjson": dockerConfigFor(t, reg)})
	f.secret("registry-tls", map[string][]byte{"ca.crt": reg.CA().CertPEM})
	f.secret("sigstore-root", map[string][]byte{"trusted_root.json": vs.TrustedRoot(t)})

	res := f.run()
	mustUnitsSucceed(t, res)
	if v := f.configValue("a"); v != "1" {
		t.Errorf("a = %q, want 1", v)
	}

	d2 := pushArtifact(t, reg, "app", map[string]string{"deploy/a.yaml": cm("a", "2")})
	sign(t, reg, vs, d2, "intruder@example.com", issuer)
	res = f.run()
	u := units(res)["Kustomization/"+f.ns+"/oci-a"]
	if res.Outcome != Failed || u.Outcome != Failed || !strings.Contains(u.Message, "OCIRepository/"+f.ns+"/app") ||
		!strings.Contains(u.Message, want) || !strings.Contains(u.Message, "intruder@example.com") || !strings.Contains(u.Message, d2) {
		t.Errorf("another identity: %s, unit %s: %s", res.Outcome, u.Outcome, u.Message)
	}
	if v := f.configValue("a"); v != "1" {
		t.Errorf("an artifact signed by another identity was applied: a = %q", v)
	}
}
