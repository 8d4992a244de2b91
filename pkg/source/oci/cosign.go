package oci

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/source/oci/sigcheck"
	"github.com/gitsync/gitsync/pkg/source/registry"
)

// Cosign's names for its signatures in a registry.
const (
	// SimpleSigningMediaType is the media type of a signature layer: a
	// simple-signing payload.
	SimpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	// SignatureAnnotation holds a layer's signature, base64.
	SignatureAnnotation = sigcheck.SignatureAnnotation
	// simpleSigningType is the payload's critical.type.
	simpleSigningType = "cosign container image signature"
	// maxSignatures bounds the signature layers read, maxPayload the
	// bytes of one payload: a payload is a few hundred bytes.
	maxSignatures = 64
	maxPayload    = 64 << 10
)

// SignatureTag returns the tag cosign stores the signatures of the
// manifest digest under: "sha256-<hex>.sig".
func SignatureTag(digest string) string {
	return strings.Replace(digest, ":", "-", 1) + ".sig"
}

// publicKey is one trusted key.
type publicKey struct {
	name string // the Secret's key, "cosign.pub"
	id   string // "sha256:<hex>" of the key's DER (SubjectPublicKeyInfo)
	key  crypto.PublicKey
}

// parseKeys parses PEM public keys, sorted by name. Keys whose names do
// not end in ".pub" are ignored, as Flux ignores them; at least one must
// remain.
func parseKeys(keys map[string][]byte) ([]publicKey, error) {
	var out []publicKey
	for n, data := range keys {
		if !strings.HasSuffix(n, ".pub") {
			continue
		}
		block, _ := pem.Decode(data)
		if block == nil || block.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("%s: not a PEM public key (-----BEGIN PUBLIC KEY-----)", n)
		}
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		switch k := k.(type) {
		case *ecdsa.PublicKey, ed25519.PublicKey:
		case *rsa.PublicKey:
			if k.N.BitLen() < 2048 {
				return nil, fmt.Errorf("%s: an RSA key of %d bits; at least 2048 are required", n, k.N.BitLen())
			}
		default:
			return nil, fmt.Errorf("%s: a %T is not a signature key cosign uses", n, k)
		}
		sum := sha256.Sum256(block.Bytes)
		out = append(out, publicKey{name: n, id: "sha256:" + hex.EncodeToString(sum[:]), key: k})
	}
	if len(out) == 0 {
		return nil, errors.New("no public key (a key whose name ends in .pub, such as cosign.pub)")
	}
	slices.SortFunc(out, func(a, b publicKey) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

// verify reports whether sig is k's signature of payload, as cosign
// signs: ECDSA (ASN.1) and RSA (PKCS #1 v1.5) over the SHA-256 of the
// payload, Ed25519 over the payload itself.
func (k publicKey) verify(payload, sig []byte) bool {
	sum := sha256.Sum256(payload)
	switch pk := k.key.(type) {
	case *ecdsa.PublicKey:
		return ecdsa.VerifyASN1(pk, sum[:], sig)
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(pk, crypto.SHA256, sum[:], sig) == nil
	case ed25519.PublicKey:
		return ed25519.Verify(pk, payload, sig)
	}
	return false
}

// simpleSigning is the part of cosign's payload that is checked.
type simpleSigning struct {
	Critical struct {
		Image struct {
			Digest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
}

// legacyKeyCheck checks a ".sig" layer's signature of payload with keys
// and says which key made it ("cosign <key name> <key id>").
func legacyKeyCheck(keys []publicKey, l v1.Descriptor, payload []byte) (string, string) {
	sig, err := base64.StdEncoding.DecodeString(l.Annotations[SignatureAnnotation])
	if err != nil || len(sig) == 0 {
		return "", fmt.Sprintf("no base64 %s annotation", SignatureAnnotation)
	}
	for _, k := range keys {
		if k.verify(payload, sig) {
			return ProviderCosign + " " + k.name + " " + k.id, ""
		}
	}
	return "", "by none of the keys"
}

// checkSignatures reads digest's cosign signature manifest and checks its
// simple-signing layers (at most maxSignatures), each with its payload:
// check says who signed it, or what is wrong with it; a signature that
// check accepts must also name digest in its payload (a valid signature
// of another artifact may have been copied here). It returns the first
// signer that passes both. Errors wrap source.ErrVerification and end with
// bundles (what the search for cosign v3's bundles found) and trust: the
// keys or identities the signatures were checked against.
func checkSignatures(ctx context.Context, repo name.Repository, ropts []remote.Option, digest, kind, trust, bundles string,
	check func(ctx context.Context, l v1.Descriptor, payload []byte) (by, problem string, err error)) (string, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s: %s; %s; %s: %w", kind, fmt.Sprintf(format, args...), bundles, trust, source.ErrVerification)
	}
	tag := repo.Tag(SignatureTag(digest))
	desc, err := remote.Get(tag, append(ropts, remote.WithContext(ctx))...)
	if err != nil {
		if registry.IsNotFound(err) {
			return "", fail("artifact %s is not signed (no signature manifest %s)", digest, tag.TagStr())
		}
		return "", fmt.Errorf("cosign: get signature manifest %s: %w", tag.TagStr(), registry.Error(err))
	}
	m, err := v1.ParseManifest(strings.NewReader(string(desc.Manifest)))
	if err != nil {
		return "", fail("signature manifest %s: %v", tag.TagStr(), err)
	}
	var problems []string
	seen := 0
	for _, l := range m.Layers {
		if string(l.MediaType) != SimpleSigningMediaType {
			continue
		}
		if seen++; seen > maxSignatures {
			break
		}
		payload, err := readPayload(ctx, repo, ropts, l)
		if err != nil {
			return "", fmt.Errorf("cosign: signature %s: %w", l.Digest, err)
		}
		by, problem, err := check(ctx, l, payload)
		if err != nil {
			return "", fmt.Errorf("%s: signature %s: %w", kind, l.Digest, err)
		}
		if problem != "" {
			problems = append(problems, fmt.Sprintf("signature %s: %s", l.Digest, problem))
			continue
		}
		var ss simpleSigning
		if err := json.Unmarshal(payload, &ss); err != nil {
			problems = append(problems, fmt.Sprintf("signature %s by %s: payload: %v", l.Digest, by, err))
			continue
		}
		if ss.Critical.Type != simpleSigningType || ss.Critical.Image.Digest != digest {
			problems = append(problems, fmt.Sprintf("signature %s by %s signs %q, not this artifact", l.Digest, by, ss.Critical.Image.Digest))
			continue
		}
		return by, nil
	}
	if seen == 0 {
		return "", fail("artifact %s: signature manifest %s holds no %s layer", digest, tag.TagStr(), SimpleSigningMediaType)
	}
	return "", fail("artifact %s: no signature verifies (%s)", digest, strings.Join(problems, "; "))
}

// readPayload downloads a signature's payload and checks its digest.
func readPayload(ctx context.Context, repo name.Repository, ropts []remote.Option, l v1.Descriptor) ([]byte, error) {
	if l.Size > maxPayload {
		return nil, fmt.Errorf("payload of %d bytes, more than %d: %w", l.Size, maxPayload, source.ErrTooLarge)
	}
	layer, err := remote.Layer(repo.Digest(l.Digest.String()), append(ropts, remote.WithContext(ctx))...)
	if err != nil {
		return nil, registry.Error(err)
	}
	rc, err := layer.Compressed()
	if err != nil {
		return nil, registry.Error(err)
	}
	defer rc.Close()
	// go-containerregistry checks the digest and size at the end of the
	// blob.
	b, err := io.ReadAll(io.LimitReader(rc, maxPayload+1))
	if err != nil {
		if strings.Contains(err.Error(), "error verifying") {
			return nil, fmt.Errorf("payload: %w: %w", source.ErrDigestMismatch, err)
		}
		return nil, fmt.Errorf("payload: %w", registry.Error(err))
	}
	if sum := sha256.Sum256(b); "sha256:"+hex.EncodeToString(sum[:]) != l.Digest.String() {
		return nil, fmt.Errorf("payload does not have its digest %s: %w", l.Digest, source.ErrDigestMismatch)
	}
	return b, nil
}
