package helmrepo

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Flux's artifact format, written down here independently of
// pkg/source/oci so that tests compare the two.
const (
	fluxConfigMediaType  = "application/vnd.cncf.flux.config.v1+json"
	fluxContentMediaType = "application/vnd.cncf.flux.content.v1.tar+gzip"
)

// Artifact is an OCI artifact as `flux push artifact` lays it out.
type Artifact struct {
	// Files maps slash-separated paths to contents.
	Files map[string]string
	// Source and Revision are the org.opencontainers.image.source and
	// .revision annotations.
	Source, Revision string
	// Layers are extra layers after the content layer: media type →
	// blob.
	Layers []StaticLayer
	// ContentMediaType replaces Flux's content media type when set.
	ContentMediaType string
}

// StaticLayer is a layer whose blob is stored as it is.
type StaticLayer struct {
	MediaType string
	Blob      []byte
}

// FluxTarball packs files as flux's tar package does: a gzip stream of a
// tar holding the root as ".", then each directory and file by its path
// in lexical walk order, with owners and times cleared.
func FluxTarball(files map[string]string) ([]byte, error) {
	dirs := map[string]bool{}
	var paths []string
	for p := range files {
		paths = append(paths, p)
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	for d := range dirs {
		paths = append(paths, d)
	}
	// filepath.WalkDir visits each directory's entries in lexical order:
	// the order of the paths compared component by component.
	sort.Slice(paths, func(i, j int) bool {
		return slices.Compare(strings.Split(paths[i], "/"), strings.Split(paths[j], "/")) < 0
	})
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: ".", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
		return nil, err
	}
	for _, p := range paths {
		if dirs[p] {
			if err := tw.WriteHeader(&tar.Header{Name: p, Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
				return nil, err
			}
			continue
		}
		body := files[p]
		if err := tw.WriteHeader(&tar.Header{Name: p, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}); err != nil {
			return nil, err
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// PushArtifact pushes a as `flux push artifact` would to
// HOST/repo:tag and returns the manifest digest.
func (r *Registry) PushArtifact(repo, tag string, a Artifact) (string, error) {
	tgz, err := FluxTarball(a.Files)
	if err != nil {
		return "", err
	}
	created := time.Now().UTC().Truncate(time.Second)
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, fluxConfigMediaType)
	cfg, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	cfg.Created = v1.Time{Time: created}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return "", err
	}
	img = mutate.Annotations(img, map[string]string{
		"org.opencontainers.image.created":  created.Format(time.RFC3339),
		"org.opencontainers.image.source":   a.Source,
		"org.opencontainers.image.revision": a.Revision,
	}).(v1.Image)
	mt := fluxContentMediaType
	if a.ContentMediaType != "" {
		mt = a.ContentMediaType
	}
	adds := []mutate.Addendum{{Layer: static.NewLayer(tgz, types.MediaType(mt))}}
	for _, l := range a.Layers {
		adds = append(adds, mutate.Addendum{Layer: static.NewLayer(l.Blob, types.MediaType(l.MediaType))})
	}
	if img, err = mutate.Append(img, adds...); err != nil {
		return "", err
	}
	ref, err := name.NewTag(r.Host()+"/"+strings.Trim(repo, "/")+":"+tag, r.nameOptions()...)
	if err != nil {
		return "", err
	}
	if err := remote.Write(ref, img, r.remoteOptions()...); err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	d, err := img.Digest()
	return d.String(), err
}

// Tag points tag of repo at the manifest digest.
func (r *Registry) Tag(repo, digest, tag string) error {
	src, err := name.NewDigest(r.Host()+"/"+strings.Trim(repo, "/")+"@"+digest, r.nameOptions()...)
	if err != nil {
		return err
	}
	desc, err := remote.Get(src, r.remoteOptions()...)
	if err != nil {
		return err
	}
	return remote.Tag(src.Context().Tag(tag), desc, r.remoteOptions()...)
}

// SignCosign signs the manifest digest of repo with key as `cosign sign
// --key` (cosign v2, --tlog-upload=false) stores the signature: a
// simple-signing payload naming digest as one layer of the manifest at
// tag sha256-<hex>.sig, its signature in the layer's
// dev.cosignproject.cosign/signature annotation. key signs the SHA-256 of
// the payload (ECDSA, RSA) or the payload (Ed25519). payloadDigest, when
// not "", is written into the payload in place of digest: a signature of
// another artifact.
func (r *Registry) SignCosign(repo, digest string, key crypto.Signer, payloadDigest string) error {
	if payloadDigest == "" {
		payloadDigest = digest
	}
	repoRef, err := name.NewRepository(r.Host()+"/"+strings.Trim(repo, "/"), r.nameOptions()...)
	if err != nil {
		return err
	}
	payload, err := json.Marshal(map[string]any{
		"critical": map[string]any{
			"identity": map[string]string{"docker-reference": repoRef.String()},
			"image":    map[string]string{"docker-manifest-digest": payloadDigest},
			"type":     "cosign container image signature",
		},
		"optional": nil,
	})
	if err != nil {
		return err
	}
	var sig []byte
	if _, ok := key.(ed25519.PrivateKey); ok {
		sig, err = key.Sign(rand.Reader, payload, crypto.Hash(0))
	} else {
		sum := sha256.Sum256(payload)
		sig, err = key.Sign(rand.Reader, sum[:], crypto.SHA256)
	}
	if err != nil {
		return err
	}
	tag := repoRef.Tag(strings.Replace(digest, ":", "-", 1) + ".sig")
	// Signatures accumulate as layers of the one manifest, as cosign
	// appends them.
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	if desc, err := remote.Get(tag, r.remoteOptions()...); err == nil {
		if img, err = desc.Image(); err != nil {
			return err
		}
	}
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:       static.NewLayer(payload, "application/vnd.dev.cosign.simplesigning.v1+json"),
		Annotations: map[string]string{"dev.cosignproject.cosign/signature": base64.StdEncoding.EncodeToString(sig)},
	})
	if err != nil {
		return err
	}
	return remote.Write(tag, img, r.remoteOptions()...)
}

func (r *Registry) nameOptions() []name.Option {
	if r.opts.PlainHTTP {
		return []name.Option{name.Insecure}
	}
	return nil
}

func (r *Registry) remoteOptions() []remote.Option {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if !r.opts.PlainHTTP {
		t.TLSClientConfig = &tls.Config{RootCAs: r.ca.Pool(), MinVersion: tls.VersionTLS12}
	}
	opts := []remote.Option{remote.WithTransport(t)}
	if r.opts.Username != "" {
		opts = append(opts, remote.WithAuth(&authn.Basic{Username: r.opts.Username, Password: r.opts.Password}))
	}
	return opts
}
