package syncrun

import (
	"strings"
	"testing"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/source/registry"
	"github.com/gitsync/gitsync/tests/helmrepo"
	"github.com/gitsync/gitsync/tests/sigstoretest"
)

// pushBundle stores bundle as cosign v3 does, as a referrer of digest in
// repository app of reg (the distribution registry: the referrers tag).
func pushBundle(t *testing.T, reg *helmrepo.Registry, digest string, bundle []byte) string {
	t.Helper()
	c := registry.Client{Auth: source.Credentials{Username: regUser, Password: regPassword, CAPEM: reg.CA().CertPEM}}
	return sigstoretest.PushBundle(t, c, reg.Host(), "app", digest, bundle)
}

// TestOCIBundleVerification runs a sync whose artifact is signed as
// cosign v3 signs: a Sigstore bundle attached as a referrer. A keyless
// bundle by the identity is applied and recorded with the bundle; a
// bundle by another identity, one made for another artifact, one
// tampered with, and a root that no longer trusts the signer fail the
// run and change nothing. A bundle signed with a key verifies with the
// key's Secret.
func TestOCIBundleVerification(t *testing.T) {
	f := newOCIFixture(t, nil)
	vs := sigstoretest.New(t)
	const issuer = "https://token.actions.githubusercontent.com"
	const subject, stranger = "https://github.com/org/app/.github/workflows/release.yml@refs/heads/main", "https://github.com/evil/app/.github/workflows/x.yml@refs/heads/main"
	sign := func(digest, subject, signed string) string {
		t.Helper()
		return pushBundle(t, f.reg, digest, vs.SignBundle(t, subject, issuer, sigstoretest.CosignStatement(t, signed, "")))
	}
	f.secret("registry", map[string]string{"username": regUser, "password": regPassword, "ca.crt": string(f.reg.CA().CertPEM)})
	f.secret("sigstore-root", map[string]string{"trusted_root.json": string(vs.TrustedRoot(t))})
	f.installOCI(`      verify:
        provider: cosign
        trustedRootSecretRef: {name: sigstore-root}
        matchOIDCIdentity:
        - {issuer: '^https://token\.actions\.githubusercontent\.com$', subject: '^https://github\.com/org/app/'}`)

	d1 := f.push(map[string]string{"deploy/a.yaml": cm("a", "1")})
	ref := sign(d1, subject, d1)
	res := f.run()
	f.mustSucceed(res)
	want := "cosign keyless issuer=" + issuer + " subject=" + subject + " (sigstore bundle " + ref + ")"
	if res.VerifiedBy != want || f.inventory().Record.LastRun.VerifiedBy != want {
		t.Errorf("verified %q, recorded %q, want %q", res.VerifiedBy, f.inventory().Record.LastRun.VerifiedBy, want)
	}
	if c, _ := f.configMap("a"); c.Data["value"] != "1" {
		t.Errorf("value %q, want 1", c.Data["value"])
	}
	refused := f.refusedRun("a")

	d2 := f.push(map[string]string{"deploy/a.yaml": cm("a", "2")})
	refused("unsigned", d2, "is not signed", "no sigstore bundle among the referrers of "+d2)
	sign(d2, stranger, d2)
	refused("another identity", d2, "no sigstore bundle verifies", "expected SAN value to match regex", "evil")

	d3 := f.push(map[string]string{"deploy/a.yaml": cm("a", "3")})
	sign(d3, subject, d1)
	refused("a bundle of another artifact", d3, "no sigstore bundle verifies", "digest")

	d4 := f.push(map[string]string{"deploy/a.yaml": cm("a", "4")})
	b := vs.SignBundle(t, subject, issuer, sigstoretest.CosignStatement(t, d1, ""))
	var pb protobundle.Bundle
	if err := protojson.Unmarshal(b, &pb); err != nil {
		t.Fatal(err)
	}
	pb.GetDsseEnvelope().Payload = sigstoretest.CosignStatement(t, d4, "").Data
	tampered, err := protojson.Marshal(&pb)
	if err != nil {
		t.Fatal(err)
	}
	pushBundle(t, f.reg, d4, tampered)
	refused("a tampered bundle", d4, "no sigstore bundle verifies")

	// The root changes to one that does not trust the signer: the signed
	// revision is verified again and refused.
	sign(d4, subject, d4)
	f.secret("sigstore-root", map[string]string{"trusted_root.json": string(sigstoretest.New(t).TrustedRoot(t))})
	refused("untrusted root", d4, "no sigstore bundle verifies", "log")

	// With the right root, the same revision is applied.
	f.secret("sigstore-root", map[string]string{"trusted_root.json": string(vs.TrustedRoot(t))})
	res = f.run()
	f.mustSucceed(res)
	if c, _ := f.configMap("a"); c.Data["value"] != "4" || !strings.Contains(res.VerifiedBy, "(sigstore bundle ") {
		t.Errorf("value %q, verified by %q; want 4 by a bundle", c.Data["value"], res.VerifiedBy)
	}

	// A bundle signed with a key, verified with the key's Secret.
	kp, pub := sigstoretest.NewKeypair(t)
	f.secret("cosign-keys", map[string]string{"cosign.pub": string(pub)})
	f.installOCI("      verify: {provider: cosign, secretRef: {name: cosign-keys}}")
	d5 := f.push(map[string]string{"deploy/a.yaml": cm("a", "5")})
	keyRef := pushBundle(t, f.reg, d5, sigstoretest.KeyBundle(t, kp, sigstoretest.CosignStatement(t, d5, "")))
	res = f.run()
	f.mustSucceed(res)
	if c, _ := f.configMap("a"); c.Data["value"] != "5" || !strings.HasPrefix(res.VerifiedBy, "cosign cosign.pub sha256:") ||
		!strings.HasSuffix(res.VerifiedBy, "(sigstore bundle "+keyRef+")") {
		t.Errorf("key bundle: value %q, verified by %q", c.Data["value"], res.VerifiedBy)
	}
}

// TestFluxOCIRepositoryBundle: a Kustomization reads an OCIRepository
// signed with cosign v3's bundles: a bundle by the identity is applied;
// one by another identity fails the unit, naming the OCIRepository, and
// applies nothing.
func TestFluxOCIRepositoryBundle(t *testing.T) {
	fluxOCIKeyless(t, func(t *testing.T, reg *helmrepo.Registry, vs *sigstoretest.VirtualSigstore, digest, subject, issuer string) {
		pushBundle(t, reg, digest, vs.SignBundle(t, subject, issuer, sigstoretest.CosignStatement(t, digest, "")))
	}, "no sigstore bundle verifies")
}
