package source

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// maxLinkHops bounds symlink chains, as the kernel's ELOOP limit does.
const maxLinkHops = 40

// checkSymlinks walks root and returns an error wrapping ErrUnsafeSymlink for
// the first symlink that is absolute, resolves outside root, or resolves into
// root/.git. root/.git itself is not walked.
//
// Checking each link's target text on its own is not enough: with "y" -> "."
// a link "x/a" -> "../y/.." stays inside lexically but resolves to root's
// parent. So each link is resolved component by component, following the
// links it passes through, and refused as soon as any step leaves root.
func checkSymlinks(ctx context.Context, root string) error {
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
		if err := resolveInside(root, rel); err != nil {
			dest, _ := os.Readlink(p)
			return fmt.Errorf("%w: %s -> %s: %w", ErrUnsafeSymlink, filepath.ToSlash(rel), dest, err)
		}
		return nil
	})
}

// Reasons resolveInside refuses a path.
var (
	errAbsolute = errors.New("absolute link target")
	errOutside  = errors.New("points outside the repository")
	errIntoGit  = errors.New("points into .git")
	errLoop     = errors.New("too many levels of symbolic links")
)

// resolveInside resolves rel (relative to root) the way the kernel would,
// one component at a time, and fails when a step would leave root, names
// root/.git, or meets an absolute link. Components that do not exist are
// taken lexically: a dangling link is harmless as long as its text stays
// inside.
func resolveInside(root, rel string) error {
	var done []string // resolved components; none of them is a symlink
	todo := splitPath(rel)
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
		if next[0] == ".git" {
			return errIntoGit
		}
		fi, err := os.Lstat(filepath.Join(root, filepath.Join(next...)))
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
		dest, err := os.Readlink(filepath.Join(root, filepath.Join(next...)))
		if err != nil {
			return err
		}
		if filepath.IsAbs(dest) || strings.HasPrefix(dest, "/") {
			return errAbsolute
		}
		// The link's text is resolved from the directory holding it: done.
		todo = append(splitPath(dest), todo...)
	}
	return nil
}

// splitPath splits p into its components.
func splitPath(p string) []string {
	return strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == filepath.Separator })
}
