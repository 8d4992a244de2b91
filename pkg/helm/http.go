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

	"github.com/gitsync/gitsync/pkg/redact"
)

// httpClient returns a client with src's TLS settings that follows
// redirects by the rules of followRedirect.
func httpClient(src *ChartSource) (*http.Client, error) {
	t, err := newTransport(src.Auth)
	if err != nil {
		return nil, fmt.Errorf("%s: %v: %w", src.where(), err, ErrInvalidOptions)
	}
	repo, err := url.Parse(src.URL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src.where(), ErrInvalidOptions)
	}
	return &http.Client{Transport: t, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		return followRedirect(src, repo, req, via)
	}}, nil
}

// maxRedirects is how many redirects one request follows, as Go's default.
const maxRedirects = 10

// followRedirect decides about one redirect, req, after the requests via:
//
//   - from https to plain http it is refused: the content (and anything
//     sent along) would travel unprotected, and an index or chart is not
//     to be trusted after that;
//   - credentials go along only when the first request carried them and
//     req goes to the repository's own scheme, host and port, or anywhere
//     when PassCredentials is set (Flux's meaning of it).
//
// Go's own rule would keep the Authorization header on a redirect to any
// port or scheme of the same host name, and to its subdomains.
func followRedirect(src *ChartSource, repo *url.URL, req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	for _, prev := range via {
		if prev.URL.Scheme == "https" && req.URL.Scheme != "https" {
			return fmt.Errorf("redirect from %s to %s refused: it leaves HTTPS", redact.URL(prev.URL.String()), redact.URL(req.URL.String()))
		}
	}
	req.Header.Del("Authorization")
	if via[0].Header.Get("Authorization") != "" && (src.PassCredentials || sameOrigin(req.URL, repo)) {
		setAuthHeader(src.Auth, req)
	}
	return nil
}

// sameOrigin reports whether a and b have the same scheme, host and port
// (the scheme's default port when none is given).
func sameOrigin(a, b *url.URL) bool {
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		switch strings.ToLower(u.Scheme) {
		case "https":
			return "443"
		case "http":
			return "80"
		}
		return ""
	}
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
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
		setAuthHeader(src.Auth, req)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, redact.Error(err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	_ = resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return nil, fmt.Errorf("GET %s: %s: %w", redact.URL(u), resp.Status, ErrAuthentication)
	}
	return nil, fmt.Errorf("GET %s: %s", redact.URL(u), resp.Status)
}

// resolveHTTP reads the repository's index and selects a version.
func resolveHTTP(ctx context.Context, src *ChartSource, c *semver.Constraints) (*Resolved, error) {
	client, err := httpClient(src)
	if err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(src.URL, "/") + "/"
	indexURL := base + "index.yaml"
	index, err := openIndex(ctx, client, src, indexURL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src.where(), err)
	}
	defer index.Close()
	entries, st, err := readIndex(index, src.Chart, src.maxIndexSize())
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
		return nil, fmt.Errorf("%s %s: chart URL %q: %w", src.where(), e.Version, redact.URL(e.URLs[0]), redact.Error(err))
	}
	res := &Resolved{Chart: src.Chart, Version: e.Version, Revision: e.Version, URL: chartURL, IndexBytes: st.Bytes}
	if d := strings.TrimPrefix(e.Digest, "sha256:"); d != "" {
		res.Digest = "sha256:" + strings.ToLower(d)
	}
	return res, nil
}

// openIndex returns the repository's index: read through the run's
// IndexCache when ctx carries one (one download per repository and run),
// else straight from the server.
func openIndex(ctx context.Context, client *http.Client, src *ChartSource, indexURL string) (io.ReadCloser, error) {
	c := indexCacheFrom(ctx)
	if c == nil {
		resp, err := getIndex(ctx, client, src, indexURL)
		if err != nil {
			return nil, err
		}
		return resp.Body, nil
	}
	return c.open(ctx, indexKey(src, indexURL), func(ctx context.Context, w io.Writer) error {
		resp, err := getIndex(ctx, client, src, indexURL)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := limitedCopy(w, resp.Body, src.maxIndexSize()); err != nil {
			return fmt.Errorf("index.yaml: %w", redact.Error(err))
		}
		return nil
	})
}

// getIndex requests the index, refusing one that announces more than
// src's cap.
func getIndex(ctx context.Context, client *http.Client, src *ChartSource, indexURL string) (*http.Response, error) {
	resp, err := get(ctx, client, src, indexURL, true)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > src.maxIndexSize() {
		_ = resp.Body.Close()
		return nil, fmt.Errorf("index.yaml has %d bytes, more than %d: %w", resp.ContentLength, src.maxIndexSize(), ErrTooLarge)
	}
	return resp, nil
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
		return fmt.Errorf("%s %s: chart URL %s: %w", src.where(), res.Version, redact.URL(res.URL), ErrInvalidOptions)
	}
	if u.Scheme == "http" && !src.Insecure {
		return fmt.Errorf("%s %s: chart URL %s is plain http: %w", src.where(), res.Version, redact.URL(res.URL), ErrInvalidOptions)
	}
	repo, err := url.Parse(src.URL)
	if err != nil {
		return fmt.Errorf("%s: %w", src.where(), ErrInvalidOptions)
	}
	// Credentials go only to the repository's own scheme, host and port,
	// unless the spec says otherwise: an index may point anywhere.
	withAuth := src.PassCredentials || sameOrigin(u, repo)
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
		return fmt.Errorf("%s %s: download %s: %w", src.where(), res.Version, redact.URL(res.URL), err)
	}
	if res.Digest != "" {
		got := "sha256:" + hex.EncodeToString(h.Sum(nil))
		if got != res.Digest {
			return fmt.Errorf("%s %s: the chart has digest %s, the index says %s: %w", src.where(), res.Version, got, res.Digest, ErrDigestMismatch)
		}
	}
	return nil
}
