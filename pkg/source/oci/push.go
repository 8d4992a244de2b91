package oci

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/gitsync/gitsync/pkg/redact"
	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/source/registry"
)

// PushOptions say what Push packs and where it pushes it. URL and Path
// are required.
type PushOptions struct {
	// URL is oci://host[:port]/path:tag, the tag the artifact is pushed
	// to.
	URL string
	// Path is the directory packed, or a single file (packed as the only
	// file of a directory, as Flux does).
	Path string
	// Source and Revision are recorded in the annotations
	// AnnotationSource and AnnotationRevision: where the content came
	// from and its revision there (a Git URL and "main@sha1:<hex>").
	Source, Revision string
	// Annotations are added to the manifest's; they win over the three
	// above.
	Annotations map[string]string
	// Ignore are patterns in .gitignore syntax, relative to Path, of
	// files and directories left out (Flux's --ignore-paths).
	Ignore []string
	// Created is recorded as AnnotationCreated and in the config.
	// Default: now.
	Created time.Time
	// Client reaches the registry: its login, TLS settings, Keychain and
	// Insecure.
	Client registry.Client
}

// Pushed is what Push pushed.
type Pushed struct {
	// Ref is host/path@sha256:<hex>: the artifact by digest.
	Ref string
	// Digest is the manifest digest.
	Digest string
	// Tag is the tag pushed to.
	Tag string
	// Size is the layer's size in bytes (compressed).
	Size int64
}

// ParseReference returns the reference an oci://host[:port]/path:tag or
// ...@sha256:<hex> URL names.
func ParseReference(url string, insecure bool) (name.Reference, error) {
	s, ok := strings.CutPrefix(url, registry.Scheme)
	if !ok {
		return nil, errors.New("the URL must start with " + registry.Scheme)
	}
	if host, _, _ := strings.Cut(s, "/"); strings.Contains(host, "@") {
		return nil, errors.New("credentials belong in a Secret or --creds, not in the URL")
	}
	opts := []name.Option{name.StrictValidation}
	if insecure {
		opts = append(opts, name.Insecure)
	}
	ref, err := name.ParseReference(s, opts...)
	if err != nil {
		return nil, errors.New("not oci://host[:port]/path:tag or oci://host[:port]/path@sha256:<hex>")
	}
	return ref, nil
}

// Push packs o.Path in Flux's format (see the package documentation) and
// pushes it to the tag o.URL names. Packing is reproducible: the tar
// headers carry no owners and no times, so that equal content gives an
// equal layer digest (the manifest still differs by its created time).
func Push(ctx context.Context, o PushOptions) (_ *Pushed, err error) {
	where := redact.URL(o.URL)
	defer func() { err = redact.Error(err) }()
	ref, err := ParseReference(o.URL, o.Client.Insecure)
	if err != nil {
		return nil, fmt.Errorf("%s: %v: %w", where, err, source.ErrInvalidOptions)
	}
	tag, ok := ref.(name.Tag)
	if !ok {
		return nil, fmt.Errorf("%s: push to a tag (oci://host/path:tag), not a digest: %w", where, source.ErrInvalidOptions)
	}
	tmp, err := os.CreateTemp("", "gitsync-push-*.tgz")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if err := Pack(ctx, o.Path, o.Ignore, tmp); err != nil {
		_ = tmp.Close()
		return nil, fmt.Errorf("%s: %w", o.Path, err)
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromFile(tmp.Name(), tarball.WithMediaType(ContentMediaType), tarball.WithCompressedCaching)
	if err != nil {
		return nil, err
	}
	created := o.Created
	if created.IsZero() {
		created = time.Now()
	}
	created = created.UTC().Truncate(time.Second)
	img, err := artifactImage(layer, created, annotations(o, created))
	if err != nil {
		return nil, err
	}
	ropts, err := o.Client.Options(ctx, tag.Context())
	if err != nil {
		return nil, fmt.Errorf("%s: %v: %w", where, err, source.ErrInvalidOptions)
	}
	if err := remote.Write(tag, img, ropts...); err != nil {
		return nil, fmt.Errorf("%s: push: %w", where, registry.Error(err))
	}
	d, err := img.Digest()
	if err != nil {
		return nil, err
	}
	size, err := layer.Size()
	if err != nil {
		return nil, err
	}
	return &Pushed{Ref: tag.Context().Digest(d.String()).String(), Digest: d.String(), Tag: tag.TagStr(), Size: size}, nil
}

// annotations returns the manifest annotations of a push.
func annotations(o PushOptions, created time.Time) map[string]string {
	a := map[string]string{AnnotationCreated: created.Format(time.RFC3339)}
	if o.Source != "" {
		a[AnnotationSource] = o.Source
	}
	if o.Revision != "" {
		a[AnnotationRevision] = o.Revision
	}
	maps.Copy(a, o.Annotations)
	return a
}

// artifactImage is the artifact of layer: an OCI manifest whose config,
// of ConfigMediaType, is the empty image's config with the creation time
// (as Flux writes it).
func artifactImage(layer v1.Layer, created time.Time, ann map[string]string) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, ConfigMediaType)
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg.Created = v1.Time{Time: created}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return nil, err
	}
	img, ok := mutate.Annotations(img, ann).(v1.Image)
	if !ok {
		return nil, errors.New("annotating the artifact failed")
	}
	return mutate.Append(img, mutate.Addendum{Layer: layer})
}

// Pack writes path (a directory, or one file) to w as a gzip-compressed
// tar, as Flux packs artifacts: the root as ".", then every directory and
// regular file by its slash-separated path; symlinks and other types are
// left out; owners, names and times are cleared. ignore are .gitignore
// patterns of what is left out.
func Pack(ctx context.Context, path string, ignore []string, w io.Writer) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	root := path
	if !fi.IsDir() {
		// One file: packed as the only file of a directory.
		stage, err := os.MkdirTemp("", "gitsync-pack-")
		if err != nil {
			return err
		}
		defer func() { _ = os.RemoveAll(stage) }()
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(stage, fi.Name()), data, fi.Mode().Perm()); err != nil {
			return err
		}
		root = stage
	}
	var patterns []gitignore.Pattern
	for _, p := range ignore {
		if p = strings.TrimSpace(p); p != "" && !strings.HasPrefix(p, "#") {
			patterns = append(patterns, gitignore.ParsePattern(p, nil))
		}
	}
	matcher := gitignore.NewMatcher(patterns)
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if t := d.Type(); !t.IsDir() && !t.IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel != "." && matcher.Match(strings.Split(rel, "/"), d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name = rel
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		hdr.ModTime, hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}, time.Time{}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		_, err = io.Copy(tw, f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	})
	if cerr := tw.Close(); err == nil {
		err = cerr
	}
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	return err
}

// TagOptions say which artifact Tag tags.
type TagOptions struct {
	// URL is oci://host[:port]/path:tag or ...@sha256:<hex>: the
	// artifact to tag.
	URL string
	// Tag is the new tag, in the same repository.
	Tag string
	// Client reaches the registry.
	Client registry.Client
}

// Tag tags the artifact o.URL names with o.Tag and returns the new
// reference (host/path:tag) and the manifest digest. The manifest is not
// downloaded again: the tag points at the same bytes.
func Tag(ctx context.Context, o TagOptions) (ref, digest string, err error) {
	where := redact.URL(o.URL)
	defer func() { err = redact.Error(err) }()
	src, err := ParseReference(o.URL, o.Client.Insecure)
	if err != nil {
		return "", "", fmt.Errorf("%s: %v: %w", where, err, source.ErrInvalidOptions)
	}
	if !ociTag().MatchString(o.Tag) {
		return "", "", fmt.Errorf("tag %q is not a valid tag: %w", o.Tag, source.ErrInvalidOptions)
	}
	ropts, err := o.Client.Options(ctx, src.Context())
	if err != nil {
		return "", "", fmt.Errorf("%s: %v: %w", where, err, source.ErrInvalidOptions)
	}
	desc, err := remote.Get(src, ropts...)
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", where, registry.Error(err))
	}
	dst := src.Context().Tag(o.Tag)
	if err := remote.Tag(dst, desc, ropts...); err != nil {
		return "", "", fmt.Errorf("%s: tag %s: %w", where, o.Tag, registry.Error(err))
	}
	return dst.String(), desc.Digest.String(), nil
}
