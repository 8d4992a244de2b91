package helm

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/gitsync/gitsync/pkg/source"
)

// NewSource returns the chart src names as a source.Source. Resolve is
// Resolve; Fetch downloads the chart of the revision Resolve returned
// (without asking the repository again) into dir, and the artifact's Path
// names the packaged chart. It is a source.ContentDigester: an HTTP
// repository's revision is the chart version alone, and the package
// digest its index announces joins the run's input digest, so a chart
// republished under the same version is rendered again.
func NewSource(src ChartSource) source.Source {
	return &chartSource{src: src}
}

// PinChart returns src pinned to rev, a revision a run recorded (a
// rollback): its version exactly and, for OCI, its manifest digest, so
// that Fetch fetches that content even if a tag was moved since.
func PinChart(src ChartSource, rev source.Revision) (ChartSource, error) {
	version := rev.Name()
	if version == "" {
		return src, fmt.Errorf("revision %q names no chart version: %w", rev, ErrInvalidOptions)
	}
	src.Version = version
	if src.isOCI() {
		src.Digest = rev.Digest()
	}
	return src, nil
}

// chartSource is a chart as a source.Source.
type chartSource struct {
	src ChartSource

	mu   sync.Mutex
	last *Resolved // what the last Resolve returned
}

// Resolve selects the chart version and remembers what it selected.
func (c *chartSource) Resolve(ctx context.Context) (source.Revision, error) {
	res, err := Resolve(ctx, c.src)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.last = res
	c.mu.Unlock()
	return source.Revision(res.Revision), nil
}

// resolved returns what the last Resolve selected if it was rev.
func (c *chartSource) resolved(rev source.Revision) *Resolved {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last != nil && source.Revision(c.last.Revision) == rev {
		return c.last
	}
	return nil
}

// ContentDigest returns the digest Resolve learned for rev: the package
// digest of an HTTP index entry, the manifest digest of an OCI chart.
func (c *chartSource) ContentDigest(rev source.Revision) string {
	if res := c.resolved(rev); res != nil {
		return res.Digest
	}
	return ""
}

// Fetch downloads the chart of rev into dir.
func (c *chartSource) Fetch(ctx context.Context, rev source.Revision, dir string) (*source.Artifact, error) {
	src, res := c.src, c.resolved(rev)
	if res == nil {
		// A revision Resolve did not return: resolve it pinned.
		pinned, err := PinChart(c.src, rev)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.src.where(), err)
		}
		if res, err = Resolve(ctx, pinned); err != nil {
			return nil, err
		}
		if source.Revision(res.Revision) != rev {
			return nil, fmt.Errorf("%s: revision %s resolves to %s: %w", c.src.where(), rev, res.Revision, ErrVersionNotFound)
		}
		src = pinned
	}
	path, err := Fetch(ctx, src, res, dir)
	if err != nil {
		return nil, err
	}
	rel, err := filepath.Rel(dir, path)
	if err != nil {
		return nil, err
	}
	return &source.Artifact{Dir: dir, Path: filepath.ToSlash(rel), Revision: rev}, nil
}
