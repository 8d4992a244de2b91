package helm

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/gitsync/gitsync/pkg/redact"
	"github.com/gitsync/gitsync/pkg/source"
)

// Defaults of ChartSource.
const (
	// DefaultTimeout bounds one repository operation (the index download
	// or tag listing of Resolve, the download of Fetch), as Flux's
	// default.
	DefaultTimeout = 60 * time.Second
	// DefaultMaxIndexSize caps the bytes of an index.yaml Resolve reads.
	DefaultMaxIndexSize = 256 << 20
	// DefaultMaxChartSize caps the bytes of a packaged chart Fetch
	// downloads. Helm itself refuses charts that unpack to more than
	// 100 MiB.
	DefaultMaxChartSize = 64 << 20
	// DefaultVersion is the constraint used when ChartSource.Version is
	// empty: the highest stable version.
	DefaultVersion = "*"
)

// ChartSource says where a chart comes from. Only URL is required (and
// Chart for https:// and http:// repositories).
type ChartSource struct {
	// URL is https://host/path for a repository serving
	// host/path/index.yaml (http:// needs Insecure), or
	// oci://host[:port]/path for an OCI registry.
	URL string
	// Chart is the chart's name. For oci:// the chart's repository is
	// URL/Chart, or URL itself when Chart is empty.
	Chart string
	// Version is an exact version or a Masterminds/semver/v3 constraint;
	// the highest version satisfying it wins. Default DefaultVersion.
	Version string
	// Auth holds credentials and TLS settings: Username and Password or
	// BearerToken, CertPEM and KeyPEM, CAPEM, and for OCI
	// DockerConfigJSON. Default: anonymous, system roots.
	Auth source.Credentials
	// PassCredentials sends the credentials also to a chart URL, or a
	// redirect, whose scheme, host or port differs from URL's. Default
	// false: such requests are anonymous (TLS settings still apply).
	// Credentials never follow a redirect from https to http, which is
	// refused.
	PassCredentials bool
	// Insecure permits an http:// URL, and plain HTTP to an oci://
	// registry. It never disables TLS verification. Default false: an
	// OCI registry is only spoken to over HTTPS.
	Insecure bool
	// Timeout bounds each network operation. Default DefaultTimeout.
	Timeout time.Duration
	// MaxIndexSize caps the index Resolve reads. Default
	// DefaultMaxIndexSize.
	MaxIndexSize int64
	// MaxChartSize caps the chart Fetch downloads. Default
	// DefaultMaxChartSize.
	MaxChartSize int64
	// UserAgent is sent with every request. Default "gitsync".
	UserAgent string
	// Digest pins an OCI chart to a manifest digest ("sha256:<hex>"),
	// with Version an exact version (see PinChart): Resolve checks that
	// the registry has that manifest instead of listing tags, and Fetch
	// fetches it even if the tag was moved since. Only for oci:// URLs.
	// Default: follow the tags.
	Digest string
}

// Resolved is the chart version Resolve selected: what Fetch downloads and
// what a run records.
type Resolved struct {
	// Chart is the chart's name.
	Chart string
	// Version is the selected chart version, as the repository lists it.
	Version string
	// Revision identifies what was selected, in Flux's format: the version
	// for an HTTP repository, "<version>@sha256:<hex>" (the manifest
	// digest) for OCI.
	Revision string
	// Digest is "sha256:<hex>": for HTTP the digest of the packaged chart
	// the index announces ("" when the index has none), for OCI the
	// manifest digest. Fetch verifies it.
	Digest string
	// URL is the absolute URL of the packaged chart (HTTP), or the
	// reference registry/repository@sha256:... of its manifest (OCI).
	URL string
	// IndexBytes is the size of the index read (HTTP only).
	IndexBytes int64
}

// isOCI reports whether src names an OCI registry.
func (src *ChartSource) isOCI() bool { return strings.HasPrefix(src.URL, "oci://") }

// where names the source in messages: the URL as given, redacted, and
// the chart.
func (src *ChartSource) where() string {
	if src.Chart == "" {
		return redact.URL(src.URL)
	}
	return redact.URL(src.URL) + " chart " + src.Chart
}

func (src *ChartSource) timeout() time.Duration { return cmp.Or(src.Timeout, DefaultTimeout) }
func (src *ChartSource) maxIndexSize() int64    { return cmp.Or(src.MaxIndexSize, DefaultMaxIndexSize) }
func (src *ChartSource) maxChartSize() int64    { return cmp.Or(src.MaxChartSize, DefaultMaxChartSize) }
func (src *ChartSource) userAgent() string      { return cmp.Or(src.UserAgent, "gitsync") }

// chartNameRE keeps names out that could change a URL or path built from
// them.
var chartNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.+-]*$`)

// check validates src and returns its version constraint.
func (src *ChartSource) check() (*semver.Constraints, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s: %s: %w", src.where(), fmt.Sprintf(format, args...), ErrInvalidOptions)
	}
	switch {
	case strings.HasPrefix(src.URL, "https://"), src.isOCI():
	case strings.HasPrefix(src.URL, "http://"):
		if !src.Insecure {
			return nil, fail("plain http:// needs Insecure")
		}
	default:
		return nil, fail("the URL must start with https:// or oci://")
	}
	if src.Chart == "" && !src.isOCI() {
		return nil, fail("a chart name is required")
	}
	if src.Chart != "" && !chartNameRE.MatchString(src.Chart) {
		return nil, fail("chart name %q is not valid", src.Chart)
	}
	c, err := semver.NewConstraint(cmp.Or(src.Version, DefaultVersion))
	if err != nil {
		return nil, fail("version %q: %v", src.Version, err)
	}
	if err := checkCredentials(src.Auth); err != nil {
		return nil, fail("%v", err)
	}
	if src.Digest != "" {
		if !src.isOCI() {
			return nil, fail("a digest pins OCI charts only")
		}
		if _, err := v1.NewHash(src.Digest); err != nil {
			return nil, fail("digest %q: %v", src.Digest, err)
		}
		if _, err := semver.StrictNewVersion(strings.TrimPrefix(src.Version, "v")); err != nil {
			return nil, fail("a digest needs an exact version, not %q", src.Version)
		}
	}
	return c, nil
}

// Resolve finds the highest version of the chart that satisfies
// src.Version, without downloading the chart: for an HTTP repository it
// reads index.yaml once, streaming, keeping only the chart's entries; for
// OCI it lists the repository's tags and resolves the chosen tag's manifest
// digest with a HEAD request. Nothing is cached: every call asks the
// repository.
func Resolve(ctx context.Context, src ChartSource) (*Resolved, error) {
	c, err := src.check()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, src.timeout())
	defer cancel()
	if src.isOCI() {
		return resolveOCI(ctx, &src, c)
	}
	return resolveHTTP(ctx, &src, c)
}

// Fetch downloads the chart res names (as Resolve returned it for src) into
// dir, at most src.MaxChartSize bytes, verifies its digest, checks that it
// is a packaged chart of the expected name and version (its Chart.yaml;
// Render loads the rest), and returns the path of the packaged chart
// (.tgz) for Render.
func Fetch(ctx context.Context, src ChartSource, res *Resolved, dir string) (path string, err error) {
	defer func() { err = redact.Error(err) }()
	if _, err := src.check(); err != nil {
		return "", err
	}
	if res == nil || res.URL == "" || res.Version == "" {
		return "", fmt.Errorf("%s: nothing resolved to fetch: %w", src.where(), ErrInvalidOptions)
	}
	ctx, cancel := context.WithTimeout(ctx, src.timeout())
	defer cancel()
	name := cmp.Or(res.Chart, src.Chart, "chart")
	path = filepath.Join(dir, name+"-"+strings.ReplaceAll(res.Version, "/", "_")+".tgz")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("%s: %w", src.where(), err)
	}
	if src.isOCI() {
		err = fetchOCI(ctx, &src, res, f)
	} else {
		err = fetchHTTP(ctx, &src, res, f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return "", err
	}
	ch, err := packagedChart(path)
	if err != nil {
		_ = os.Remove(path)
		return "", fmt.Errorf("%s %s: not a packaged chart: %w: %w", src.where(), res.Version, ErrInvalidChart, err)
	}
	if ch.Version != res.Version || (res.Chart != "" && ch.Name != res.Chart) {
		_ = os.Remove(path)
		return "", fmt.Errorf("%s %s: the package holds chart %s version %s: %w",
			src.where(), res.Version, ch.Name, ch.Version, ErrInvalidChart)
	}
	return path, nil
}

// candidate is one available version.
type candidate struct {
	raw string // as listed (OCI: the tag)
	v   *semver.Version
}

// pickVersion returns the highest of versions satisfying c. Versions that
// compare equal (1.0.0 and v1.0.0, or differing only in build metadata)
// are ordered by their text, so the choice is stable. Entries that are not
// versions are ignored, as Helm ignores them.
func pickVersion(c *semver.Constraints, versions []candidate, what string) (candidate, error) {
	var best *candidate
	for i := range versions {
		cand := &versions[i]
		if !c.Check(cand.v) {
			continue
		}
		if best == nil {
			best = cand
			continue
		}
		if d := cand.v.Compare(best.v); d > 0 || d == 0 && cand.raw > best.raw {
			best = cand
		}
	}
	if best != nil {
		return *best, nil
	}
	sorted := slices.Clone(versions)
	slices.SortFunc(sorted, func(a, b candidate) int { return b.v.Compare(a.v) })
	names := make([]string, len(sorted))
	for i, s := range sorted {
		names[i] = s.v.Original()
	}
	return candidate{}, fmt.Errorf("%s: no version satisfies %q (available: %s): %w",
		what, c.String(), summarize(names), ErrVersionNotFound)
}

// summarize lists the first ten names for an error message.
func summarize(names []string) string {
	const limit = 10
	switch {
	case len(names) == 0:
		return "none"
	case len(names) <= limit:
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:limit], ", ") + " and " + strconv.Itoa(len(names)-limit) + " more"
}

// limitedCopy copies at most limit bytes from r to w and fails with
// ErrTooLarge if r holds more.
func limitedCopy(w io.Writer, r io.Reader, limit int64) (int64, error) {
	n, err := io.Copy(w, io.LimitReader(r, limit+1))
	if err != nil {
		return n, err
	}
	if n > limit {
		return n, fmt.Errorf("more than %d bytes: %w", limit, ErrTooLarge)
	}
	return n, nil
}
