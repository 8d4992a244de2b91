package source

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// GitInclude copies a path of another repository into the checkout, as
// Flux's GitRepository .spec.include does with another GitRepository's
// artifact. The included repository is fetched like any other (its own
// URL, Ref and Auth), under the including fetch's MaxSize.
type GitInclude struct {
	// Repository is the repository to include from. Its Verify,
	// SparseCheckout, RecurseSubmodules and Include are not used.
	Repository GitOptions
	// FromPath is the file or directory of Repository to copy, relative to
	// its root. Default (""): the whole repository.
	FromPath string
	// ToPath is where the copy goes, relative to the checkout's root. It
	// must not exist in the checkout, or be an empty directory there, and
	// no directory on the way to it may be a symlink. Required (the spec's
	// default is spec.GitInclude.IncludeToPath).
	ToPath string
}

// include fetches inc into a temporary directory below root and moves
// its FromPath to its ToPath. The included fetch's bytes count against
// parent. It returns the revision included.
func include(ctx context.Context, inc GitInclude, root string, parent *budget) (Revision, error) {
	opts := inc.Repository
	opts.Verify, opts.SparseCheckout, opts.RecurseSubmodules, opts.Include = nil, nil, false, nil
	opts.KeepGitDir = false
	// The including fetch's budget bounds this one.
	opts.MaxSize = -1
	tmp, err := os.MkdirTemp(root, ".gitsync-include-")
	if err != nil {
		return "", err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	art, err := fetchInto(ctx, opts, tmp, parent, nil)
	if err != nil {
		return "", err
	}
	from, _ := cleanRelativePath(inc.FromPath)
	to, _ := cleanRelativePath(inc.ToPath)
	src := filepath.Join(tmp, filepath.FromSlash(from))
	if _, err := os.Lstat(src); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("fromPath %q does not exist in %s", inc.FromPath, art.Revision)
		}
		return "", err
	}
	// The included tree's symlinks were checked against its own root;
	// from may itself be one, which a rename would carry along as a link.
	if src, err = filepath.EvalSymlinks(src); err != nil {
		return "", err
	}
	dst, err := includeTarget(root, to)
	if err != nil {
		return "", fmt.Errorf("toPath %q: %w", inc.ToPath, err)
	}
	if err := os.Rename(src, dst); err != nil {
		return "", fmt.Errorf("toPath %q: %w", inc.ToPath, err)
	}
	return art.Revision, nil
}

// includeTarget prepares root/to for a rename: its parent directories are
// created, none of them may be a symlink (a link could lead out of root),
// and to itself must not exist or be an empty directory, which is removed.
func includeTarget(root, to string) (string, error) {
	parts := strings.Split(to, "/")
	cur := root
	for i, part := range parts {
		cur = filepath.Join(cur, part)
		fi, err := os.Lstat(cur)
		last := i == len(parts)-1
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if last {
				return cur, nil
			}
			if err := os.Mkdir(cur, 0o755); err != nil {
				return "", err
			}
			continue
		case err != nil:
			return "", err
		case fi.Mode()&fs.ModeSymlink != 0:
			return "", fmt.Errorf("%s is a symlink in the checkout", path.Join(parts[:i+1]...))
		case last && fi.IsDir():
			if err := os.Remove(cur); err != nil {
				return "", fmt.Errorf("exists in the checkout and is not an empty directory")
			}
			return cur, nil
		case last:
			return "", fmt.Errorf("exists in the checkout")
		case !fi.IsDir():
			return "", fmt.Errorf("%s is a file in the checkout", path.Join(parts[:i+1]...))
		}
	}
	return cur, nil
}
