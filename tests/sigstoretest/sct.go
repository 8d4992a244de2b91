package sigstoretest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"testing"
	"time"

	ct "github.com/google/certificate-transparency-go"
	cttls "github.com/google/certificate-transparency-go/tls"
	ctx509 "github.com/google/certificate-transparency-go/x509"
	"github.com/sigstore/sigstore-go/pkg/root"
)

// What a VirtualSigstore with a CT log embeds in its certificates.
const (
	sctValid  = iota // an SCT the log signed
	sctNone          // no SCT
	sctForged        // an SCT with the log's ID signed by another key
)

// ctLog is a certificate transparency log: Fulcio logs each certificate
// there before issuing it and embeds the log's signed certificate
// timestamp (SCT) in it.
type ctLog struct {
	key  *ecdsa.PrivateKey
	id   []byte // SHA-256 of the key's DER
	mode int
}

// WithCTLog returns a copy of s whose trusted root lists a CT log and
// whose certificates carry an SCT of that log, as Fulcio's do.
func (s *VirtualSigstore) WithCTLog(t testing.TB) *VirtualSigstore {
	t.Helper()
	key := ecKey(t)
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	c := *s
	c.ct = &ctLog{key: key, id: sum[:]}
	return &c
}

// WithoutSCT returns a copy of s (WithCTLog) whose certificates carry no
// SCT; its trusted root still lists the log.
func (s *VirtualSigstore) WithoutSCT() *VirtualSigstore { return s.withSCT(sctNone) }

// WithForgedSCT returns a copy of s (WithCTLog) whose certificates carry
// an SCT that names the log but is signed by another key.
func (s *VirtualSigstore) WithForgedSCT() *VirtualSigstore { return s.withSCT(sctForged) }

func (s *VirtualSigstore) withSCT(mode int) *VirtualSigstore {
	c := *s
	l := *s.ct
	l.mode = mode
	c.ct = &l
	return &c
}

// ctLogs returns the trusted root's ctlogs.
func (s *VirtualSigstore) ctLogs(start time.Time) map[string]*root.TransparencyLog {
	if s.ct == nil {
		return nil
	}
	return map[string]*root.TransparencyLog{hex.EncodeToString(s.ct.id): {
		BaseURL: "https://ctfe.test", ID: s.ct.id, ValidityPeriodStart: start,
		HashFunc: crypto.SHA256, PublicKey: s.ct.key.Public(), SignatureHashFunc: crypto.SHA256,
	}}
}

// embedSCT adds the SCT extension to tmpl, a certificate the CA is about
// to issue for pub: the log signs the precertificate, the TBS of the
// certificate without that extension, as RFC 6962 defines it.
func (s *VirtualSigstore) embedSCT(t testing.TB, tmpl *x509.Certificate, pub crypto.PublicKey) {
	t.Helper()
	if s.ct == nil || s.ct.mode == sctNone {
		return
	}
	pre, err := x509.CreateCertificate(rand.Reader, tmpl, s.ca, pub, s.caKey)
	if err != nil {
		t.Fatal(err)
	}
	preCert, err := x509.ParseCertificate(pre)
	if err != nil {
		t.Fatal(err)
	}
	sct := ct.SignedCertificateTimestamp{SCTVersion: ct.V1, Timestamp: uint64(time.Now().UnixMilli())}
	copy(sct.LogID.KeyID[:], s.ct.id)
	leaf := ct.MerkleTreeLeaf{Version: ct.V1, LeafType: ct.TimestampedEntryLeafType, TimestampedEntry: &ct.TimestampedEntry{
		EntryType: ct.PrecertLogEntryType, Timestamp: sct.Timestamp,
		PrecertEntry: &ct.PreCert{IssuerKeyHash: sha256.Sum256(s.ca.RawSubjectPublicKeyInfo), TBSCertificate: preCert.RawTBSCertificate},
	}}
	input, err := ct.SerializeSCTSignatureInput(sct, ct.LogEntry{Leaf: leaf})
	if err != nil {
		t.Fatal(err)
	}
	signer := s.ct.key
	if s.ct.mode == sctForged {
		signer = ecKey(t)
	}
	sum := sha256.Sum256(input)
	sig, err := ecdsa.SignASN1(rand.Reader, signer, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sct.Signature = ct.DigitallySigned{Algorithm: cttls.SignatureAndHashAlgorithm{Hash: cttls.SHA256, Signature: cttls.ECDSA}, Signature: sig}
	raw, err := cttls.Marshal(sct)
	if err != nil {
		t.Fatal(err)
	}
	list, err := cttls.Marshal(ctx509.SignedCertificateTimestampList{SCTList: []ctx509.SerializedSCT{{Val: raw}}})
	if err != nil {
		t.Fatal(err)
	}
	value, err := asn1.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: asn1.ObjectIdentifier(ctx509.OIDExtensionCTSCT), Value: value})
}
