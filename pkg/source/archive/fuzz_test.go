package archive

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/gitsync/gitsync/pkg/source"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite the seed corpus under testdata/fuzz/FuzzExtract")

// seeds are archives the fuzzer starts from: each of the kinds of entry
// Extract refuses, and ones it extracts, plain and gzip-compressed.
func seeds(t testing.TB) map[string][]byte {
	sets := map[string][]entry{
		"tree":             {dir("."), dir("deploy"), file("deploy/a.yaml", "kind: ConfigMap\n"), symlink("deploy/b.yaml", "a.yaml"), hardlink("c.yaml", "deploy/a.yaml")},
		"dotdot":           {file("../evil", "x")},
		"absolute":         {file("/tmp/evil", "x")},
		"symlink-abs":      {symlink("l", "/etc/passwd")},
		"symlink-up":       {dir("a"), symlink("a/l", "../../x")},
		"symlink-chain":    {dir("b"), symlink("y", "."), symlink("b/x", "../y/..")},
		"write-through":    {symlink("l", "."), file("l/f", "x")},
		"write-through-up": {symlink("l", ".."), file("l/f", "x")},
		"hardlink-out":     {hardlink("h", "../../etc/passwd")},
		"device":           {special("null", tar.TypeChar), special("fifo", tar.TypeFifo)},
		"twice":            {file("a", "1"), symlink("a", "..")},
	}
	out := map[string][]byte{}
	for name, entries := range sets {
		out[name+"-tar"] = makeTar(t, false, entries...)
		out[name+"-tgz"] = makeTar(t, true, entries...)
	}
	return out
}

// FuzzExtract feeds arbitrary bytes to Extract and checks that it never
// panics, never writes next to the directory, and that whatever it
// accepted holds only files, directories and links that stay inside.
func FuzzExtract(f *testing.F) {
	if *updateSeeds {
		dir := filepath.Join("testdata", "fuzz", "FuzzExtract")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			f.Fatal(err)
		}
		for name, data := range seeds(f) {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				f.Fatal(err)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		parent, root := sandbox(t)
		_, err := Extract(t.Context(), bytes.NewReader(data), root, Options{MaxSize: 1 << 20, MaxFiles: 1000})
		checkSandbox(t, parent)
		if err != nil {
			return
		}
		r, err := os.OpenRoot(root)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = r.Close() }()
		err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || p == root {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			switch t := d.Type(); {
			case t.IsDir(), t.IsRegular():
			case t&fs.ModeSymlink != 0:
				if err := source.ResolveInside(r, filepath.ToSlash(rel)); err != nil {
					return fmt.Errorf("accepted symlink %s: %w", rel, err)
				}
			default:
				return fmt.Errorf("accepted %s of type %v", rel, t)
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
	})
}
