// Package sigstoretest signs as a keyless cosign flow does, offline: a
// Fulcio CA issues short-lived certificates for an OIDC identity, a Rekor
// log key signs the entries' timestamps, and TrustedRoot is the
// trusted_root.json that trusts both. Signatures are stored in a test
// registry as cosign v2 stores them.
package sigstoretest

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
	"math/big"
	"net/url"
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

// VirtualSigstore is a Fulcio CA and a Rekor log key that sign as a
// keyless cosign flow does, offline. (sigstore-go's pkg/testing/ca does
// the same but imports rekor's PGP support, which needs an older
// golang.org/x/crypto than this module's.)
type VirtualSigstore struct {
	caKey    *ecdsa.PrivateKey
	ca       *x509.Certificate
	rekorKey *ecdsa.PrivateKey
	logID    []byte // SHA-256 of the Rekor key's DER
	ct       *ctLog // nil: no CT log (WithCTLog)
}

func New(t testing.TB) *VirtualSigstore {
	t.Helper()
	s := &VirtualSigstore{caKey: ecKey(t), rekorKey: ecKey(t)}
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

// TrustedRoot returns the trusted_root.json that trusts s.
func (s *VirtualSigstore) TrustedRoot(t testing.TB) []byte {
	t.Helper()
	start := time.Now().Add(-time.Hour)
	ca := &root.FulcioCertificateAuthority{Root: s.ca, ValidityPeriodStart: start, URI: "https://fulcio.test"}
	tlogs := map[string]*root.TransparencyLog{hex.EncodeToString(s.logID): {
		BaseURL: "https://rekor.test", ID: s.logID, ValidityPeriodStart: start,
		HashFunc: crypto.SHA256, PublicKey: s.rekorKey.Public(), SignatureHashFunc: crypto.SHA256,
	}}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, []root.CertificateAuthority{ca}, s.ctLogs(start), nil, tlogs)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tr.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Sign signs payload as `cosign sign` does without a key: a ten-minute
// Fulcio certificate for subject from issuer, a signature, and a Rekor
// hashedrekord entry with the log's signed entry timestamp. It returns
// the signature layer's annotations.
func (s *VirtualSigstore) Sign(t testing.TB, subject, issuer string, payload []byte) map[string]string {
	t.Helper()
	key := ecKey(t)
	der := s.certificate(t, key.Public(), subject, issuer)
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
	p := oci.RekorPayload{Body: base64.StdEncoding.EncodeToString(body), IntegratedTime: time.Now().Unix(), LogIndex: 42, LogID: hex.EncodeToString(s.logID)}
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

// certificate returns the DER of a ten-minute Fulcio certificate for pub,
// issued to subject by the OIDC issuer.
func (s *VirtualSigstore) certificate(t testing.TB, pub crypto.PublicKey, subject, issuer string) []byte {
	t.Helper()
	issuerExt, err := asn1.Marshal(issuer)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()), NotBefore: now.Add(-time.Minute), NotAfter: now.Add(10 * time.Minute),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		ExtraExtensions: []pkix.Extension{
			{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}, Value: []byte(issuer)},
			{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}, Value: issuerExt},
		},
	}
	// Fulcio puts an e-mail identity in an e-mail SAN, any other (a
	// workflow, a SPIFFE ID) in a URI SAN.
	if strings.Contains(subject, "@") && !strings.Contains(subject, "://") {
		tmpl.EmailAddresses = []string{subject}
	} else {
		u, err := url.Parse(subject)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = []*url.URL{u}
	}
	s.embedSCT(t, tmpl, pub)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, s.ca, pub, s.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// SimpleSigning returns cosign's payload for digest.
func SimpleSigning(t testing.TB, digest string) []byte {
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

// PushSignature stores payload with annotations under digest's ".sig"
// tag in reg (basic auth user and password), as cosign v2 stores a
// keyless signature.
func PushSignature(t testing.TB, reg *helmrepo.Registry, user, password, repo, digest string, payload []byte, annotations map[string]string) {
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
	c := registry.Client{Auth: source.Credentials{Username: user, Password: password, CAPEM: reg.CA().CertPEM}}
	rt, err := c.Transport()
	if err != nil {
		t.Fatal(err)
	}
	auth, err := c.Authenticator(reg.Host())
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithTransport(rt), remote.WithAuth(auth)); err != nil {
		t.Fatal(err)
	}
}

// WithRekorOf returns a copy of s with other's Rekor log key: its root
// trusts the log of other but not other's Fulcio CA.
func (s *VirtualSigstore) WithRekorOf(other *VirtualSigstore) *VirtualSigstore {
	c := *s
	c.rekorKey, c.logID = other.rekorKey, other.logID
	return &c
}
