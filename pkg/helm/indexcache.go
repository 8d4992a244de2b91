package helm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/gitsync/gitsync/pkg/source"
)

// A run may resolve several charts of one HTTP(S) repository: HelmRelease
// units of a Flux tree that share a HelmRepository, each a source of its
// own (their charts differ, so the run's source cache does not share
// them). Without help each would download the repository's index, which
// for a large repository is tens of megabytes per chart. An IndexCache
// downloads each index once per run into a file of the run's work
// directory; every chart of that repository then streams it from the file
// with the same line reader (readIndex), so memory stays what one read
// needs. The file, not the parsed index, is kept: which charts will be
// asked for is not known when the first one is.
//
// The cache travels in the run's context (WithIndexCache) rather than in
// ChartSource: it belongs to the run, not to one chart, and every place
// that builds a chart source (the sync's own, each unit's) then shares it
// without knowing of it. Without one in the context, Resolve downloads
// the index as before.

// IndexCache holds the index of each HTTP(S) repository read during one
// run. It is safe for concurrent use: charts of one repository wait for
// the one download, other repositories do not. A failed download is
// remembered, so the run does not ask a failing server twice. The zero
// value is not usable; make one with NewIndexCache and Close it.
type IndexCache struct {
	dir string

	mu      sync.Mutex
	entries map[string]*indexFile
	closed  bool
	// downloads counts the downloads made, for tests and logs.
	downloads int
}

// indexFile is one repository's index on disk.
type indexFile struct {
	mu   sync.Mutex
	done bool
	path string
	err  error
}

// NewIndexCache returns an empty cache that writes its files below dir
// (os.TempDir() when empty).
func NewIndexCache(dir string) *IndexCache {
	return &IndexCache{dir: dir, entries: map[string]*indexFile{}}
}

// Close removes the cache's files. Later reads fail.
func (c *IndexCache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	var errs []error
	for _, e := range c.entries {
		if e.path != "" {
			if err := os.Remove(e.path); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	c.entries = map[string]*indexFile{}
	return errors.Join(errs...)
}

// Downloads returns how many indexes the cache downloaded.
func (c *IndexCache) Downloads() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.downloads
}

type indexCacheKey struct{}

// WithIndexCache returns ctx carrying c: every chart of an HTTP(S)
// repository resolved with the returned context reads that repository's
// index through c.
func WithIndexCache(ctx context.Context, c *IndexCache) context.Context {
	return context.WithValue(ctx, indexCacheKey{}, c)
}

// indexCacheFrom returns the IndexCache ctx carries, or nil.
func indexCacheFrom(ctx context.Context) *IndexCache {
	c, _ := ctx.Value(indexCacheKey{}).(*IndexCache)
	return c
}

// indexKey identifies what an index download depends on: the URL, the
// credentials and TLS settings, plain HTTP and the size cap. Two charts
// reading the same URL with other credentials may see another index.
// It is a digest: the credentials are not kept in the clear as map keys.
func indexKey(src *ChartSource, indexURL string) string {
	b, err := json.Marshal(struct {
		URL      string
		Auth     source.Credentials
		Insecure bool
		Max      int64
	}{indexURL, src.Auth, src.Insecure, src.maxIndexSize()})
	if err != nil {
		// Plain data: Marshal cannot fail on it.
		panic(fmt.Sprintf("helm: index key: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// open returns the index under key, calling download to write it to a
// file the first time. The caller closes the returned file.
func (c *IndexCache) open(ctx context.Context, key string, download func(ctx context.Context, w io.Writer) error) (*os.File, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errors.New("helm index cache: used after Close")
	}
	e, ok := c.entries[key]
	if !ok {
		e = &indexFile{}
		c.entries[key] = e
	}
	c.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.done {
		e.path, e.err = c.download(ctx, download)
		// A download cut short by the caller's context is not the
		// server's failure: the next chart tries again.
		e.done = e.err == nil || ctx.Err() == nil
	}
	if e.err != nil {
		return nil, e.err
	}
	return os.Open(e.path)
}

// download writes one index to a new file and returns its path.
func (c *IndexCache) download(ctx context.Context, download func(ctx context.Context, w io.Writer) error) (string, error) {
	f, err := os.CreateTemp(c.dir, "helm-index-")
	if err != nil {
		return "", fmt.Errorf("helm index cache: %w", err)
	}
	c.mu.Lock()
	c.downloads++
	c.mu.Unlock()
	err = download(ctx, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}
