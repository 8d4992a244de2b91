package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
)

// Cache holds the sources of one run. Each source, known by its key (its
// identity: fromspec.Key of its spec), is resolved once and each of its
// revisions fetched once, however many parts of the run use it; they share
// the fetched tree and render different paths of it. Fetched trees stay on
// disk until Close. A failed Resolve or Fetch is remembered too: the run
// does not ask a failing server twice.
//
// The zero Cache is not usable; make one with NewCache. It is safe for
// concurrent use: calls for one key wait for each other, calls for
// different keys do not.
type Cache struct {
	dir string

	mu      sync.Mutex
	entries map[string]*cacheEntry
	closed  bool
}

// cacheEntry is one source of a Cache.
type cacheEntry struct {
	mu       sync.Mutex
	resolved *Resolved
	err      error
	fetched  map[Revision]*fetchResult
}

// fetchResult is one Fetch of a cached source.
type fetchResult struct {
	dir string
	art *Artifact
	err error
}

// Resolved is a source resolved through a Cache: the source every user of
// the key shares, and what its Resolve returned.
type Resolved struct {
	// Key is the source's identity in the cache.
	Key string
	// Source is the source that was resolved; the first one given for the
	// key.
	Source Source
	// Revision is what Resolve returned.
	Revision Revision
	// ContentDigest is the source's ContentDigest of Revision when it is a
	// ContentDigester, else "".
	ContentDigest string
}

// NewCache returns an empty cache that fetches into new directories below
// dir (os.TempDir() when empty).
func NewCache(dir string) *Cache {
	return &Cache{dir: dir, entries: map[string]*cacheEntry{}}
}

// entry returns the entry for key, creating it.
func (c *Cache) entry(key string) (*cacheEntry, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errors.New("source cache: used after Close")
	}
	e, ok := c.entries[key]
	if !ok {
		e = &cacheEntry{fetched: map[Revision]*fetchResult{}}
		c.entries[key] = e
	}
	return e, nil
}

// Resolve returns the resolution of the source key names: src.Resolve's
// answer the first time, the remembered one afterwards (src is then not
// used).
func (c *Cache) Resolve(ctx context.Context, key string, src Source) (*Resolved, error) {
	e, err := c.entry(key)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.resolved == nil && e.err == nil {
		rev, err := src.Resolve(ctx)
		if err != nil {
			e.err = err
		} else {
			e.resolved = &Resolved{Key: key, Source: src, Revision: rev}
			if cd, ok := src.(ContentDigester); ok {
				e.resolved.ContentDigest = cd.ContentDigest(rev)
			}
		}
	}
	return e.resolved, e.err
}

// Fetch returns the artifact of r: fetched into a new directory the first
// time, the same artifact afterwards. Callers only read it.
func (c *Cache) Fetch(ctx context.Context, r *Resolved) (*Artifact, error) {
	e, err := c.entry(r.Key)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if f, ok := e.fetched[r.Revision]; ok {
		return f.art, f.err
	}
	f := &fetchResult{}
	e.fetched[r.Revision] = f
	dir, err := os.MkdirTemp(c.dir, "gitsync-src-")
	if err != nil {
		f.err = fmt.Errorf("source cache: %w", err)
		return nil, f.err
	}
	f.dir = dir
	f.art, f.err = r.Source.Fetch(ctx, r.Revision, dir)
	if f.err != nil {
		// A partial tree is of no use; its directory goes now.
		f.dir = ""
		_ = os.RemoveAll(dir)
	}
	return f.art, f.err
}

// Close removes every fetched tree. The cache cannot be used afterwards.
func (c *Cache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	var errs []error
	for _, e := range c.entries {
		e.mu.Lock()
		for _, f := range e.fetched {
			if f.dir != "" {
				errs = append(errs, os.RemoveAll(f.dir))
			}
		}
		e.mu.Unlock()
	}
	c.entries = nil
	return errors.Join(errs...)
}
