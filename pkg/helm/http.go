package helm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// httpClient returns a client with src's TLS settings. Go drops the
// Authorization header on a redirect to another host, so credentials set
// on a request never follow it elsewhere.
func httpClient(src *ChartSource) (*http.Client, error) {
	t, err := src.Auth.transport()
	if err != nil {
		return nil, fmt.Errorf("%s: %v: %w", src.where(), err, ErrInvalidOptions)
	}
	return &http.Client{Transport: t}, nil
}

// get sends a GET for u, with credentials when withAuth, and returns the
// response of a 200; other statuses are errors naming u.
func get(ctx context.Context, client *http.Client, src *ChartSource, u string, withAuth bool) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", src.userAgent())
	if withAuth {
		src.Auth.setHeader(req)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	_ = resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return nil, fmt.Errorf("GET %s: %s: %w", redact(u), resp.Status, ErrAuthentication)
	}
	return nil, fmt.Errorf("GET %s: %s", redact(u), resp.Status)
}

// resolveHTTP reads the repository's index and selects a version.
func resolveHTTP(ctx context.Context, src *ChartSource, c *semver.Constraints) (*Resolved, error) {
	client, err := httpClient(src)
	if err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(src.URL, "/") + "/"
	indexURL := base + "index.yaml"
	resp, err := get(ctx, client, src, indexURL, true)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src.where(), err)
	}
	defer resp.Body.Close()
	if resp.ContentLength > src.maxIndexSize() {
		return nil, fmt.Errorf("%s: index.yaml has %d bytes, more than %d: %w", src.where(), resp.ContentLength, src.maxIndexSize(), ErrTooLarge)
	}
	entries, st, err := readIndex(resp.Body, src.Chart, src.maxIndexSize())
	if err != nil {
		return nil, fmt.Errorf("%s: index.yaml: %w", src.where(), err)
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("%s: the index does not list this chart (%d charts listed): %w", src.where(), st.Charts, ErrVersionNotFound)
	}
	byVersion := map[string]indexEntry{}
	var cands []candidate
	for _, e := range entries {
		if e.Removed {
			continue
		}
		v, err := semver.NewVersion(e.Version)
		if err != nil {
			continue
		}
		cands = append(cands, candidate{raw: e.Version, v: v})
		byVersion[e.Version] = e
	}
	best, err := pickVersion(c, cands, src.where())
	if err != nil {
		return nil, err
	}
	e := byVersion[best.raw]
	if len(e.URLs) == 0 {
		return nil, fmt.Errorf("%s %s: the index lists no URL for this version", src.where(), e.Version)
	}
	chartURL, err := resolveReference(base, e.URLs[0])
	if err != nil {
		return nil, fmt.Errorf("%s %s: chart URL %q: %w", src.where(), e.Version, e.URLs[0], err)
	}
	res := &Resolved{Chart: src.Chart, Version: e.Version, Revision: e.Version, URL: chartURL, IndexBytes: st.Bytes}
	if d := strings.TrimPrefix(e.Digest, "sha256:"); d != "" {
		res.Digest = "sha256:" + strings.ToLower(d)
	}
	return res, nil
}

// resolveReference resolves a chart URL of the index against the
// repository URL: relative URLs are relative to the repository, as in Helm.
func resolveReference(base, ref string) (string, error) {
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	r, err := url.Parse(ref)
	if err != nil {
		return "", err
	}
	u := b.ResolveReference(r)
	switch u.Scheme {
	case "https", "http":
	default:
		return "", fmt.Errorf("scheme %q is not supported", u.Scheme)
	}
	return u.String(), nil
}

// fetchHTTP downloads the packaged chart to w and verifies its digest.
func fetchHTTP(ctx context.Context, src *ChartSource, res *Resolved, w io.Writer) error {
	u, err := url.Parse(res.URL)
	if err != nil {
		return fmt.Errorf("%s %s: %w", src.where(), res.Version, err)
	}
	if u.Scheme == "http" && !src.Insecure {
		return fmt.Errorf("%s %s: chart URL %s is plain http: %w", src.where(), res.Version, redact(res.URL), ErrInvalidOptions)
	}
	repo, err := url.Parse(src.URL)
	if err != nil {
		return fmt.Errorf("%s: %w", src.where(), err)
	}
	// Credentials go only to the repository's own host, unless the spec
	// says otherwise: an index may point anywhere.
	withAuth := src.PassCredentials || strings.EqualFold(u.Host, repo.Host)
	client, err := httpClient(src)
	if err != nil {
		return err
	}
	resp, err := get(ctx, client, src, res.URL, withAuth)
	if err != nil {
		return fmt.Errorf("%s %s: %w", src.where(), res.Version, err)
	}
	defer resp.Body.Close()
	limit := src.maxChartSize()
	if resp.ContentLength > limit {
		return fmt.Errorf("%s %s: chart has %d bytes, more than %d: %w", src.where(), res.Version, resp.ContentLength, limit, ErrTooLarge)
	}
	h := sha256.New()
	if _, err := limitedCopy(io.MultiWriter(w, h), resp.Body, limit); err != nil {
		return fmt.Errorf("%s %s: download %s: %w", src.where(), res.Version, redact(res.URL), err)
	}
	if res.Digest != "" {
		got := "sha256:" + hex.EncodeToString(h.Sum(nil))
		if got != res.Digest {
			return fmt.Errorf("%s %s: the chart has digest %s, the index says %s: %w", src.where(), res.Version, got, res.Digest, ErrDigestMismatch)
		}
	}
	return nil
}

// redact removes credentials from a URL for messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}
