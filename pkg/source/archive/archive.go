// Package archive extracts tar archives, gzip-compressed or not, into a
// directory that nothing in the archive can leave. It is shared by the
// sources that receive archives (OCI artifacts; buckets and charts may
// follow), so that each does not write its own, weaker, extractor.
//
// Extract refuses, with an error naming the entry, and before writing that
// entry:
//
//   - names that are absolute, hold a ".." component, a NUL byte or a
//     backslash, or that name the same path twice;
//   - entries below a symlink of the archive (a write through a link);
//   - symlinks whose target is absolute or resolves outside the directory,
//     step by step through the other links of the archive; hardlinks to
//     anything but a regular file extracted before them;
//   - device files, FIFOs and any type other than file, directory, symlink
//     and hardlink;
//   - more than Options.MaxFiles entries, or more than Options.MaxSize
//     bytes of file content (counted as written, not as the headers
//     claim), so that a small archive cannot expand without bound.
//
// Every write goes through an os.Root opened on the directory, so even a
// case these rules missed cannot create or follow a path outside it. When
// Extract fails, what it wrote is still in the directory: callers extract
// into a private directory and remove it whole, as source.Source's Fetch
// contract already requires.
package archive

import (
	"archive/tar"
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/gitsync/gitsync/pkg/source"
)

// Defaults of Options.
const (
	// DefaultMaxSize caps the bytes of file content one Extract writes:
	// what a Git fetch may write too (source.DefaultMaxSize).
	DefaultMaxSize = source.DefaultMaxSize
	// DefaultMaxFiles caps the entries of one archive: far more than a
	// tree of configuration holds, few enough that an archive of empty
	// entries cannot exhaust inodes or time.
	DefaultMaxFiles = 100_000
)

// Errors that Extract wraps; test with errors.Is.
var (
	// ErrUnsafeEntry means an entry would leave the directory, write
	// through a link, or is of a type that is never extracted (a device
	// file, a FIFO). Escaping symlinks match source.ErrUnsafeSymlink too.
	ErrUnsafeEntry = errors.New("unsafe archive entry")
	// ErrTooLarge means the archive holds more entries or more bytes than
	// its caps. It is source.ErrTooLarge.
	ErrTooLarge = source.ErrTooLarge
)

// Options bound one extraction. The zero value selects the defaults.
type Options struct {
	// MaxSize caps the bytes of file content written. Default
	// DefaultMaxSize.
	MaxSize int64
	// MaxFiles caps the entries (files, directories, links). Default
	// DefaultMaxFiles.
	MaxFiles int
}

// Stats say what Extract wrote.
type Stats struct {
	// Entries is the number of entries extracted (the root entry "."
	// that some archivers write is not counted).
	Entries int
	// Bytes is the file content written.
	Bytes int64
}

// gzipMagic starts every gzip stream.
var gzipMagic = []byte{0x1f, 0x8b}

// Extract reads a tar archive from r, gzip-compressed or not (the first
// bytes tell), and writes its entries below dir, an existing directory.
// See the package documentation for what it refuses.
func Extract(ctx context.Context, r io.Reader, dir string, opts Options) (Stats, error) {
	br := bufio.NewReader(r)
	var in io.Reader = br
	if magic, _ := br.Peek(len(gzipMagic)); bytes.Equal(magic, gzipMagic) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return Stats{}, fmt.Errorf("gzip: %w", err)
		}
		defer func() { _ = zr.Close() }()
		// One gzip member: what follows the first member is not part
		// of the archive and is not read.
		zr.Multistream(false)
		in = zr
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return Stats{}, err
	}
	defer func() { _ = root.Close() }()
	x := &extractor{
		root:     root,
		maxSize:  cmp.Or(opts.MaxSize, DefaultMaxSize),
		maxFiles: cmp.Or(opts.MaxFiles, DefaultMaxFiles),
		seen:     map[string]byte{},
	}
	err = x.extract(ctx, tar.NewReader(in))
	return x.stats, err
}

// extractor is the state of one Extract.
type extractor struct {
	root     *os.Root
	maxSize  int64
	maxFiles int
	stats    Stats
	// seen maps every extracted name to its tar type flag.
	seen map[string]byte
	// links are the symlinks extracted, checked once all entries are.
	links []string
}

func (x *extractor) extract(ctx context.Context, tr *tar.Reader) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		name, err := cleanName(hdr.Name)
		if err != nil {
			return fmt.Errorf("%w: %q: %w", ErrUnsafeEntry, hdr.Name, err)
		}
		if name == "." {
			if hdr.Typeflag != tar.TypeDir {
				return fmt.Errorf("%w: %q: the root is not a directory", ErrUnsafeEntry, hdr.Name)
			}
			continue
		}
		if err := x.entry(ctx, tr, hdr, name); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	for _, l := range x.links {
		if err := source.ResolveInside(x.root, l); err != nil {
			dest, _ := x.root.Readlink(l)
			return fmt.Errorf("%w: %w: %s -> %s: %w", ErrUnsafeEntry, source.ErrUnsafeSymlink, l, dest, err)
		}
	}
	return nil
}

// entry extracts one entry named name (cleaned).
func (x *extractor) entry(ctx context.Context, tr *tar.Reader, hdr *tar.Header, name string) error {
	if x.stats.Entries++; x.stats.Entries > x.maxFiles {
		return fmt.Errorf("more than %d entries: %w", x.maxFiles, ErrTooLarge)
	}
	if prev, ok := x.seen[name]; ok && !(prev == tar.TypeDir && hdr.Typeflag == tar.TypeDir) {
		return fmt.Errorf("%w: the archive holds this name twice", ErrUnsafeEntry)
	}
	if err := x.checkParents(name); err != nil {
		return err
	}
	x.seen[name] = hdr.Typeflag
	if hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeGNUSparse && hdr.Size > 0 {
		// archive/tar would skip the content unread, however large:
		// decompressing it costs time for nothing.
		return fmt.Errorf("%w: a %s entry with %d bytes of content", ErrUnsafeEntry, typeName(hdr.Typeflag), hdr.Size)
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return x.root.MkdirAll(name, 0o755)
	case tar.TypeReg, tar.TypeGNUSparse:
		return x.file(ctx, tr, hdr, name)
	case tar.TypeSymlink:
		return x.symlink(name, hdr.Linkname)
	case tar.TypeLink:
		return x.hardlink(name, hdr.Linkname)
	}
	return fmt.Errorf("%w: %s entries are never extracted", ErrUnsafeEntry, typeName(hdr.Typeflag))
}

// checkParents refuses name when a parent is a symlink of the archive or
// a non-directory, and creates the parents that are missing.
func (x *extractor) checkParents(name string) error {
	dir := path.Dir(name)
	for p := dir; p != "."; p = path.Dir(p) {
		switch t, ok := x.seen[p]; {
		case !ok:
		case t == tar.TypeSymlink:
			return fmt.Errorf("%w: it lies below the symlink %s", ErrUnsafeEntry, p)
		case t != tar.TypeDir:
			return fmt.Errorf("%w: its parent %s is not a directory", ErrUnsafeEntry, p)
		}
	}
	if dir == "." {
		return nil
	}
	for p := dir; p != "."; p = path.Dir(p) {
		if _, ok := x.seen[p]; !ok {
			x.seen[p] = tar.TypeDir
		}
	}
	return x.root.MkdirAll(dir, 0o755)
}

// file writes a regular file, counting its bytes against the cap.
func (x *extractor) file(ctx context.Context, tr *tar.Reader, hdr *tar.Header, name string) error {
	left := x.maxSize - x.stats.Bytes
	if hdr.Size > left {
		return fmt.Errorf("%d bytes would make the content more than %d bytes: %w", hdr.Size, x.maxSize, ErrTooLarge)
	}
	mode := os.FileMode(0o644)
	if hdr.Mode&0o111 != 0 {
		mode = 0o755
	}
	f, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, &ctxReader{ctx: ctx, r: io.LimitReader(tr, left+1)})
	x.stats.Bytes += n
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if n > left {
		return fmt.Errorf("the content is more than %d bytes: %w", x.maxSize, ErrTooLarge)
	}
	return nil
}

// symlink creates a link whose text is relative and, read from the link's
// directory, stays inside; links through other links are checked when
// all entries are extracted (source.ResolveInside).
func (x *extractor) symlink(name, target string) error {
	switch {
	case target == "":
		return fmt.Errorf("%w: a symlink without a target", ErrUnsafeEntry)
	case strings.HasPrefix(target, "/") || strings.ContainsAny(target, "\\\x00"):
		return fmt.Errorf("%w: %w: -> %s: absolute or not a plain path", ErrUnsafeEntry, source.ErrUnsafeSymlink, target)
	}
	if joined := path.Join(path.Dir(name), target); joined == ".." || strings.HasPrefix(joined, "../") {
		return fmt.Errorf("%w: %w: -> %s: points outside the directory", ErrUnsafeEntry, source.ErrUnsafeSymlink, target)
	}
	x.links = append(x.links, name)
	return x.root.Symlink(target, name)
}

// hardlink links name to a regular file extracted before it. Its content
// is not counted again: it takes no more space.
func (x *extractor) hardlink(name, target string) error {
	clean, err := cleanName(target)
	if err != nil {
		return fmt.Errorf("%w: hardlink to %q: %w", ErrUnsafeEntry, target, err)
	}
	if t, ok := x.seen[clean]; !ok || t != tar.TypeReg && t != tar.TypeGNUSparse {
		return fmt.Errorf("%w: hardlink to %q, which is not a file extracted before it", ErrUnsafeEntry, target)
	}
	return x.root.Link(clean, name)
}

// cleanName returns an entry name relative to the directory, slash
// separated, without "./" prefix or trailing slash: "." for the root.
func cleanName(name string) (string, error) {
	switch {
	case name == "":
		return "", errors.New("empty name")
	case strings.ContainsAny(name, "\\\x00"):
		return "", errors.New("backslash or NUL byte in the name")
	case strings.HasPrefix(name, "/"):
		return "", errors.New("absolute path")
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", errors.New(`".." in the path`)
		}
	}
	return path.Clean(name), nil
}

// typeName names a tar type flag in messages.
func typeName(t byte) string {
	switch t {
	case tar.TypeReg, tar.TypeGNUSparse:
		return "file"
	case tar.TypeDir:
		return "directory"
	case tar.TypeSymlink:
		return "symlink"
	case tar.TypeLink:
		return "hardlink"
	case tar.TypeChar:
		return "character device"
	case tar.TypeBlock:
		return "block device"
	case tar.TypeFifo:
		return "FIFO"
	}
	return fmt.Sprintf("type %q", t)
}

// ctxReader stops reading once ctx is done: a large entry does not
// outlive the run's deadline.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

// Read reads from the underlying reader unless ctx is done.
func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
