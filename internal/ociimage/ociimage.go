// Package ociimage writes container images without a Docker engine: a
// single-layer image from in-memory files, packed as one tarball that is both
// an OCI image layout (index.json, blobs/) and a docker-archive
// (manifest.json), so `ctr images import`, `docker load` and `podman load`
// all accept it.
//
// The output is reproducible: file times, owners and the image's creation
// time are fixed, entries are sorted, and gzip carries no timestamp, so the
// same files give the same digest.
package ociimage

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// File is one regular file of the image.
type File struct {
	// Path is the absolute path inside the image, such as "/sync-job".
	Path string
	// Mode is the permission bits; 0 means 0644.
	Mode int64
	// Content is the file's bytes.
	Content []byte
}

// Options describe the image to write.
type Options struct {
	// Files are the regular files of the single layer. Their parent
	// directories are created (0755, root-owned).
	Files []File
	// Dirs are extra empty directories with their modes, such as
	// {"/tmp": 01777}.
	Dirs map[string]int64
	// Entrypoint is the image's entrypoint.
	Entrypoint []string
	// User is the user (and group) the container runs as, such as
	// "65532:65532"; empty means root.
	User string
	// Env are KEY=VALUE pairs; PATH defaults to a standard one when unset.
	Env []string
	// WorkingDir is the working directory; empty means "/".
	WorkingDir string
	// RepoTag names the image, such as "ghcr.io/gitsync/sync-job:v0.1.0".
	RepoTag string
	// Platform is the image's platform; empty means linux/amd64.
	Platform *v1.Platform
}

// epoch is the fixed time written for every file and for the image itself.
var epoch = time.Unix(0, 0).UTC()

// Build returns the image described by opts.
func Build(opts Options) (v1.Image, error) {
	layerTar, err := layerTarball(opts)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (rc ioReadCloser, err error) {
		return nopCloser{bytes.NewReader(layerTar)}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	platform := opts.Platform
	if platform == nil {
		platform = &v1.Platform{OS: "linux", Architecture: "amd64"}
	}
	cf.OS, cf.Architecture, cf.Variant = platform.OS, platform.Architecture, platform.Variant
	cf.Created = v1.Time{Time: epoch}
	cf.Config.Entrypoint = opts.Entrypoint
	cf.Config.User = opts.User
	cf.Config.WorkingDir = opts.WorkingDir
	env := opts.Env
	hasPath := false
	for _, e := range env {
		hasPath = hasPath || strings.HasPrefix(e, "PATH=")
	}
	if !hasPath {
		env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, env...)
	}
	cf.Config.Env = env
	cf.History = nil
	return mutate.ConfigFile(img, cf)
}

// WriteTarball builds the image and writes it to path; it returns the
// manifest digest ("sha256:...").
func WriteTarball(path string, opts Options) (string, error) {
	img, err := Build(opts)
	if err != nil {
		return "", err
	}
	data, digest, err := archive(img, opts.RepoTag)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return "", err
	}
	return digest, nil
}

// layerTarball returns the single layer as an uncompressed tar.
func layerTarball(opts Options) ([]byte, error) {
	dirs := map[string]int64{}
	for d, mode := range opts.Dirs {
		dirs[path.Clean(d)] = mode
	}
	files := map[string]File{}
	for _, f := range opts.Files {
		p := path.Clean(f.Path)
		if !path.IsAbs(p) || p == "/" {
			return nil, fmt.Errorf("%s: file path must be absolute", f.Path)
		}
		if _, dup := files[p]; dup {
			return nil, fmt.Errorf("%s: file given twice", f.Path)
		}
		files[p] = f
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if _, ok := dirs[d]; !ok {
				dirs[d] = 0o755
			}
		}
	}
	names := make([]string, 0, len(dirs)+len(files))
	for d := range dirs {
		names = append(names, d)
	}
	for p := range files {
		if _, clash := dirs[p]; clash {
			return nil, fmt.Errorf("%s: both a file and a directory", p)
		}
		names = append(names, p)
	}
	sort.Strings(names)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range names {
		hdr := &tar.Header{Name: strings.TrimPrefix(name, "/"), ModTime: epoch, Format: tar.FormatPAX}
		if f, ok := files[name]; ok {
			hdr.Typeflag, hdr.Size, hdr.Mode = tar.TypeReg, int64(len(f.Content)), f.Mode
			if hdr.Mode == 0 {
				hdr.Mode = 0o644
			}
			if err := tw.WriteHeader(hdr); err != nil {
				return nil, err
			}
			if _, err := tw.Write(f.Content); err != nil {
				return nil, err
			}
			continue
		}
		hdr.Typeflag, hdr.Mode, hdr.Name = tar.TypeDir, dirs[name], hdr.Name+"/"
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
