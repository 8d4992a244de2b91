package ociimage

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

type ioReadCloser = io.ReadCloser

type nopCloser struct{ io.Reader }

func (nopCloser) Close() error { return nil }

// archive packs img as an OCI image layout plus a docker-archive
// manifest.json in one tar, and returns it with the manifest digest.
func archive(img v1.Image, repoTag string) ([]byte, string, error) {
	manifest, err := img.RawManifest()
	if err != nil {
		return nil, "", err
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, "", err
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return nil, "", err
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return nil, "", err
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, "", err
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	put := func(name string, data []byte) error {
		hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: epoch, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	blob := func(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }

	if err := put("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return nil, "", err
	}
	var layerPaths []string
	for i, l := range layers {
		h, err := l.Digest()
		if err != nil {
			return nil, "", fmt.Errorf("layer %d: %w", i, err)
		}
		rc, err := l.Compressed()
		if err != nil {
			return nil, "", fmt.Errorf("layer %d: %w", i, err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, "", fmt.Errorf("layer %d: %w", i, err)
		}
		if err := put(blob(h), data); err != nil {
			return nil, "", err
		}
		layerPaths = append(layerPaths, blob(h))
	}
	if err := put(blob(cfgName), config); err != nil {
		return nil, "", err
	}
	if err := put(blob(digest), manifest); err != nil {
		return nil, "", err
	}

	desc := map[string]any{
		"mediaType": mustMediaType(img),
		"digest":    digest.String(),
		"size":      len(manifest),
	}
	if repoTag != "" {
		tag := "latest"
		if i := strings.LastIndex(repoTag, ":"); i > strings.LastIndex(repoTag, "/") {
			tag = repoTag[i+1:]
		}
		desc["annotations"] = map[string]string{
			"io.containerd.image.name":          repoTag,
			"org.opencontainers.image.ref.name": tag,
		}
	}
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests":     []any{desc},
	})
	if err != nil {
		return nil, "", err
	}
	if err := put("index.json", index); err != nil {
		return nil, "", err
	}
	var repoTags []string
	if repoTag != "" {
		repoTags = []string{repoTag}
	}
	docker, err := json.Marshal([]map[string]any{{
		"Config":   blob(cfgName),
		"RepoTags": repoTags,
		"Layers":   layerPaths,
	}})
	if err != nil {
		return nil, "", err
	}
	if err := put("manifest.json", docker); err != nil {
		return nil, "", err
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), digest.String(), nil
}

func mustMediaType(img v1.Image) string {
	mt, err := img.MediaType()
	if err != nil {
		return "application/vnd.oci.image.manifest.v1+json"
	}
	return string(mt)
}
