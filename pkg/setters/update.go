package setters

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
)

// Result is what Update found and did.
type Result struct {
	// Markers lists every marker under the path, in file and line order.
	Markers []Marker
	// Changes lists the values replaced, in file and line order.
	Changes []Change
	// Files lists the files written, slash-separated and relative to the
	// root.
	Files []string
}

// Update rewrites the markers of the .yaml and .yml files under dir (a
// slash-separated path relative to root; "" or "." for all of it) whose
// policy images holds, and writes the files that changed. It reads and
// writes through os.Root: nothing outside root is touched, symbolic links
// are not followed, and .git is skipped. A file that fails changes
// nothing: all files are checked before the first is written.
func Update(ctx context.Context, root, dir string, images map[string]Image) (Result, error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return Result{}, err
	}
	defer func() { _ = r.Close() }()
	dir = path.Clean(strings.TrimPrefix(dir, "./"))
	if dir == "" || strings.HasPrefix(dir, "../") || dir == ".." || path.IsAbs(dir) {
		return Result{}, fmt.Errorf("path %q: must be relative and inside the repository", dir)
	}
	type write struct {
		name string
		data []byte
		mode fs.FileMode
	}
	var res Result
	var writes []write
	err = fs.WalkDir(r.FS(), dir, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			if name == dir && errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("path %q: not found in the repository", dir)
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !(strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) {
			return nil
		}
		data, err := r.ReadFile(name)
		if err != nil {
			return err
		}
		out, markers, changes, err := Set(name, data, images)
		if err != nil {
			return err
		}
		res.Markers = append(res.Markers, markers...)
		if len(changes) > 0 {
			info, err := d.Info()
			if err != nil {
				return err
			}
			res.Changes = append(res.Changes, changes...)
			res.Files = append(res.Files, name)
			writes = append(writes, write{name, out, info.Mode().Perm()})
		}
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	for _, w := range writes {
		if err := r.WriteFile(w.name, w.data, w.mode); err != nil {
			return Result{}, err
		}
	}
	sort.SliceStable(res.Markers, func(i, j int) bool { return res.Markers[i].File < res.Markers[j].File })
	return res, nil
}
