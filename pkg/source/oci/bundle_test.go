package oci_test

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/source/oci"
	"github.com/gitsync/gitsync/pkg/source/registry"
	"github.com/gitsync/gitsync/tests/helmrepo"
	"github.com/gitsync/gitsync/tests/sigstoretest"
)

// bundleRegistry is a registry the bundle tests push to: the distribution
// registry (referrers tag) or go-containerregistry's (referrers API).
type bundleRegistry struct {
	name   string
	host   string
	client registry.Client
	creds  source.Credentials
}

func (r bundleRegistry) url(repo string) string { return "oci://" + r.host + "/" + repo }

// push pushes a Flux artifact to repo and returns its digest.
func (r bundleRegistry) push(t *testing.T, repo string) string {
	t.Helper()
	p, err := oci.Push(t.Context(), oci.PushOptions{URL: r.url(repo) + ":latest", Path: writeTree(t, map[string]string{"repo.txt": repo}), Client: r.client})
	if err != nil {
		t.Fatal(err)
	}
	return p.Digest
}

func (r bundleRegistry) pushBundle(t *testing.T, repo, digest string, bundle []byte) string {
	t.Helper()
	return sigstoretest.PushBundle(t, r.client, r.host, repo, digest, bundle)
}

// bundleRegistries starts both kinds of registry.
func bundleRegistries(t *testing.T) (tagSchema *helmrepo.Registry, all []bundleRegistry) {
	reg, creds := startRegistry(t, helmrepo.RegistryOptions{})
	api := sigstoretest.StartReferrersRegistry(t)
	return reg, []bundleRegistry{
		{"referrers tag", reg.Host(), registry.Client{Auth: creds}, creds},
		{"referrers API", api.Host, api.Client(), api.Client().Auth},
	}
}

const (
	bundleSubject = "https://github.com/org/app/.github/workflows/release.yml@refs/heads/main"
	bundleIssuer  = "https://token.actions.githubusercontent.com"
)

var bundleIdentity = []oci.OIDCIdentity{{Issuer: `^https://token\.actions\.githubusercontent\.com$`, Subject: `^https://github\.com/org/app/`}}

// TestBundleVerification verifies cosign v3's Sigstore bundles, found
// through the referrers API and through the referrers tag, keyless and
// with a key, and refuses what does not verify.
func TestBundleVerification(t *testing.T) {
	tagSchema, regs := bundleRegistries(t)
	vs := sigstoretest.New(t)
	trusted := vs.TrustedRoot(t)
	kp, pub := sigstoretest.NewKeypair(t)
	_, otherPub := sigstoretest.NewKeypair(t)
	keyless := func(r bundleRegistry, repo string, trusted []byte, ids []oci.OIDCIdentity) oci.Options {
		return oci.Options{URL: r.url(repo), Auth: r.creds, Verify: &oci.Verification{Provider: oci.ProviderCosign, Identities: ids, TrustedRoot: trusted}}
	}
	keyed := func(r bundleRegistry, repo string, pub []byte) oci.Options {
		return oci.Options{URL: r.url(repo), Auth: r.creds, Verify: &oci.Verification{Provider: oci.ProviderCosign, Keys: map[string][]byte{"cosign.pub": pub}}}
	}
	for _, r := range regs {
		t.Run(r.name, func(t *testing.T) {
			signed := r.push(t, "signed")
			ref := r.pushBundle(t, "signed", signed, vs.SignBundle(t, bundleSubject, bundleIssuer, sigstoretest.CosignStatement(t, signed, "")))
			art, _, err := fetch(t, keyless(r, "signed", trusted, bundleIdentity))
			if err != nil {
				t.Fatalf("a good keyless bundle: %v", err)
			}
			if want := "cosign keyless issuer=" + bundleIssuer + " subject=" + bundleSubject + " (sigstore bundle " + ref + ")"; art.VerifiedBy != want {
				t.Errorf("VerifiedBy = %q, want %q", art.VerifiedBy, want)
			}
			if got := tree(t, art.Dir); !slices.Equal(got, []string{"repo.txt: signed"}) {
				t.Errorf("extracted %v", got)
			}

			keyedDigest := r.push(t, "keyed")
			keyRef := r.pushBundle(t, "keyed", keyedDigest, sigstoretest.KeyBundle(t, kp, sigstoretest.CosignStatement(t, keyedDigest, "")))
			art, _, err = fetch(t, keyed(r, "keyed", pub))
			if err != nil {
				t.Fatalf("a good key bundle: %v", err)
			}
			if !strings.HasPrefix(art.VerifiedBy, "cosign cosign.pub sha256:") || !strings.HasSuffix(art.VerifiedBy, "(sigstore bundle "+keyRef+")") {
				t.Errorf("VerifiedBy = %q", art.VerifiedBy)
			}

			// A bundle of the signed artifact made a referrer of another.
			copied := r.push(t, "copied")
			r.pushBundle(t, "copied", copied, vs.SignBundle(t, bundleSubject, bundleIssuer, sigstoretest.CosignStatement(t, signed, "")))
			// A good bundle whose statement was rewritten to name another
			// artifact.
			tampered := r.push(t, "tampered")
			r.pushBundle(t, "tampered", tampered, rewriteStatement(t, vs.SignBundle(t, bundleSubject, bundleIssuer, sigstoretest.CosignStatement(t, signed, "")),
				sigstoretest.CosignStatement(t, tampered, "").Data))
			// A provenance attestation of the artifact is not a signature.
			attested := r.push(t, "attested")
			r.pushBundle(t, "attested", attested, vs.SignBundle(t, bundleSubject, bundleIssuer, sigstoretest.CosignStatement(t, attested, "https://slsa.dev/provenance/v1")))
			unsigned := r.push(t, "unsigned")

			for _, tt := range []struct {
				name string
				o    oci.Options
				want []string
			}{
				{"wrong identity", keyless(r, "signed", trusted, []oci.OIDCIdentity{{Issuer: bundleIdentity[0].Issuer, Subject: `^https://github\.com/org/other/`}}),
					[]string{"no sigstore bundle verifies", "bundle " + ref, "org/other"}},
				{"untrusted root", keyless(r, "signed", sigstoretest.New(t).TrustedRoot(t), bundleIdentity), []string{"no sigstore bundle verifies", "bundle " + ref}},
				{"untrusted Fulcio CA", keyless(r, "signed", sigstoretest.New(t).WithRekorOf(vs).TrustedRoot(t), bundleIdentity), []string{"no sigstore bundle verifies", "certificate"}},
				{"bundle of another digest", keyless(r, "copied", trusted, bundleIdentity), []string{"no sigstore bundle verifies", "digest"}},
				{"tampered bundle", keyless(r, "tampered", trusted, bundleIdentity), []string{"no sigstore bundle verifies", "signature"}},
				{"attestation", keyless(r, "attested", trusted, bundleIdentity), []string{"https://slsa.dev/provenance/v1, not a cosign signature"}},
				{"unsigned", keyless(r, "unsigned", trusted, bundleIdentity), []string{"is not signed", "no sigstore bundle among the referrers of " + unsigned}},
				{"other key", keyed(r, "keyed", otherPub), []string{"no sigstore bundle verifies", "bundle " + keyRef, "by none of the keys"}},
				{"key for a keyless bundle", keyed(r, "signed", pub), []string{"no sigstore bundle verifies", "by none of the keys"}},
			} {
				t.Run(tt.name, func(t *testing.T) {
					mustRefuse(t, tt.o, tt.want...)
				})
			}
		})
	}

	// Either layout is enough: a good bundle next to a bad ".sig"
	// signature, and a good ".sig" signature next to a bad bundle.
	r := regs[0]
	both := r.push(t, "both")
	p := sigstoretest.SimpleSigning(t, both)
	sigstoretest.PushSignature(t, tagSchema, user, password, "both", both, p, vs.Sign(t, "https://github.com/org/other/x.yml@refs/heads/main", bundleIssuer, p))
	bothRef := r.pushBundle(t, "both", both, vs.SignBundle(t, bundleSubject, bundleIssuer, sigstoretest.CosignStatement(t, both, "")))
	art, _, err := fetch(t, keyless(r, "both", trusted, bundleIdentity))
	if err != nil || !strings.HasSuffix(art.VerifiedBy, "(sigstore bundle "+bothRef+")") {
		t.Errorf("a good bundle next to a bad signature: %v, %v", art, err)
	}
	legacy := r.push(t, "legacy")
	p = sigstoretest.SimpleSigning(t, legacy)
	sigstoretest.PushSignature(t, tagSchema, user, password, "legacy", legacy, p, vs.Sign(t, bundleSubject, bundleIssuer, p))
	r.pushBundle(t, "legacy", legacy, vs.SignBundle(t, "https://github.com/org/other/x.yml@refs/heads/main", bundleIssuer, sigstoretest.CosignStatement(t, legacy, "")))
	art, _, err = fetch(t, keyless(r, "legacy", trusted, bundleIdentity))
	if want := "cosign keyless issuer=" + bundleIssuer + " subject=" + bundleSubject; err != nil || art.VerifiedBy != want {
		t.Errorf("a good signature next to a bad bundle: %v, %v; want verified by %q", art, err, want)
	}
}

// TestBundleUsesReferrersAPI checks that a registry with the referrers
// API is asked through it, and that the referrers tag is not read there.
func TestBundleUsesReferrersAPI(t *testing.T) {
	api := sigstoretest.StartReferrersRegistry(t)
	r := bundleRegistry{"referrers API", api.Host, api.Client(), api.Client().Auth}
	vs := sigstoretest.New(t)
	d := r.push(t, "app")
	r.pushBundle(t, "app", d, vs.SignBundle(t, bundleSubject, bundleIssuer, sigstoretest.CosignStatement(t, d, "")))
	before := len(api.Requests())
	if _, _, err := fetch(t, oci.Options{URL: r.url("app"), Auth: r.creds,
		Verify: &oci.Verification{Provider: oci.ProviderCosign, Identities: bundleIdentity, TrustedRoot: vs.TrustedRoot(t)}}); err != nil {
		t.Fatal(err)
	}
	got := api.Requests()[before:]
	tag := "/manifests/" + strings.Replace(d, ":", "-", 1)
	if !slices.Contains(got, "GET /v2/app/referrers/"+d) || slices.ContainsFunc(got, func(s string) bool { return strings.HasSuffix(s, tag) }) {
		t.Errorf("requests %v: want the referrers API and not the referrers tag", got)
	}
}

// rewriteStatement replaces the DSSE payload of a bundle, keeping its
// signature.
func rewriteStatement(t *testing.T, bundle, statement []byte) []byte {
	t.Helper()
	var b protobundle.Bundle
	if err := protojson.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	b.GetDsseEnvelope().Payload = statement
	out, err := protojson.Marshal(&b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBundleTamperedLayer checks that a bundle-signed artifact whose
// layer was changed in transit is refused and nothing is extracted.
func TestBundleTamperedLayer(t *testing.T) {
	var victim string
	reg, creds := startRegistry(t, helmrepo.RegistryOptions{Wrap: tamper(&victim)})
	r := bundleRegistry{"referrers tag", reg.Host(), registry.Client{Auth: creds}, creds}
	vs := sigstoretest.New(t)
	d := r.push(t, "app") // layerDigest reads repository app
	r.pushBundle(t, "app", d, vs.SignBundle(t, bundleSubject, bundleIssuer, sigstoretest.CosignStatement(t, d, "")))
	src := oci.NewSource(oci.Options{URL: r.url("app"), Auth: creds,
		Verify: &oci.Verification{Provider: oci.ProviderCosign, Identities: bundleIdentity, TrustedRoot: vs.TrustedRoot(t)}})
	rev, err := src.Resolve(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	victim = layerDigest(t, reg, d)
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
}

// BenchmarkBundleFetch measures a fetch of a small artifact verified by a
// keyless cosign v3 bundle found through the referrers tag (the
// distribution registry): compare with BenchmarkKeylessFetch, the ".sig"
// layout, which the bundle search precedes.
func BenchmarkBundleFetch(b *testing.B) {
	reg, creds, d := benchArtifact(b)
	vs := sigstoretest.New(b)
	sigstoretest.PushBundle(b, registry.Client{Auth: creds}, reg.Host(), "app", d,
		vs.SignBundle(b, bundleSubject, bundleIssuer, sigstoretest.CosignStatement(b, d, "")))
	o := oci.Options{URL: reg.URL("app"), Auth: creds, Verify: &oci.Verification{Provider: oci.ProviderCosign,
		Identities: bundleIdentity, TrustedRoot: vs.TrustedRoot(b)}}
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

// TestBundleMessageSignature: a bundle may hold a message signature over
// the manifest itself instead of a DSSE statement; it verifies, keyless
// and with a key, when it signs this manifest, and not otherwise.
func TestBundleMessageSignature(t *testing.T) {
	reg, creds := startRegistry(t, helmrepo.RegistryOptions{})
	r := bundleRegistry{"referrers tag", reg.Host(), registry.Client{Auth: creds}, creds}
	vs := sigstoretest.New(t)
	kp, pub := sigstoretest.NewKeypair(t)
	manifest := func(repo, digest string) *sign.PlainData {
		t.Helper()
		ref, err := name.NewDigest(r.host + "/" + repo + "@" + digest)
		if err != nil {
			t.Fatal(err)
		}
		ropts, err := r.client.Options(t.Context(), ref.Context())
		if err != nil {
			t.Fatal(err)
		}
		desc, err := remote.Get(ref, ropts...)
		if err != nil {
			t.Fatal(err)
		}
		return &sign.PlainData{Data: desc.Manifest}
	}
	keyless := oci.Verification{Provider: oci.ProviderCosign, Identities: bundleIdentity, TrustedRoot: vs.TrustedRoot(t)}
	keyed := oci.Verification{Provider: oci.ProviderCosign, Keys: map[string][]byte{"cosign.pub": pub}}

	d := r.push(t, "app")
	ref := r.pushBundle(t, "app", d, vs.SignBundle(t, bundleSubject, bundleIssuer, manifest("app", d)))
	art, _, err := fetch(t, oci.Options{URL: r.url("app"), Auth: creds, Verify: &keyless})
	if err != nil || !strings.HasSuffix(art.VerifiedBy, "(sigstore bundle "+ref+")") {
		t.Fatalf("keyless message signature: %v, %v", art, err)
	}
	k := r.push(t, "keyed")
	r.pushBundle(t, "keyed", k, sigstoretest.KeyBundle(t, kp, manifest("keyed", k)))
	if _, _, err := fetch(t, oci.Options{URL: r.url("keyed"), Auth: creds, Verify: &keyed}); err != nil {
		t.Fatalf("key message signature: %v", err)
	}

	// Signatures of another manifest attached here.
	other := r.push(t, "other")
	r.pushBundle(t, "other", other, vs.SignBundle(t, bundleSubject, bundleIssuer, manifest("app", d)))
	r.pushBundle(t, "other", other, sigstoretest.KeyBundle(t, kp, manifest("keyed", k)))
	for _, v := range []oci.Verification{keyless, keyed} {
		art, _, err := fetch(t, oci.Options{URL: r.url("other"), Auth: creds, Verify: &v})
		t.Log(err)
		if !errors.Is(err, source.ErrVerification) || !strings.Contains(err.Error(), "no sigstore bundle verifies") {
			t.Errorf("a message signature of another manifest: %v, %v", art, err)
		}
	}
}

// TestBundleLookupFailure: a registry that refuses to list the referrers
// fails the fetch with its error, not as an unsigned artifact, unless a
// ".sig" signature verifies.
func TestBundleLookupFailure(t *testing.T) {
	deny := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := r.URL.Path
			if strings.Contains(p, "/referrers/") || strings.Contains(p, "/manifests/sha256-") && !strings.HasSuffix(p, ".sig") {
				http.Error(w, `{"errors":[{"code":"DENIED","message":"no referrers for you"}]}`, http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	reg, creds := startRegistry(t, helmrepo.RegistryOptions{Wrap: deny})
	r := bundleRegistry{"referrers tag", reg.Host(), registry.Client{Auth: creds}, creds}
	vs := sigstoretest.New(t)
	v := oci.Verification{Provider: oci.ProviderCosign, Identities: bundleIdentity, TrustedRoot: vs.TrustedRoot(t)}

	unsigned := r.push(t, "unsigned")
	art, _, err := fetch(t, oci.Options{URL: r.url("unsigned"), Auth: creds, Verify: &v})
	if err == nil || errors.Is(err, source.ErrVerification) || !strings.Contains(err.Error(), "referrers of "+unsigned) {
		t.Errorf("referrers denied: %v, %v; want the registry's error naming the referrers", art, err)
	}
	t.Log(err)

	signed := r.push(t, "signed")
	p := sigstoretest.SimpleSigning(t, signed)
	sigstoretest.PushSignature(t, reg, user, password, "signed", signed, p, vs.Sign(t, bundleSubject, bundleIssuer, p))
	if _, _, err := fetch(t, oci.Options{URL: r.url("signed"), Auth: creds, Verify: &v}); err != nil {
		t.Errorf("a good .sig signature with the referrers denied: %v", err)
	}
}
