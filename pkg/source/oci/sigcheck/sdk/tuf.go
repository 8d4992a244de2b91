package sdk

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/sigstore/sigstore-go/pkg/tuf"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/gitsync/gitsync/pkg/source/oci/sigcheck"
)

// trustedRootTarget is the TUF target that holds Sigstore's trusted root.
const trustedRootTarget = "trusted_root.json"

// fetchTrustedRoot fetches Sigstore's trusted root through TUF, as cosign
// does without a trusted root of its own: from the public-good
// instance's repository, trusted by the root.json sigstore-go embeds, or
// from the repository and root sigcheck.EnvTUFURL and sigcheck.EnvTUFRoot
// name. Every request is bound to ctx. Nothing is cached on disk (the
// root filesystem of sync-job's Pod is read-only and each check runs in a
// new process), so every check refreshes the metadata: the root's newer
// versions, timestamp, snapshot, targets, then the target itself. It
// returns the root and where it came from, for messages.
func fetchTrustedRoot(ctx context.Context) ([]byte, string, error) {
	mirror := cmp.Or(os.Getenv(sigcheck.EnvTUFURL), tuf.DefaultMirror)
	from := fmt.Sprintf("%s from the TUF repository %s", trustedRootTarget, mirror)
	opts := &tuf.Options{
		Root:              tuf.DefaultRoot(),
		RepositoryBaseURL: mirror,
		DisableLocalCache: true,
		Fetcher:           &ctxFetcher{ctx: ctx, client: &http.Client{Transport: http.DefaultTransport}},
	}
	if p := os.Getenv(sigcheck.EnvTUFRoot); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, from, fmt.Errorf("%s (%s): %w", sigcheck.EnvTUFRoot, p, err)
		}
		opts.Root = b
		from += " (TUF root " + p + ")"
	}
	c, err := tuf.New(opts)
	if err == nil {
		var b []byte
		if b, err = c.GetTarget(trustedRootTarget); err == nil {
			return b, from, nil
		}
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		err = fmt.Errorf("%w (%w)", ctxErr, err)
	}
	return nil, from, fmt.Errorf("fetching %s: %w", from, err)
}

// ctxFetcher downloads TUF metadata and targets within ctx, once each
// (go-tuf's default fetcher has no context and no deadline of its own).
type ctxFetcher struct {
	ctx    context.Context
	client *http.Client
}

// DownloadFile gets url, refusing more than maxLength bytes. A status
// other than 200 is go-tuf's ErrDownloadHTTP: the updater reads a 404 of
// the next root version as "no newer root".
func (f *ctxFetcher) DownloadFile(url string, maxLength int64, _ time.Duration) ([]byte, error) {
	req, err := http.NewRequestWithContext(f.ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "gitsync")
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &metadata.ErrDownloadHTTP{StatusCode: resp.StatusCode, URL: url}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxLength+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	if int64(len(b)) > maxLength {
		return nil, &metadata.ErrDownloadLengthMismatch{Msg: url + ": more than " + strconv.FormatInt(maxLength, 10) + " bytes"}
	}
	return b, nil
}
