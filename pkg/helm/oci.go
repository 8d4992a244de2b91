package helm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/gitsync/gitsync/pkg/source/registry"
)

// Media types of a Helm chart stored in an OCI registry.
const (
	helmConfigMediaType      = "application/vnd.cncf.helm.config.v1+json"
	helmChartMediaType       = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
	helmLegacyChartMediaType = "application/tar+gzip"
)

// ociRepository returns the registry repository holding the chart.
func ociRepository(src *ChartSource) (name.Repository, error) {
	s := strings.TrimSuffix(strings.TrimPrefix(src.URL, "oci://"), "/")
	if src.Chart != "" {
		s += "/" + src.Chart
	}
	if host, _, _ := strings.Cut(s, "/"); strings.Contains(host, "@") {
		// go-containerregistry's message would repeat the userinfo.
		return name.Repository{}, fmt.Errorf("%s: credentials belong in the Secret, not in the URL: %w", src.where(), ErrInvalidOptions)
	}
	opts := []name.Option{name.StrictValidation}
	if src.Insecure {
		opts = append(opts, name.Insecure)
	}
	repo, err := name.NewRepository(s, opts...)
	if err != nil {
		return name.Repository{}, fmt.Errorf("%s: %v: %w", src.where(), err, ErrInvalidOptions)
	}
	return repo, nil
}

// remoteOptions returns go-containerregistry options for src.
func remoteOptions(ctx context.Context, src *ChartSource, repo name.Repository) ([]remote.Option, error) {
	c := registry.Client{Auth: src.Auth, Insecure: src.Insecure, UserAgent: src.userAgent()}
	opts, err := c.Options(ctx, repo)
	if err != nil {
		return nil, fmt.Errorf("%s: %v: %w", src.where(), err, ErrInvalidOptions)
	}
	return opts, nil
}

// registryError classifies an error of go-containerregistry.
func registryError(err error) error { return registry.Error(err) }

// resolveOCI lists the tags of the chart's repository, selects a version
// and resolves its manifest digest.
func resolveOCI(ctx context.Context, src *ChartSource, c *semver.Constraints) (*Resolved, error) {
	repo, err := ociRepository(src)
	if err != nil {
		return nil, err
	}
	opts, err := remoteOptions(ctx, src, repo)
	if err != nil {
		return nil, err
	}
	if src.Digest != "" {
		return resolveOCIDigest(src, repo, opts)
	}
	tags, err := remote.List(repo, opts...)
	if err != nil {
		var te *transport.Error
		if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
			return nil, fmt.Errorf("%s: repository %s not found: %w", src.where(), repo, ErrVersionNotFound)
		}
		return nil, fmt.Errorf("%s: list tags of %s: %w", src.where(), repo, registryError(err))
	}
	var cands []candidate
	for _, tag := range tags {
		// OCI tags cannot hold '+': Helm pushes 1.0.0+build as 1.0.0_build.
		v, err := semver.NewVersion(strings.ReplaceAll(tag, "_", "+"))
		if err != nil {
			continue
		}
		cands = append(cands, candidate{raw: tag, v: v})
	}
	best, err := pickVersion(c, cands, src.where())
	if err != nil {
		return nil, err
	}
	desc, err := remote.Head(repo.Tag(best.raw), opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: resolve %s:%s: %w", src.where(), repo, best.raw, registryError(err))
	}
	version := strings.ReplaceAll(best.raw, "_", "+")
	return &Resolved{
		Chart:    path.Base(repo.RepositoryStr()),
		Version:  version,
		Revision: version + "@" + desc.Digest.String(),
		Digest:   desc.Digest.String(),
		URL:      repo.Digest(desc.Digest.String()).String(),
	}, nil
}

// resolveOCIDigest resolves a chart pinned to a manifest digest: one HEAD
// request that checks the registry still has it.
func resolveOCIDigest(src *ChartSource, repo name.Repository, opts []remote.Option) (*Resolved, error) {
	ref := repo.Digest(src.Digest)
	desc, err := remote.Head(ref, opts...)
	if err != nil {
		var te *transport.Error
		if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
			return nil, fmt.Errorf("%s: manifest %s not found: %w", src.where(), src.Digest, ErrVersionNotFound)
		}
		return nil, fmt.Errorf("%s: resolve %s: %w", src.where(), ref, registryError(err))
	}
	if desc.Digest.String() != src.Digest {
		return nil, fmt.Errorf("%s: the registry answers digest %s for %s: %w", src.where(), desc.Digest, src.Digest, ErrDigestMismatch)
	}
	version := strings.ReplaceAll(src.Version, "_", "+")
	return &Resolved{
		Chart:    path.Base(repo.RepositoryStr()),
		Version:  version,
		Revision: version + "@" + src.Digest,
		Digest:   src.Digest,
		URL:      ref.String(),
	}, nil
}

// fetchOCI downloads the chart layer of the manifest res names to w.
func fetchOCI(ctx context.Context, src *ChartSource, res *Resolved, w io.Writer) error {
	repo, err := ociRepository(src)
	if err != nil {
		return err
	}
	if res.Digest == "" {
		return fmt.Errorf("%s %s: no manifest digest resolved: %w", src.where(), res.Version, ErrInvalidOptions)
	}
	opts, err := remoteOptions(ctx, src, repo)
	if err != nil {
		return err
	}
	where := fmt.Sprintf("%s %s", src.where(), res.Version)
	// Fetch by digest: go-containerregistry verifies that the manifest
	// has it, so what Resolve saw is what is fetched.
	desc, err := remote.Get(repo.Digest(res.Digest), opts...)
	if err != nil {
		return fmt.Errorf("%s: get manifest %s: %w", where, res.Digest, registryError(err))
	}
	m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return fmt.Errorf("%s: manifest %s: %w", where, res.Digest, err)
	}
	if string(m.Config.MediaType) != helmConfigMediaType {
		return fmt.Errorf("%s: %s is not a Helm chart (config media type %q): %w", where, res.Digest, m.Config.MediaType, ErrInvalidChart)
	}
	var layer *v1.Descriptor
	for i := range m.Layers {
		switch string(m.Layers[i].MediaType) {
		case helmChartMediaType, helmLegacyChartMediaType:
			if layer == nil {
				layer = &m.Layers[i]
			}
		}
	}
	if layer == nil {
		return fmt.Errorf("%s: manifest %s has no chart layer: %w", where, res.Digest, ErrInvalidChart)
	}
	limit := src.maxChartSize()
	if layer.Size > limit {
		return fmt.Errorf("%s: chart layer has %d bytes, more than %d: %w", where, layer.Size, limit, ErrTooLarge)
	}
	l, err := remote.Layer(repo.Digest(layer.Digest.String()), opts...)
	if err != nil {
		return fmt.Errorf("%s: chart layer: %w", where, registryError(err))
	}
	rc, err := l.Compressed()
	if err != nil {
		return fmt.Errorf("%s: chart layer: %w", where, registryError(err))
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := limitedCopy(io.MultiWriter(w, h), rc, limit); err != nil {
		return fmt.Errorf("%s: download chart layer: %w", where, registryError(err))
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != layer.Digest.String() {
		return fmt.Errorf("%s: chart layer has digest %s, the manifest says %s: %w", where, got, layer.Digest, ErrDigestMismatch)
	}
	return nil
}
