package render

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// A render's inputs are the directories of the source it looked into:
// every directory holding a file it read, a path whose existence it
// checked, or a listing it made. Render records them (Result.Inputs)
// through confinedFS, which every read of the source goes through — a new
// read of the checkout must go through it too, or InputsDigest would
// miss it. InputsDigest covers the whole content of those directories
// (every entry's name and type, every regular file's bytes), which is more
// than was read: a render of the same options over directories whose
// digest did not change produces the same objects. A caller that keeps the
// inputs of a render can so tell, after the source moved to a new
// revision, whether rendering again could change anything — without
// rendering. A unit of a Flux repository whose directories a commit did
// not touch is not rendered again.

// inputLog records the directories a render looked into.
type inputLog struct {
	mu   sync.Mutex
	dirs map[string]bool // absolute, symlinks resolved where they exist
}

// touch records dir.
func (c *confinedFS) touch(dir string) {
	c.inputs.mu.Lock()
	defer c.inputs.mu.Unlock()
	if c.inputs.dirs == nil {
		c.inputs.dirs = map[string]bool{}
	}
	c.inputs.dirs[filepath.Clean(dir)] = true
}

// inputDirs returns the recorded directories inside root, relative to it,
// slash-separated and sorted ("." for root).
func (c *confinedFS) inputDirs() []string {
	c.inputs.mu.Lock()
	defer c.inputs.mu.Unlock()
	out := make([]string, 0, len(c.inputs.dirs))
	for d := range c.inputs.dirs {
		if !within(c.root, d) {
			continue
		}
		rel, err := filepath.Rel(c.root, d)
		if err != nil {
			continue
		}
		out = append(out, filepath.ToSlash(rel))
	}
	slices.Sort(out)
	return out
}

// InputsDigest returns "sha256:" and the hex SHA-256 of the content of
// dirs (Result.Inputs) in the tree at root: for each directory in order,
// its path and every entry's name and type, with a regular file's bytes
// and a symlink's target. A directory that does not exist counts as such,
// so one that appears changes the digest. Nothing outside root is read.
func InputsDigest(root string, dirs []string) (string, error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return "", err
	}
	defer func() { _ = r.Close() }()
	h := sha256.New()
	for _, d := range dirs {
		fmt.Fprintf(h, "dir %q\n", d)
		f, err := r.Open(filepath.FromSlash(d))
		if errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintln(h, "missing")
			continue
		}
		if err != nil {
			return "", err
		}
		entries, err := f.ReadDir(-1)
		_ = f.Close()
		if err != nil {
			// A file where a directory was: its bytes are the content.
			fmt.Fprintln(h, "not a directory")
			continue
		}
		slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
		for _, e := range entries {
			p := filepath.Join(filepath.FromSlash(d), e.Name())
			switch t := e.Type(); {
			case t.IsRegular():
				fmt.Fprintf(h, "file %q ", e.Name())
				if err := hashFile(h, r, p); err != nil {
					return "", err
				}
			case t&fs.ModeSymlink != 0:
				target, err := r.Readlink(p)
				if err != nil {
					return "", err
				}
				fmt.Fprintf(h, "link %q %q\n", e.Name(), target)
			default:
				fmt.Fprintf(h, "%s %q\n", t.Type(), e.Name())
			}
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

func hashFile(h io.Writer, r *os.Root, p string) error {
	f, err := r.Open(p)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	sum := sha256.New()
	if _, err := io.Copy(sum, f); err != nil {
		return err
	}
	_, err = fmt.Fprintf(h, "%x\n", sum.Sum(nil))
	return err
}
