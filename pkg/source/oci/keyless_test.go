package oci_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/source/oci"
	"github.com/gitsync/gitsync/tests/helmrepo"
	"github.com/gitsync/gitsync/tests/sigstoretest"
)

// TestKeylessVerification verifies keyless cosign signatures offline
// against the real test registry: the trusted root is the only trust.
func TestKeylessVerification(t *testing.T) {
	var victim string
	reg, creds := startRegistry(t, helmrepo.RegistryOptions{Wrap: tamper(&victim)})
	vs := sigstoretest.New(t)
	const subject, issuer = "https://github.com/org/app/.github/workflows/release.yml@refs/heads/main", "https://token.actions.githubusercontent.com"
	push := func(repo string) string {
		d, err := reg.PushArtifact(repo, "latest", helmrepo.Artifact{Files: map[string]string{"repo.txt": repo}})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	good := []oci.OIDCIdentity{{Issuer: `^https://token\.actions\.githubusercontent\.com$`, Subject: `^https://github\.com/org/app/`}}
	opts := func(repo string, trusted []byte, ids []oci.OIDCIdentity) oci.Options {
		return oci.Options{URL: reg.URL(repo), Auth: creds,
			Verify: &oci.Verification{Provider: oci.ProviderCosign, Identities: ids, TrustedRoot: trusted}}
	}
	trusted := vs.TrustedRoot(t)
	// Another Fulcio CA with the same Rekor log: the log entry verifies,
	// the certificate does not.
	otherCA := sigstoretest.New(t).WithRekorOf(vs)

	signed := push("signed")
	payload := sigstoretest.SimpleSigning(t, signed)
	sigstoretest.PushSignature(t, reg, user, password, "signed", signed, payload, vs.Sign(t, subject, issuer, payload))
	art, _, err := fetch(t, opts("signed", trusted, good))
	if err != nil {
		t.Fatalf("a good keyless signature: %v", err)
	}
	if want := "cosign keyless issuer=" + issuer + " subject=" + subject; art.VerifiedBy != want {
		t.Errorf("VerifiedBy = %q, want %q", art.VerifiedBy, want)
	}
	if got := tree(t, art.Dir); len(got) == 0 {
		t.Errorf("nothing extracted from a verified artifact")
	}
	// Any one of several identities verifies.
	if _, _, err := fetch(t, opts("signed", trusted, []oci.OIDCIdentity{{Issuer: "nobody", Subject: "nobody"}, good[0]})); err != nil {
		t.Errorf("the second identity matches: %v", err)
	}

	// A signature of another artifact, its payload rewritten to name
	// this one: the signature no longer verifies.
	rewritten := push("rewritten")
	sigstoretest.PushSignature(t, reg, user, password, "rewritten", rewritten, sigstoretest.SimpleSigning(t, rewritten), vs.Sign(t, subject, issuer, payload))
	// A valid signature of another artifact copied here.
	copied := push("copied")
	sigstoretest.PushSignature(t, reg, user, password, "copied", copied, payload, vs.Sign(t, subject, issuer, payload))

	for _, tt := range []struct {
		name, repo string
		trusted    []byte
		ids        []oci.OIDCIdentity
		want       []string
	}{
		{"wrong subject", "signed", trusted, []oci.OIDCIdentity{{Issuer: good[0].Issuer, Subject: `^https://github\.com/org/other/`}},
			[]string{"no signature verifies", "org/other"}},
		{"wrong issuer", "signed", trusted, []oci.OIDCIdentity{{Issuer: `^https://accounts\.google\.com$`, Subject: good[0].Subject}},
			[]string{"no signature verifies", "accounts"}},
		{"untrusted root", "signed", sigstoretest.New(t).TrustedRoot(t), good, []string{"no signature verifies", "log"}},
		{"untrusted Fulcio CA", "signed", otherCA.TrustedRoot(t), good, []string{"no signature verifies", "certificate"}},
		{"rewritten payload", "rewritten", trusted, good, []string{"no signature verifies", "does not match"}},
		{"copied signature", "copied", trusted, good, []string{"signs \"" + signed + "\", not this artifact"}},
		{"unsigned", "unsigned", trusted, good, []string{"is not signed"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.repo == "unsigned" {
				push("unsigned")
			}
			mustRefuse(t, opts(tt.repo, tt.trusted, tt.ids), tt.want...)
		})
	}

	// A tampered layer of a keyless-signed artifact: the signature
	// verifies, the layer's digest does not, nothing is extracted.
	t.Run("tampered layer", func(t *testing.T) {
		app := push("app") // layerDigest reads repository app
		p := sigstoretest.SimpleSigning(t, app)
		sigstoretest.PushSignature(t, reg, user, password, "app", app, p, vs.Sign(t, subject, issuer, p))
		src := oci.NewSource(opts("app", trusted, good))
		rev, err := src.Resolve(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		victim = layerDigest(t, reg, app)
		defer func() { victim = "" }()
		dir := filepath.Join(t.TempDir(), "art")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := src.Fetch(t.Context(), rev, dir); !errors.Is(err, source.ErrDigestMismatch) {
			t.Fatalf("tampered layer: %v, want ErrDigestMismatch", err)
		}
		if got := tree(t, dir); len(got) != 0 {
			t.Errorf("a tampered layer was extracted: %v", got)
		}
	})

	// Bad options are refused before anything is fetched.
	for _, tt := range []struct {
		name    string
		trusted []byte
		ids     []oci.OIDCIdentity
		want    string
	}{
		{"empty root", []byte{}, good, "trusted_root.json"},
		{"garbage root", []byte("{"), good, "trusted_root.json"},
		{"bad regex", trusted, []oci.OIDCIdentity{{Issuer: "(", Subject: "x"}}, "matchOIDCIdentity[0]"},
		{"no subject", trusted, []oci.OIDCIdentity{{Issuer: "x"}}, "matchOIDCIdentity[0]"},
	} {
		_, err := oci.Resolve(t.Context(), opts("signed", tt.trusted, tt.ids))
		if !errors.Is(err, source.ErrInvalidOptions) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want ErrInvalidOptions naming %s", tt.name, err, tt.want)
		}
	}
}

// TestContentDigestFollowsTrustedRoot checks that a changed trusted root
// or identity changes the run's input digest, so that the artifact is
// verified again.
func TestContentDigestFollowsTrustedRoot(t *testing.T) {
	digest := func(root string, ids ...oci.OIDCIdentity) string {
		src := oci.NewSource(oci.Options{URL: "oci://r.example/app", Verify: &oci.Verification{Provider: oci.ProviderCosign, Identities: ids, TrustedRoot: []byte(root)}})
		return src.(source.ContentDigester).ContentDigest("latest@sha256:00")
	}
	id, other := oci.OIDCIdentity{Issuer: "i", Subject: "s"}, oci.OIDCIdentity{Issuer: "i", Subject: "t"}
	a := digest("A", id)
	if a != digest("A", id) || a == digest("B", id) || a == digest("A", other) || a == digest("A", id, other) {
		t.Errorf("the content digest does not follow the trusted root and identities")
	}
}

// BenchmarkKeylessFetch measures a fetch of a small artifact with keyless
// verification (trusted root parsed, signature manifest, one payload, the
// certificate chain, the Rekor promise and the identity): compare with
// BenchmarkFetch/verify=true, the key-based check.
func BenchmarkKeylessFetch(b *testing.B) {
	reg, creds, d := benchArtifact(b)
	vs := sigstoretest.New(b)
	payload := sigstoretest.SimpleSigning(b, d)
	sigstoretest.PushSignature(b, reg, user, password, "app", d, payload, vs.Sign(b, "https://github.com/org/app/.github/workflows/release.yml@refs/heads/main", "https://token.actions.githubusercontent.com", payload))
	o := oci.Options{URL: reg.URL("app"), Auth: creds, Verify: &oci.Verification{Provider: oci.ProviderCosign,
		Identities:  []oci.OIDCIdentity{{Issuer: `^https://token\.actions\.githubusercontent\.com$`, Subject: `^https://github\.com/org/`}},
		TrustedRoot: vs.TrustedRoot(b)}}
	b.ReportAllocs()
	for b.Loop() {
		dir := filepath.Join(b.TempDir(), "art")
		if err := os.Mkdir(dir, 0o700); err != nil {
			b.Fatal(err)
		}
		if _, err := oci.Fetch(b.Context(), o, source.Revision("latest@"+d), dir); err != nil {
			b.Fatal(err)
		}
	}
}
