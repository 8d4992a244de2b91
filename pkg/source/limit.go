package source

import (
	"fmt"
	"os"
	"sync/atomic"

	"github.com/go-git/go-billy/v5"
)

// budget counts the bytes a fetch writes to disk, across the .git storage
// and the worktree, and fails writes past its limit. go-git writes the
// received packfile through its storage filesystem as it arrives, so the cap
// stops a too-large transfer while it runs, not after.
type budget struct {
	limit    int64 // negative: no limit
	used     atomic.Int64
	exceeded atomic.Bool
	// parent is charged with every byte too: a submodule's or an
	// include's fetch counts against the fetch that asked for it.
	parent *budget
}

// take accounts for n more bytes, here and in every parent.
func (b *budget) take(n int) error {
	for x := b; x != nil; x = x.parent {
		used := x.used.Add(int64(n))
		if x.limit >= 0 && used > x.limit {
			x.exceeded.Store(true)
			b.exceeded.Store(true)
			return fmt.Errorf("%w: more than %d bytes", ErrTooLarge, x.limit)
		}
	}
	return nil
}

// capping returns the budget whose limit was exceeded: b or a parent.
func (b *budget) capping() *budget {
	for x := b; x != nil; x = x.parent {
		if x.limit >= 0 && x.used.Load() > x.limit {
			return x
		}
	}
	return b
}

// cappedFS is a billy.Filesystem whose files count their writes against a
// budget. Everything else is passed through.
type cappedFS struct {
	billy.Filesystem
	b *budget
}

// Create creates filename and wraps it.
func (fs cappedFS) Create(filename string) (billy.File, error) {
	return fs.wrap(fs.Filesystem.Create(filename))
}

// OpenFile opens filename and wraps it.
func (fs cappedFS) OpenFile(filename string, flag int, perm os.FileMode) (billy.File, error) {
	return fs.wrap(fs.Filesystem.OpenFile(filename, flag, perm))
}

// TempFile creates a temporary file and wraps it; go-git receives packfiles
// into one.
func (fs cappedFS) TempFile(dir, prefix string) (billy.File, error) {
	return fs.wrap(fs.Filesystem.TempFile(dir, prefix))
}

// Chroot returns a sub-filesystem that shares the budget.
func (fs cappedFS) Chroot(path string) (billy.Filesystem, error) {
	sub, err := fs.Filesystem.Chroot(path)
	if err != nil {
		return nil, err
	}
	return cappedFS{Filesystem: sub, b: fs.b}, nil
}

// Symlink creates a link; its target counts as written bytes.
func (fs cappedFS) Symlink(target, link string) error {
	if err := fs.b.take(len(target)); err != nil {
		return err
	}
	return fs.Filesystem.Symlink(target, link)
}

func (fs cappedFS) wrap(f billy.File, err error) (billy.File, error) {
	if err != nil {
		return nil, err
	}
	return cappedFile{File: f, b: fs.b}, nil
}

// cappedFile counts writes. It deliberately exposes only billy.File's
// methods, so io.Copy cannot bypass Write through ReadFrom.
type cappedFile struct {
	billy.File
	b *budget
}

// Write counts p, then writes it.
func (f cappedFile) Write(p []byte) (int, error) {
	if err := f.b.take(len(p)); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}
