package oci

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/gitsync/gitsync/pkg/redact"
	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/source/archive"
	"github.com/gitsync/gitsync/pkg/source/registry"
)

// Flux's media types and annotations of an artifact.
const (
	// ConfigMediaType is the media type of an artifact's config.
	ConfigMediaType = "application/vnd.cncf.flux.config.v1+json"
	// ContentMediaType is the media type of the layer holding the
	// gzip-compressed tar of the content.
	ContentMediaType = "application/vnd.cncf.flux.content.v1.tar+gzip"
	// AnnotationSource names where the content came from (a Git URL).
	AnnotationSource = "org.opencontainers.image.source"
	// AnnotationRevision names the revision of that source.
	AnnotationRevision = "org.opencontainers.image.revision"
	// AnnotationCreated is when the artifact was built (RFC 3339).
	AnnotationCreated = "org.opencontainers.image.created"
)

// Layer operations, as Flux's layerSelector.operation.
const (
	// OperationExtract extracts the layer, a tar (gzip-compressed or
	// not), into the directory. It is the default.
	OperationExtract = "extract"
	// OperationCopy stores the layer's blob as it is, as one file.
	OperationCopy = "copy"
)

// Defaults of Options.
const (
	// DefaultTag is the tag Resolve follows when Ref sets nothing, as in
	// Flux.
	DefaultTag = "latest"
	// DefaultTimeout bounds Resolve and Fetch each, as Flux's default.
	DefaultTimeout = 60 * time.Second
	// DefaultMaxSize caps the layer's blob and, separately, its extracted
	// content.
	DefaultMaxSize = archive.DefaultMaxSize
	// ProviderCosign verifies cosign signatures.
	ProviderCosign = "cosign"
)

// Options say which artifact a source follows and how it is reached. Only
// URL is required.
type Options struct {
	// URL is oci://host[:port]/path, the artifact's repository, without
	// tag or digest.
	URL string
	// Ref selects the manifest. Default: tag DefaultTag.
	Ref Ref
	// Layer selects the layer and what is done with it. Default: the
	// first layer, extracted.
	Layer LayerSelector
	// Auth holds the registry login (Username and Password, BearerToken,
	// or DockerConfigJSON) and TLS settings (CAPEM, CertPEM, KeyPEM).
	// Default: anonymous, system roots.
	Auth source.Credentials
	// Insecure permits plain HTTP. It never disables TLS verification.
	Insecure bool
	// Timeout bounds Resolve, and Fetch, each. Default DefaultTimeout.
	Timeout time.Duration
	// MaxSize caps the layer's blob and its extracted content, each.
	// Default DefaultMaxSize.
	MaxSize int64
	// MaxFiles caps the entries of an extracted layer. Default
	// archive.DefaultMaxFiles.
	MaxFiles int
	// UserAgent is sent with every request. Default "gitsync".
	UserAgent string
	// Verify, when set, makes Fetch refuse an artifact whose signature
	// does not verify. Default: no verification.
	Verify *Verification

	// pinned is the revision Pin pinned the options to.
	pinned source.Revision
}

// Ref selects a manifest of the repository. When several fields are set,
// Digest wins over SemVer, and SemVer over Tag, as in Flux.
type Ref struct {
	// Tag is a tag of the repository.
	Tag string
	// SemVer is a Masterminds/semver/v3 constraint: the highest tag that
	// parses as a version and satisfies it is selected.
	SemVer string
	// SemverFilter is a regular expression: only tags it matches are
	// considered for SemVer.
	SemverFilter string
	// Digest is a manifest digest, "sha256:<hex>".
	Digest string
}

// LayerSelector selects a layer of the artifact.
type LayerSelector struct {
	// MediaType selects the first layer of this media type. Default: the
	// first layer.
	MediaType string
	// Operation is OperationExtract (default) or OperationCopy.
	Operation string
}

// Verification says how the artifact's signature is verified.
type Verification struct {
	// Provider is ProviderCosign.
	Provider string
	// Keys are the trusted public keys by name (the keys of the Secret,
	// "cosign.pub"), each PEM-encoded. A signature by any of them
	// verifies. Empty for keyless verification.
	Keys map[string][]byte
	// Keyless selects keyless verification (keyless.go), which
	// Identities also select: a Fulcio certificate for one of
	// Identities, logged in Rekor, both trusted by TrustedRoot. Keyless
	// without Identities accepts any signer of a cosign v2 signature, as
	// Flux does without matchOIDCIdentity, and no bundle.
	Keyless    bool
	Identities []OIDCIdentity
	// TrustedRoot is Sigstore's trusted_root.json. Default (nil):
	// Sigstore's public-good instance's, fetched through TUF by the
	// signature checker when a signature is checked (see
	// sigcheck.EnvTUFURL for a mirror).
	TrustedRoot []byte
}

// keyless reports whether v verifies keyless signatures.
func (v *Verification) keyless() bool { return v.Keyless || len(v.Identities) > 0 }

// Resolved is what Resolve found.
type Resolved struct {
	// Revision is "<tag>@sha256:<hex>", or "sha256:<hex>" for a digest
	// ref.
	Revision source.Revision
	// Tag is the tag resolved; "" for a digest ref.
	Tag string
	// Digest is the manifest digest, "sha256:<hex>".
	Digest string
	// Requests is the number of HTTP requests Resolve sent.
	Requests int
}

// where names the repository in messages: the URL as given, redacted.
func (o *Options) where() string { return redact.URL(o.URL) }

func (o *Options) timeout() time.Duration { return cmp.Or(o.Timeout, DefaultTimeout) }
func (o *Options) maxSize() int64         { return cmp.Or(o.MaxSize, DefaultMaxSize) }
func (o *Options) operation() string      { return cmp.Or(o.Layer.Operation, OperationExtract) }

// fail returns an ErrInvalidOptions error about o.
func (o *Options) fail(format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", o.where(), fmt.Sprintf(format, args...), source.ErrInvalidOptions)
}

// ociTag is the grammar of an OCI tag, compiled on first use (as
// pkg/spec's patterns): its counted repetition compiles to a large
// program, which at init cost every sync-job start 1,700 allocations.
var ociTag = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)
})

// check validates o and returns its repository.
func (o *Options) check() (name.Repository, error) {
	repo, err := registry.ParseURL(o.URL, o.Insecure)
	if err != nil {
		return name.Repository{}, o.fail("%v", err)
	}
	r := o.Ref
	if r.Digest != "" {
		if _, err := v1.NewHash(r.Digest); err != nil {
			return name.Repository{}, o.fail("digest %q is not sha256:<64 hex>", r.Digest)
		}
	}
	if r.SemVer != "" {
		if _, err := semver.NewConstraint(r.SemVer); err != nil {
			return name.Repository{}, o.fail("semver %q: %v", r.SemVer, err)
		}
	}
	if r.SemverFilter != "" {
		if _, err := regexp.Compile(r.SemverFilter); err != nil {
			return name.Repository{}, o.fail("semverFilter: %v", err)
		}
	}
	if r.Tag != "" && !ociTag().MatchString(r.Tag) {
		return name.Repository{}, o.fail("tag %q is not a valid tag", r.Tag)
	}
	switch o.operation() {
	case OperationExtract, OperationCopy:
	default:
		return name.Repository{}, o.fail("layer operation %q: use extract or copy", o.Layer.Operation)
	}
	a := o.Auth
	switch {
	case a.BearerToken != "" && a.Username != "":
		return name.Repository{}, o.fail("credentials hold both bearerToken and username; use one")
	case a.Password != "" && a.Username == "":
		return name.Repository{}, o.fail("credentials hold a password but no username")
	case len(a.CertPEM) > 0 != (len(a.KeyPEM) > 0):
		return name.Repository{}, o.fail("a TLS client certificate needs both tls.crt and tls.key")
	}
	if v := o.Verify; v != nil {
		if v.Provider != ProviderCosign {
			return name.Repository{}, o.fail("verification provider %q is not supported (use cosign)", v.Provider)
		}
		if v.keyless() {
			if err := checkKeyless(v.TrustedRoot, v.Identities); err != nil {
				return name.Repository{}, o.fail("keyless verification: %v", err)
			}
		} else if _, err := parseKeys(v.Keys); err != nil {
			return name.Repository{}, o.fail("verification keys: %v", err)
		}
	}
	return repo, nil
}

// client returns the registry client of o.
func (o *Options) client() registry.Client {
	return registry.Client{Auth: o.Auth, Insecure: o.Insecure, UserAgent: o.UserAgent}
}

// Resolve selects the manifest o.Ref names and returns its revision,
// without downloading anything.
func Resolve(ctx context.Context, o Options) (*Resolved, error) {
	repo, err := o.check()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout())
	defer cancel()
	c := o.client()
	res := &Resolved{}
	tag := cmp.Or(o.Ref.Tag, DefaultTag)
	switch {
	case o.Ref.Digest != "":
		ref := repo.Digest(o.Ref.Digest)
		d, n, err := head(ctx, c, ref)
		res.Requests += n
		if err != nil {
			return nil, o.headError(ref.DigestStr(), err)
		}
		if d != o.Ref.Digest {
			return nil, fmt.Errorf("%s: the registry answers digest %s for %s: %w", o.where(), d, o.Ref.Digest, source.ErrDigestMismatch)
		}
		res.Digest, res.Revision = d, source.Revision(d)
		return res, nil
	case o.Ref.SemVer != "":
		ropts, err := c.Options(ctx, repo)
		if err != nil {
			return nil, o.fail("%v", err)
		}
		tags, err := remote.List(repo, ropts...)
		res.Requests++ // at least; pages and the auth exchange are not counted
		if err != nil {
			if registry.IsNotFound(err) {
				return nil, fmt.Errorf("%s: repository not found: %w", o.where(), source.ErrRefNotFound)
			}
			return nil, fmt.Errorf("%s: list tags: %w", o.where(), redact.Error(registry.Error(err)))
		}
		if tag, err = selectSemver(tags, o.Ref.SemVer, o.Ref.SemverFilter); err != nil {
			return nil, fmt.Errorf("%s: %w", o.where(), err)
		}
	}
	d, n, err := head(ctx, c, repo.Tag(tag))
	res.Requests += n
	if err != nil {
		return nil, o.headError("tag "+tag, err)
	}
	res.Tag, res.Digest = tag, d
	res.Revision = source.Revision(tag + "@" + d)
	return res, nil
}

// headError turns a failed HEAD of what into an error.
func (o *Options) headError(what string, err error) error {
	if registry.IsNotFound(err) {
		return fmt.Errorf("%s: %s: not found: %w", o.where(), what, source.ErrRefNotFound)
	}
	return fmt.Errorf("%s: %s: %w", o.where(), what, redact.Error(registry.Error(err)))
}

// selectSemver returns the highest tag that matches filter (a regular
// expression, "" for all) and parses as a version satisfying constraint.
// Tags that compare equal (1.0.0 and v1.0.0) are ordered by their text,
// so that the choice is stable.
func selectSemver(tags []string, constraint, filter string) (string, error) {
	c, err := semver.NewConstraint(constraint)
	if err != nil {
		return "", fmt.Errorf("semver %q: %w", constraint, source.ErrInvalidOptions)
	}
	var re *regexp.Regexp
	if filter != "" {
		if re, err = regexp.Compile(filter); err != nil {
			return "", fmt.Errorf("semverFilter: %v: %w", err, source.ErrInvalidOptions)
		}
	}
	best, bestTag := (*semver.Version)(nil), ""
	var versions []string
	for _, t := range tags {
		if re != nil && !re.MatchString(t) {
			continue
		}
		v, err := semver.NewVersion(t)
		if err != nil {
			continue
		}
		versions = append(versions, t)
		if !c.Check(v) {
			continue
		}
		if best == nil || v.GreaterThan(best) || v.Equal(best) && t > bestTag {
			best, bestTag = v, t
		}
	}
	if best != nil {
		return bestTag, nil
	}
	sort.Strings(versions)
	shown := versions
	if len(shown) > 10 {
		shown = append(slices.Clone(shown[len(shown)-10:]), fmt.Sprintf("(and %d more)", len(versions)-10))
	}
	what := "tags"
	if filter != "" {
		what = fmt.Sprintf("tags matching %q", filter)
	}
	if len(shown) == 0 {
		shown = []string{"none"}
	}
	return "", fmt.Errorf("no tag satisfies semver %q (version %s: %s): %w", constraint, what, strings.Join(shown, ", "), source.ErrRefNotFound)
}

// Fetch writes the content of the manifest rev names into dir: see the
// package documentation.
func Fetch(ctx context.Context, o Options, rev source.Revision, dir string) (art *source.Artifact, err error) {
	defer func() { err = redact.Error(err) }()
	repo, err := o.check()
	if err != nil {
		return nil, err
	}
	digest := rev.Digest()
	if _, err := v1.NewHash(digest); err != nil || !strings.HasPrefix(digest, "sha256:") {
		return nil, fmt.Errorf("%s: revision %q names no sha256 manifest digest: %w", o.where(), rev, source.ErrInvalidOptions)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout())
	defer cancel()
	ropts, err := o.client().Options(ctx, repo)
	if err != nil {
		return nil, o.fail("%v", err)
	}
	where := fmt.Sprintf("%s@%s", o.where(), digest)
	// By digest: go-containerregistry checks that the manifest has it.
	desc, err := remote.Get(repo.Digest(digest), ropts...)
	if err != nil {
		if registry.IsNotFound(err) {
			return nil, fmt.Errorf("%s: manifest not found: %w", where, source.ErrRefNotFound)
		}
		return nil, fmt.Errorf("%s: get manifest: %w", where, registry.Error(err))
	}
	switch desc.MediaType {
	case types.OCIManifestSchema1, types.DockerManifestSchema2:
	default:
		return nil, fmt.Errorf("%s: the manifest has media type %s, not an image manifest: %w", where, desc.MediaType, source.ErrInvalidOptions)
	}
	m, err := v1.ParseManifest(strings.NewReader(string(desc.Manifest)))
	if err != nil {
		return nil, fmt.Errorf("%s: manifest: %w", where, err)
	}
	art = &source.Artifact{Dir: dir, Revision: rev}
	if o.Verify != nil {
		if art.VerifiedBy, err = verifyArtifact(ctx, repo, ropts, digest, o.Verify); err != nil {
			if errors.Is(err, source.ErrInvalidOptions) {
				return nil, fmt.Errorf("%s: %w", o.where(), err)
			}
			return nil, fmt.Errorf("%s: %w", where, err)
		}
	}
	layer, err := o.selectLayer(m)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if layer.Size > o.maxSize() {
		return nil, fmt.Errorf("%s: layer %s has %d bytes, more than %d: %w", where, layer.Digest, layer.Size, o.maxSize(), source.ErrTooLarge)
	}
	if o.operation() == OperationCopy {
		art.Path = copyName(layer.MediaType)
		if err := o.download(ctx, repo, ropts, layer, filepath.Join(dir, art.Path)); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		return art, nil
	}
	// The layer is downloaded and checked before a byte of it is
	// extracted: an archive that the manifest did not name is never
	// opened.
	tmp, err := os.CreateTemp(filepath.Dir(dir), ".gitsync-layer-")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	blob := tmp.Name()
	_ = tmp.Close()
	defer func() { _ = os.Remove(blob) }()
	if err := o.download(ctx, repo, ropts, layer, blob); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	f, err := os.Open(blob)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	defer func() { _ = f.Close() }()
	if _, err := archive.Extract(ctx, f, dir, archive.Options{MaxSize: o.maxSize(), MaxFiles: o.MaxFiles}); err != nil {
		return nil, fmt.Errorf("%s: layer %s: %w", where, layer.Digest, err)
	}
	return art, nil
}

// selectLayer returns the layer o.Layer selects.
func (o *Options) selectLayer(m *v1.Manifest) (v1.Descriptor, error) {
	if len(m.Layers) == 0 {
		return v1.Descriptor{}, fmt.Errorf("the artifact has no layer: %w", source.ErrRefNotFound)
	}
	want := o.Layer.MediaType
	if want == "" {
		return m.Layers[0], nil
	}
	var have []string
	for _, l := range m.Layers {
		if string(l.MediaType) == want {
			return l, nil
		}
		have = append(have, string(l.MediaType))
	}
	return v1.Descriptor{}, fmt.Errorf("no layer has media type %s (the layers have %s): %w", want, strings.Join(have, ", "), source.ErrRefNotFound)
}

// copyName is the file a copied layer is stored in: layer.tgz for a
// gzip-compressed layer (a chart, Flux's content), layer otherwise.
func copyName(mt types.MediaType) string {
	if strings.HasSuffix(string(mt), "gzip") {
		return "layer.tgz"
	}
	return "layer"
}

// download writes the blob of layer to path, at most o.MaxSize bytes, and
// checks its digest.
func (o *Options) download(ctx context.Context, repo name.Repository, ropts []remote.Option, layer v1.Descriptor, path string) (err error) {
	if layer.Digest.Algorithm != "sha256" {
		return fmt.Errorf("layer %s: only sha256 digests are supported: %w", layer.Digest, source.ErrInvalidOptions)
	}
	l, err := remote.Layer(repo.Digest(layer.Digest.String()), ropts...)
	if err != nil {
		return fmt.Errorf("layer %s: %w", layer.Digest, registry.Error(err))
	}
	rc, err := l.Compressed()
	if err != nil {
		return fmt.Errorf("layer %s: %w", layer.Digest, registry.Error(err))
	}
	defer rc.Close()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(path)
		}
	}()
	h := sha256.New()
	limit := o.maxSize()
	n, copyErr := io.Copy(io.MultiWriter(f, h), &ctxReader{ctx: ctx, r: io.LimitReader(rc, limit+1)})
	if n > limit {
		return fmt.Errorf("layer %s: more than %d bytes: %w", layer.Digest, limit, source.ErrTooLarge)
	}
	got := "sha256:" + hex.EncodeToString(h.Sum(nil))
	switch {
	case copyErr == nil && got == layer.Digest.String():
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("layer %s: download: %w", layer.Digest, ctx.Err())
	case copyErr == nil || strings.Contains(copyErr.Error(), "error verifying"):
		// go-containerregistry fails the last read of a blob whose digest
		// or size differs from the manifest's; say so plainly.
		return fmt.Errorf("layer has digest %s after %d bytes, the manifest says %s of %d bytes (tampered or corrupted): %w",
			got, n, layer.Digest, layer.Size, source.ErrDigestMismatch)
	}
	return fmt.Errorf("layer %s: download: %w", layer.Digest, registry.Error(copyErr))
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

// Read reads unless ctx is done.
func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// manifestAccept is what a HEAD of a manifest accepts.
var manifestAccept = strings.Join([]string{
	string(types.OCIManifestSchema1), string(types.DockerManifestSchema2),
	string(types.OCIImageIndex), string(types.DockerManifestList),
}, ", ")

// head returns the digest of the manifest ref names and how many requests
// it took. It sends one HEAD, with the login at once when it is a basic
// login or a registry token; when the registry wants another scheme (a
// bearer token exchange) or does not answer the digest, it falls back to
// go-containerregistry's client.
func head(ctx context.Context, c registry.Client, ref name.Reference) (string, int, error) {
	rt, err := c.Transport()
	if err != nil {
		return "", 0, err
	}
	login, hasLogin, err := c.Auth.RegistryLogin(ref.Context().RegistryStr())
	if err != nil {
		return "", 0, err
	}
	// go-containerregistry takes loopback and private registries for
	// plain HTTP ones; only Insecure may make them so.
	scheme := "https"
	if c.Insecure {
		scheme = ref.Context().Scheme()
	}
	u := fmt.Sprintf("%s://%s/v2/%s/manifests/%s", scheme, ref.Context().RegistryStr(),
		ref.Context().RepositoryStr(), ref.Identifier())
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Accept", manifestAccept)
	req.Header.Set("User-Agent", cmp.Or(c.UserAgent, "gitsync"))
	switch {
	case hasLogin && login.RegistryToken != "":
		req.Header.Set("Authorization", "Bearer "+login.RegistryToken)
	case hasLogin && login.Username != "" && login.IdentityToken == "":
		req.SetBasicAuth(login.Username, login.Password)
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return "", 1, err
	}
	_ = resp.Body.Close()
	d := resp.Header.Get("Docker-Content-Digest")
	if resp.StatusCode == http.StatusOK && strings.HasPrefix(d, "sha256:") {
		if _, err := v1.NewHash(d); err == nil {
			return d, 1, nil
		}
	}
	if resp.StatusCode == http.StatusNotFound {
		// A 404 is the answer whatever the login: the manifest is not
		// there (or the registry hides what the login may not see, in
		// which case the full exchange would not see it either).
		return "", 1, &transport.Error{StatusCode: http.StatusNotFound,
			Errors: []transport.Diagnostic{{Code: transport.ManifestUnknownErrorCode, Message: "manifest unknown"}}}
	}
	ropts, err := c.Options(ctx, ref.Context())
	if err != nil {
		return "", 1, err
	}
	desc, err := remote.Head(ref, ropts...)
	if err != nil {
		return "", 1 + 2, err
	}
	return desc.Digest.String(), 1 + 2, nil
}
