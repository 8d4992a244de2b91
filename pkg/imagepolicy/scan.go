package imagepolicy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/gitsync/gitsync/pkg/source/registry"
)

// Scan defaults.
const (
	// DefaultPageSize is the number of tags asked for per request.
	DefaultPageSize = 1000
	// DefaultMaxTags caps the tags read from one repository.
	DefaultMaxTags = 10000
)

// ErrTooManyTags says a repository holds more tags than ScanOptions.MaxTags.
var ErrTooManyTags = errors.New("too many tags")

// ScanOptions says how to list a repository's tags.
type ScanOptions struct {
	// Client holds the credentials, TLS settings and Insecure. Default:
	// anonymous HTTPS.
	Client registry.Client
	// PageSize is the number of tags per request. Default DefaultPageSize.
	PageSize int
	// MaxTags fails the scan when the repository holds more tags.
	// Default DefaultMaxTags.
	MaxTags int
	// ETags, when set, are the ETags of the pages of the last listing
	// (Listing.ETags): each page is asked for with If-None-Match, and when
	// the registry answers every one 304 Not Modified (and the last page
	// still has no next) the scan ends with Listing.NotModified. Any other
	// answer lists the tags again, unconditionally.
	ETags []string
}

// Listing is what Scan read.
type Listing struct {
	// Tags are the tags in the registry's order; nil when NotModified.
	Tags []string
	// NotModified tells that the registry answered ScanOptions.ETags
	// with 304 Not Modified: the tags are those of the last listing.
	NotModified bool
	// ETags are the registry's ETags of the listing's pages, in order;
	// nil when a page came without one.
	ETags []string
	// Digest is the hex SHA-256 of the tags as listed, truncated to 64
	// bits (it tells an unchanged listing apart, it guards nothing); ""
	// when NotModified.
	Digest string
	// Requests counts the tag list requests made.
	Requests int
}

// ParseImage returns the repository of an ImageRepository's image field
// ("ghcr.io/org/app", "nginx" for Docker Hub's library/nginx). The image
// holds no tag or digest.
func ParseImage(image string, insecure bool) (name.Repository, error) {
	opts := []name.Option{name.StrictValidation}
	if insecure {
		opts = append(opts, name.Insecure)
	}
	repo, err := name.NewRepository(image, opts...)
	if err != nil {
		if _, terr := name.NewTag(image, name.StrictValidation); terr == nil {
			return name.Repository{}, fmt.Errorf("image %q names a tag or digest: give the repository only", image)
		}
		return name.Repository{}, fmt.Errorf("image %q is not a valid repository", image)
	}
	return repo, nil
}

// ListTags lists the tags of repo page by page (the registry's Link
// header), failing with ErrTooManyTags beyond opts.MaxTags. Errors of the
// registry are classified by registry.Error (401/403 wrap
// source.ErrAuthentication).
//
// The pages are fetched here rather than by go-containerregistry's
// Lister, which refuses an https next-page link from a registry on a
// loopback or private address (it assumes plain HTTP there).
func ListTags(ctx context.Context, repo name.Repository, opts ScanOptions) ([]string, error) {
	opts.ETags = nil
	l, err := Scan(ctx, repo, opts)
	if err != nil {
		return nil, err
	}
	return l.Tags, nil
}

// Scan is ListTags, conditional on opts.ETags, returning the listing's
// ETags and digest, by which the next scan tells it is unchanged.
func Scan(ctx context.Context, repo name.Repository, opts ScanOptions) (*Listing, error) {
	l, err := listTags(ctx, repo, opts)
	if err != nil {
		return nil, fmt.Errorf("list tags of %s: %w", repo, registry.Error(err))
	}
	return l, nil
}

// TagsDigest returns Listing.Digest of tags.
func TagsDigest(tags []string) string {
	h := sha256.New()
	for _, t := range tags {
		_, _ = io.WriteString(h, t)
		_, _ = h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

func listTags(ctx context.Context, repo name.Repository, opts ScanOptions) (*Listing, error) {
	page, limit := opts.PageSize, opts.MaxTags
	if page <= 0 {
		page = DefaultPageSize
	}
	if limit <= 0 {
		limit = DefaultMaxTags
	}
	rt, err := opts.Client.Transport()
	if err != nil {
		return nil, err
	}
	auth, err := opts.Client.Authenticator(repo.RegistryStr())
	if err != nil {
		return nil, err
	}
	scheme := "https"
	if opts.Client.Insecure {
		scheme = "http"
	}
	rt, err = transport.NewWithContext(ctx, schemed(repo.Registry, scheme), auth, rt, []string{repo.Scope(transport.PullScope)})
	if err != nil {
		return nil, err
	}
	client := &http.Client{Transport: rt}
	first := &url.URL{Scheme: scheme, Host: repo.RegistryStr(), Path: "/v2/" + repo.RepositoryStr() + "/tags/list",
		RawQuery: "n=" + strconv.Itoa(page)}
	requests := 0
	if len(opts.ETags) > 0 {
		same, n, err := unchanged(ctx, client, first, opts.ETags)
		requests = n
		if err != nil {
			return nil, err
		}
		if same {
			return &Listing{NotModified: true, ETags: opts.ETags, Requests: n}, nil
		}
	}
	l := &Listing{Tags: []string{}, Requests: requests}
	complete := true
	for next := first; next != nil; {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, next.String(), nil)
		if err != nil {
			return nil, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		l.Requests++
		var body struct {
			Tags []string `json:"tags"`
		}
		err = transport.CheckError(resp, http.StatusOK)
		if err == nil {
			err = json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&body)
		}
		link, etag := resp.Header.Get("Link"), resp.Header.Get("ETag")
		_ = resp.Body.Close()
		if err != nil {
			return nil, err
		}
		complete = complete && etag != ""
		l.ETags = append(l.ETags, etag)
		l.Tags = append(l.Tags, body.Tags...)
		if len(l.Tags) > limit {
			return nil, fmt.Errorf("%w: more than %d", ErrTooManyTags, limit)
		}
		if next, err = nextPage(next, link); err != nil {
			return nil, err
		}
	}
	if !complete {
		l.ETags = nil
	}
	l.Digest = TagsDigest(l.Tags)
	return l, nil
}

// unchanged asks for the pages from first on, each with If-None-Match
// its ETag of etags, and reports whether the registry answered every one
// 304 with a next-page link to the following one, and none after the
// last; n counts the requests. It stops at the first other answer.
func unchanged(ctx context.Context, client *http.Client, first *url.URL, etags []string) (same bool, n int, err error) {
	next := first
	for i, etag := range etags {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, next.String(), nil)
		if err != nil {
			return false, n, err
		}
		req.Header.Set("If-None-Match", etag)
		resp, err := client.Do(req)
		if err != nil {
			return false, n, err
		}
		n++
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusNotModified {
			if resp.StatusCode == http.StatusOK {
				return false, n, nil
			}
			return false, n, transport.CheckError(resp, http.StatusOK)
		}
		link := resp.Header.Get("Link")
		if i == len(etags)-1 {
			return link == "", n, nil
		}
		if next, err = nextPage(next, link); err != nil || next == nil {
			// A 304 need not repeat the Link header: list again.
			return false, n, nil
		}
	}
	return false, n, nil
}

// schemed returns reg, insecure (plain HTTP) only when scheme is http.
func schemed(reg name.Registry, scheme string) name.Registry {
	if scheme == "http" {
		r, err := name.NewRegistry(reg.RegistryStr(), name.Insecure)
		if err == nil {
			return r
		}
	}
	return reg
}

// nextPage returns the target of a Link header `<URL>; rel="next"`,
// resolved against cur and kept on cur's host and scheme, or nil.
func nextPage(cur *url.URL, link string) (*url.URL, error) {
	if link == "" {
		return nil, nil
	}
	target, _, _ := strings.Cut(link, ";")
	target = strings.TrimSpace(target)
	target = strings.TrimSuffix(strings.TrimPrefix(target, "<"), ">")
	u, err := cur.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("invalid next-page link: %w", err)
	}
	if u.Host != cur.Host || u.Scheme != cur.Scheme {
		return nil, errors.New("the next-page link leaves the registry")
	}
	return u, nil
}
