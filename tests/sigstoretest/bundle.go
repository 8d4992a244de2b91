package sigstoretest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jsoncanonicalizer "github.com/cyberphone/json-canonicalization/go/src/webpki.org/jsoncanonicalizer"
	"github.com/go-openapi/strfmt"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	intotov1 "github.com/in-toto/attestation/go/v1"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/rekor/pkg/generated/models"
	rekorutil "github.com/sigstore/rekor/pkg/util"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/transparency-dev/merkle/rfc6962"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/source/oci"
	"github.com/gitsync/gitsync/pkg/source/registry"
	"github.com/gitsync/gitsync/tests/helmrepo"
)

// CosignStatement returns the in-toto statement `cosign sign` (v3) signs
// for a manifest digest, "sha256:<hex>": the digest as its subject, an
// empty predicate of type oci.CosignSignPredicateType (or predicateType).
func CosignStatement(t testing.TB, digest, predicateType string) *sign.DSSEData {
	t.Helper()
	alg, hexDigest, ok := strings.Cut(digest, ":")
	if !ok {
		t.Fatalf("digest %q", digest)
	}
	if predicateType == "" {
		predicateType = oci.CosignSignPredicateType
	}
	st := &intotov1.Statement{
		Type:          intotov1.StatementTypeUri,
		Subject:       []*intotov1.ResourceDescriptor{{Digest: map[string]string{alg: hexDigest}}},
		PredicateType: predicateType,
		Predicate:     &structpb.Struct{},
	}
	b, err := protojson.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return &sign.DSSEData{Data: b, PayloadType: oci.InTotoPayloadType}
}

// SignBundle signs content as `cosign sign` (v3) does without a key: an
// ephemeral key, a Fulcio certificate for subject from issuer, and a Rekor
// v1 entry with its inclusion promise and an inclusion proof whose
// checkpoint the log signs. It returns the Sigstore bundle (v0.3) JSON.
func (s *VirtualSigstore) SignBundle(t testing.TB, subject, issuer string, content sign.Content) []byte {
	t.Helper()
	kp, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sign.Bundle(content, kp, sign.BundleOptions{
		CertificateProvider: fulcio{t: t, s: s, subject: subject, issuer: issuer},
		TransparencyLogs:    []sign.Transparency{rekor{s: s}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return marshalBundle(t, b)
}

// KeyBundle signs content as `cosign sign --key` (v3) does, without a
// transparency log entry: the bundle names the key by its hint.
func KeyBundle(t testing.TB, kp sign.Keypair, content sign.Content) []byte {
	t.Helper()
	b, err := sign.Bundle(content, kp, sign.BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return marshalBundle(t, b)
}

// NewKeypair returns a key pair for KeyBundle and its public key, PEM,
// as cosign.pub holds it.
func NewKeypair(t testing.TB) (sign.Keypair, []byte) {
	t.Helper()
	kp, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := kp.GetPublicKeyPem()
	if err != nil {
		t.Fatal(err)
	}
	return kp, []byte(p)
}

func marshalBundle(t testing.TB, b *protobundle.Bundle) []byte {
	t.Helper()
	data, err := protojson.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// fulcio issues the certificate of a bundle.
type fulcio struct {
	t               testing.TB
	s               *VirtualSigstore
	subject, issuer string
}

func (f fulcio) GetCertificate(_ context.Context, kp sign.Keypair, _ *sign.CertificateProviderOptions) ([]byte, error) {
	return f.s.certificate(f.t, kp.GetPublicKey(), f.subject, f.issuer), nil
}

// rekor logs a bundle's DSSE envelope as a Rekor v1 "dsse" entry, or its
// message signature as a "hashedrekord" entry, alone in a tree of size
// one.
type rekor struct{ s *VirtualSigstore }

func (r rekor) GetTransparencyLogEntry(ctx context.Context, certPEM []byte, b *protobundle.Bundle) error {
	sha := "sha256"
	apiVersion := "0.0.1"
	var entry any
	var kind string
	switch {
	case b.GetDsseEnvelope() != nil && len(b.GetDsseEnvelope().Signatures) == 1:
		env := b.GetDsseEnvelope()
		envJSON, err := protojson.Marshal(env)
		if err != nil {
			return err
		}
		envSum, payloadSum := sha256.Sum256(envJSON), sha256.Sum256(env.Payload)
		sig := base64.StdEncoding.EncodeToString(env.Signatures[0].Sig)
		verifier := strfmt.Base64(certPEM)
		envHex, payloadHex := hex.EncodeToString(envSum[:]), hex.EncodeToString(payloadSum[:])
		kind, entry = "dsse", &models.DSSE{APIVersion: &apiVersion, Spec: models.DSSEV001Schema{
			EnvelopeHash: &models.DSSEV001SchemaEnvelopeHash{Algorithm: &sha, Value: &envHex},
			PayloadHash:  &models.DSSEV001SchemaPayloadHash{Algorithm: &sha, Value: &payloadHex},
			Signatures:   []*models.DSSEV001SchemaSignaturesItems0{{Signature: &sig, Verifier: &verifier}},
		}}
	case b.GetMessageSignature() != nil:
		ms := b.GetMessageSignature()
		digest := hex.EncodeToString(ms.GetMessageDigest().GetDigest())
		kind, entry = "hashedrekord", &models.Hashedrekord{APIVersion: &apiVersion, Spec: models.HashedrekordV001Schema{
			Data: &models.HashedrekordV001SchemaData{Hash: &models.HashedrekordV001SchemaDataHash{Algorithm: &sha, Value: &digest}},
			Signature: &models.HashedrekordV001SchemaSignature{Content: ms.Signature,
				PublicKey: &models.HashedrekordV001SchemaSignaturePublicKey{Content: certPEM}},
		}}
	default:
		return errors.New("sigstoretest logs DSSE envelopes with one signature and message signatures")
	}
	raw, err := json.Marshal(entry)
	if err != nil {
		return err
	}
	body, err := jsoncanonicalizer.Transform(raw)
	if err != nil {
		return err
	}
	now := time.Now().Unix()
	const logIndex = 7
	set, err := r.s.signEntryTimestamp(body, now, logIndex)
	if err != nil {
		return err
	}
	// One leaf: the root is the leaf's hash and the proof has no hashes.
	root := rfc6962.DefaultHasher.HashLeaf(body)
	sv, err := signature.LoadECDSASignerVerifier(r.s.rekorKey, crypto.SHA256)
	if err != nil {
		return err
	}
	checkpoint, err := rekorutil.CreateAndSignCheckpoint(ctx, "rekor.test", 1, 1, root, sv)
	if err != nil {
		return err
	}
	b.VerificationMaterial.TlogEntries = append(b.VerificationMaterial.TlogEntries, &protorekor.TransparencyLogEntry{
		LogIndex:          logIndex,
		LogId:             &protocommon.LogId{KeyId: r.s.logID},
		KindVersion:       &protorekor.KindVersion{Kind: kind, Version: apiVersion},
		IntegratedTime:    now,
		InclusionPromise:  &protorekor.InclusionPromise{SignedEntryTimestamp: set},
		InclusionProof:    &protorekor.InclusionProof{LogIndex: 0, RootHash: root, TreeSize: 1, Checkpoint: &protorekor.Checkpoint{Envelope: string(checkpoint)}},
		CanonicalizedBody: body,
	})
	return nil
}

// signEntryTimestamp returns the log's promise to include body: its
// signature of the canonical JSON of the entry.
func (s *VirtualSigstore) signEntryTimestamp(body []byte, integratedTime, logIndex int64) ([]byte, error) {
	p, err := json.Marshal(oci.RekorPayload{Body: base64.StdEncoding.EncodeToString(body), IntegratedTime: integratedTime,
		LogIndex: logIndex, LogID: hex.EncodeToString(s.logID)})
	if err != nil {
		return nil, err
	}
	canonical, err := jsoncanonicalizer.Transform(p)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(canonical)
	return ecdsa.SignASN1(rand.Reader, s.rekorKey, sum[:])
}

// PushBundle stores bundle as cosign v3 does: an OCI 1.1 artifact of type
// oci.BundleMediaType whose subject is the manifest digest of repo at
// host, with the empty config and the bundle as its one layer. A registry
// without the referrers API gets the referrers tag (go-containerregistry
// maintains it). It returns the bundle manifest's digest.
func PushBundle(t testing.TB, c registry.Client, host, repo, digest string, bundle []byte) string {
	t.Helper()
	r, err := name.NewRepository(host + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	ropts, err := c.Options(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	subject, err := remote.Head(r.Digest(digest), ropts...)
	if err != nil {
		t.Fatal(err)
	}
	config := static.NewLayer([]byte("{}"), oci.EmptyMediaType)
	layer := static.NewLayer(bundle, oci.BundleMediaType)
	descs := make([]v1.Descriptor, 2)
	for i, l := range []v1.Layer{config, layer} {
		if err := remote.WriteLayer(r, l, ropts...); err != nil {
			t.Fatal(err)
		}
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		size, err := l.Size()
		if err != nil {
			t.Fatal(err)
		}
		mt, err := l.MediaType()
		if err != nil {
			t.Fatal(err)
		}
		descs[i] = v1.Descriptor{MediaType: mt, Digest: d, Size: size}
	}
	m := v1.Manifest{
		SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: oci.BundleMediaType,
		Config: descs[0], Layers: descs[1:],
		Subject: &v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
		Annotations: map[string]string{
			"dev.sigstore.bundle.content":      "dsse-envelope",
			"org.opencontainers.image.created": time.Now().UTC().Format(time.RFC3339),
		},
	}
	var pb protobundle.Bundle
	if err := protojson.Unmarshal(bundle, &pb); err == nil && pb.GetMessageSignature() != nil {
		m.Annotations["dev.sigstore.bundle.content"] = "message-signature"
	} else {
		m.Annotations["dev.sigstore.bundle.predicateType"] = oci.CosignSignPredicateType
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	h, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Put(r.Digest(h.String()), rawManifest(raw), ropts...); err != nil {
		t.Fatal(err)
	}
	return h.String()
}

// rawManifest is an OCI image manifest as bytes.
type rawManifest []byte

func (m rawManifest) RawManifest() ([]byte, error)        { return m, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

// ReferrersRegistry is go-containerregistry's in-memory registry with
// the OCI 1.1 referrers API (the distribution registry of tests/helmrepo
// has none, so there the referrers tag is used), served over HTTPS for
// anyone.
type ReferrersRegistry struct {
	// Host is host:port; CAPEM is the CA that signed its certificate.
	Host  string
	CAPEM []byte

	mu       sync.Mutex
	requests []string
}

// StartReferrersRegistry starts a ReferrersRegistry, stopped when t ends.
func StartReferrersRegistry(t testing.TB) *ReferrersRegistry {
	t.Helper()
	ca, err := helmrepo.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.ServerCertificate()
	if err != nil {
		t.Fatal(err)
	}
	r := &ReferrersRegistry{CAPEM: ca.CertPEM}
	h := ggcrregistry.New(ggcrregistry.WithReferrersSupport(true), ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.requests = append(r.requests, req.Method+" "+req.URL.Path)
		r.mu.Unlock()
		h.ServeHTTP(w, req)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	r.Host = strings.TrimPrefix(srv.URL, "https://")
	return r
}

// Client returns a client that reaches r.
func (r *ReferrersRegistry) Client() registry.Client {
	return registry.Client{Auth: source.Credentials{CAPEM: r.CAPEM}}
}

// Requests returns "METHOD /path" of every request so far.
func (r *ReferrersRegistry) Requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests)
}
