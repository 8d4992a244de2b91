package oci_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/source/oci"
	"github.com/gitsync/gitsync/pkg/source/registry"
	"github.com/gitsync/gitsync/tests/helmrepo"
)

// virtualSigstore is a Fulcio CA and a Rekor log key that sign as a
// keyless cosign flow does, offline. (sigstore-go's pkg/testing/ca does
// the same but imports rekor's PGP support, which needs an older
// golang.org/x/crypto than this module's.)
type virtualSigstore struct {
	caKey    *ecdsa.PrivateKey
	ca       *x509.Certificate
	rekorKey *ecdsa.PrivateKey
	logID    []byte // SHA-256 of the Rekor key's DER
}

func newVirtualSigstore(t testing.TB) *virtualSigstore {
	t.Helper()
	s := &virtualSigstore{caKey: ecKey(t), rekorKey: ecKey(t)}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fulcio-test-root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, s.caKey.Public(), s.caKey)
	if err != nil {
		t.Fatal(err)
	}
	if s.ca, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(s.rekorKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(pub)
	s.logID = sum[:]
	return s
}

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// trustedRoot returns the trusted_root.json that trusts s.
func (s *virtualSigstore) trustedRoot(t testing.TB) []byte {
	t.Helper()
	start := time.Now().Add(-time.Hour)
	ca := &root.FulcioCertificateAuthority{Root: s.ca, ValidityPeriodStart: start, URI: "https://fulcio.test"}
	tlogs := map[string]*root.TransparencyLog{hex.EncodeToString(s.logID): {
		BaseURL: "https://rekor.test", ID: s.logID, ValidityPeriodStart: start,
		HashFunc: crypto.SHA256, PublicKey: s.rekorKey.Public(), SignatureHashFunc: crypto.SHA256,
	}}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, []root.CertificateAuthority{ca}, nil, nil, tlogs)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tr.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sign signs payload as `cosign sign` does without a key: a ten-minute
// Fulcio certificate for subject from issuer, a signature, and a Rekor
// hashedrekord entry with the log's signed entry timestamp. It returns
// the signature layer's annotations.
func (s *virtualSigstore) sign(t testing.TB, subject, issuer string, payload []byte) map[string]string {
	t.Helper()
	key := ecKey(t)
	issuerExt, err := asn1.Marshal(issuer)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(subject)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()), NotBefore: now.Add(-time.Minute), NotAfter: now.Add(10 * time.Minute),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		URIs: []*url.URL{u},
		ExtraExtensions: []pkix.Extension{
			{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}, Value: []byte(issuer)},
			{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}, Value: issuerExt},
		},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, s.ca, key.Public(), s.caKey)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	sum := sha256.Sum256(payload)
	sig, err := ecdsa.SignASN1(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(map[string]any{
		"apiVersion": "0.0.1", "kind": "hashedrekord",
		"spec": map[string]any{
			"data": map[string]any{"hash": map[string]string{"algorithm": "sha256", "value": hex.EncodeToString(sum[:])}},
			"signature": map[string]any{
				"content":   base64.StdEncoding.EncodeToString(sig),
				"publicKey": map[string]string{"content": base64.StdEncoding.EncodeToString(certPEM)},
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := oci.RekorPayload{Body: base64.StdEncoding.EncodeToString(body), IntegratedTime: now.Unix(), LogIndex: 42, LogID: hex.EncodeToString(s.logID)}
	// The signed entry timestamp signs the canonical JSON of the payload:
	// keys sorted, no spaces.
	canonical, err := json.Marshal(struct {
		Body           string `json:"body"`
		IntegratedTime int64  `json:"integratedTime"`
		LogID          string `json:"logID"`
		LogIndex       int64  `json:"logIndex"`
	}{p.Body, p.IntegratedTime, p.LogID, p.LogIndex})
	if err != nil {
		t.Fatal(err)
	}
	setSum := sha256.Sum256(canonical)
	set, err := ecdsa.SignASN1(rand.Reader, s.rekorKey, setSum[:])
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := json.Marshal(oci.RekorBundle{SignedEntryTimestamp: set, Payload: p})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		oci.SignatureAnnotation:   base64.StdEncoding.EncodeToString(sig),
		oci.CertificateAnnotation: string(certPEM),
		oci.ChainAnnotation:       string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.ca.Raw})),
		oci.BundleAnnotation:      string(bundle),
	}
}

// simpleSigning returns cosign's payload for digest.
func simpleSigning(t testing.TB, digest string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"critical": map[string]any{
		"identity": map[string]string{"docker-reference": "registry.test/app"},
		"image":    map[string]string{"docker-manifest-digest": digest},
		"type":     "cosign container image signature",
	}, "optional": nil})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pushSignature stores payload with annotations under digest's ".sig"
// tag, as cosign v2 stores a keyless signature.
func pushSignature(t testing.TB, reg *helmrepo.Registry, repo, digest string, payload []byte, annotations map[string]string) {
	t.Helper()
	ref, err := name.NewTag(reg.Host() + "/" + repo + ":" + oci.SignatureTag(digest))
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1), mutate.Addendum{
		Layer: static.NewLayer(payload, oci.SimpleSigningMediaType), Annotations: annotations,
	})
	if err != nil {
		t.Fatal(err)
	}
	c := registry.Client{Auth: source.Credentials{CAPEM: reg.CA().CertPEM}}
	rt, err := c.Transport()
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithTransport(rt), remoteAuth()); err != nil {
		t.Fatal(err)
	}
}

// TestKeylessVerification verifies keyless cosign signatures offline
// against the real test registry: the trusted root is the only trust.
func TestKeylessVerification(t *testing.T) {
	var victim string
	reg, creds := startRegistry(t, helmrepo.RegistryOptions{Wrap: tamper(&victim)})
	vs := newVirtualSigstore(t)
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
	trusted := vs.trustedRoot(t)
	// Another Fulcio CA with the same Rekor log: the log entry verifies,
	// the certificate does not.
	otherCA := newVirtualSigstore(t)
	otherCA.rekorKey, otherCA.logID = vs.rekorKey, vs.logID

	signed := push("signed")
	payload := simpleSigning(t, signed)
	pushSignature(t, reg, "signed", signed, payload, vs.sign(t, subject, issuer, payload))
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
	pushSignature(t, reg, "rewritten", rewritten, simpleSigning(t, rewritten), vs.sign(t, subject, issuer, payload))
	// A valid signature of another artifact copied here.
	copied := push("copied")
	pushSignature(t, reg, "copied", copied, payload, vs.sign(t, subject, issuer, payload))

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
		{"untrusted root", "signed", newVirtualSigstore(t).trustedRoot(t), good, []string{"no signature verifies", "log"}},
		{"untrusted Fulcio CA", "signed", otherCA.trustedRoot(t), good, []string{"no signature verifies", "certificate"}},
		{"rewritten payload", "rewritten", trusted, good, []string{"no signature verifies", "does not match"}},
		{"copied signature", "copied", trusted, good, []string{"signs \"" + signed + "\", not this artifact"}},
		{"unsigned", "unsigned", trusted, good, []string{"is not signed"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.repo == "unsigned" {
				push("unsigned")
			}
			art, _, err := fetch(t, opts(tt.repo, tt.trusted, tt.ids))
			if !errors.Is(err, source.ErrVerification) {
				t.Fatalf("err = %v, want ErrVerification", err)
			}
			t.Log(err)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if art != nil {
				t.Errorf("an artifact was returned: %+v", art)
			}
		})
	}

	// A tampered layer of a keyless-signed artifact: the signature
	// verifies, the layer's digest does not, nothing is extracted.
	t.Run("tampered layer", func(t *testing.T) {
		app := push("app") // layerDigest reads repository app
		p := simpleSigning(t, app)
		pushSignature(t, reg, "app", app, p, vs.sign(t, subject, issuer, p))
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
		{"no root", nil, good, "trusted_root.json"},
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
	reg, err := helmrepo.StartRegistry(b.Context(), helmrepo.RegistryOptions{Username: user, Password: password})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = reg.Close() })
	creds := source.Credentials{Username: user, Password: password, CAPEM: reg.CA().CertPEM}
	d, err := reg.PushArtifact("app", "latest", helmrepo.Artifact{Files: files})
	if err != nil {
		b.Fatal(err)
	}
	vs := newVirtualSigstore(b)
	payload := simpleSigning(b, d)
	pushSignature(b, reg, "app", d, payload, vs.sign(b, "https://github.com/org/app/.github/workflows/release.yml@refs/heads/main", "https://token.actions.githubusercontent.com", payload))
	o := oci.Options{URL: reg.URL("app"), Auth: creds, Verify: &oci.Verification{Provider: oci.ProviderCosign,
		Identities:  []oci.OIDCIdentity{{Issuer: `^https://token\.actions\.githubusercontent\.com$`, Subject: `^https://github\.com/org/`}},
		TrustedRoot: vs.trustedRoot(b)}}
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
