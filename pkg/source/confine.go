package source

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// checkSymlinks walks root and returns an error wrapping ErrUnsafeSymlink for
// the first symlink that is absolute, resolves outside root, or resolves into
// root/.git. root/.git itself is not walked.
//
// Checking each link's target text on its own is not enough: with "y" -> "."
// a link "x/a" -> "../y/.." stays inside lexically but resolves to root's
// parent. So each link is resolved component by component, following the
// links it passes through, and refused as soon as any step leaves root.
func checkSymlinks(ctx context.Context, root string) error {
	r, err := os.OpenRoot(root)
	if err != nil {
		return err
	}
	defer func() { _ = r.Close() }()
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if d.IsDir() && rel == ".git" {
			return filepath.SkipDir
		}
		if d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		if err := ResolveInside(r, filepath.ToSlash(rel), ".git"); err != nil {
			dest, _ := os.Readlink(p)
			return fmt.Errorf("%w: %s -> %s: %w", ErrUnsafeSymlink, filepath.ToSlash(rel), dest, err)
		}
		return nil
	})
}

// maxLinkHops bounds symlink chains, as the kernel's ELOOP limit does.
const maxLinkHops = 40

// Reasons ResolveInside refuses a path.
var (
	errAbsolute = errors.New("absolute link target")
	errOutside  = errors.New("points outside the repository")
	errLoop     = errors.New("too many levels of symbolic links")
	errIntoGit  = intoError(".git")
)

// intoError refuses a path that lands on a forbidden top-level entry.
type intoError string

func (e intoError) Error() string { return "points into " + string(e) }

// ResolveInside resolves rel (slash-separated, relative to root) the way the
// kernel would, one component at a time, and fails when a step would leave
// root, meets an absolute link, or lands on a top-level entry named in
// forbidden. A link's own text may stay inside while a link it passes
// through makes it leave ("a" -> "b/..", "b" -> "."), so each link met is
// expanded in place. Components that do not exist are taken lexically: a
// dangling link is harmless as long as its text stays inside.
func ResolveInside(root *os.Root, rel string, forbidden ...string) error {
	var done []string // resolved components; none of them is a symlink
	todo := strings.Split(rel, "/")
	hops := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(done) == 0 {
				return errOutside
			}
			done = done[:len(done)-1]
			continue
		}
		next := append(done[:len(done):len(done)], c)
		if slices.Contains(forbidden, next[0]) {
			return intoError(next[0])
		}
		p := strings.Join(next, "/")
		fi, err := root.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			done = next
			continue
		case err != nil:
			return err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			done = next
			continue
		}
		if hops++; hops > maxLinkHops {
			return errLoop
		}
		dest, err := root.Readlink(p)
		if err != nil {
			return err
		}
		if strings.HasPrefix(dest, "/") || filepath.IsAbs(dest) {
			return errAbsolute
		}
		// The link's text is resolved from the directory holding it: done.
		todo = append(strings.Split(filepath.ToSlash(dest), "/"), todo...)
	}
	return nil
}
