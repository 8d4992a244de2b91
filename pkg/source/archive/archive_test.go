package archive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync/gitsync/pkg/source"
)

// entry is one entry of a test archive.
type entry struct {
	name, body, link string
	typ              byte
	size             int64 // header size when it differs from len(body)
}

func file(name, body string) entry      { return entry{name: name, body: body, typ: tar.TypeReg} }
func dir(name string) entry             { return entry{name: name, typ: tar.TypeDir} }
func symlink(name, to string) entry     { return entry{name: name, link: to, typ: tar.TypeSymlink} }
func hardlink(name, to string) entry    { return entry{name: name, link: to, typ: tar.TypeLink} }
func special(name string, t byte) entry { return entry{name: name, typ: t} }

// makeTar writes entries as a tar stream, gzip-compressed when gz.
func makeTar(t testing.TB, gz bool, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	var tw *tar.Writer
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		tw = tar.NewWriter(zw)
	} else {
		tw = tar.NewWriter(&buf)
	}
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: 0o644}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if e.size != 0 {
			h.Size = e.size
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.body != "" {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// sandbox returns a root directory to extract into, inside a parent that
// also holds a sentinel file; checkSandbox fails the test when anything
// but root and the unchanged sentinel is in the parent.
func sandbox(t testing.TB) (parent, root string) {
	t.Helper()
	parent = t.TempDir()
	root = filepath.Join(parent, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(parent, "sentinel"), []byte("untouched"), 0o644); err != nil {
		t.Fatal(err)
	}
	return parent, root
}

func checkSandbox(t testing.TB, parent string) {
	t.Helper()
	ents, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{"root", "sentinel"}, names); diff != "" {
		t.Errorf("something was written next to the root (-want +got):\n%s", diff)
	}
	if b, err := os.ReadFile(filepath.Join(parent, "sentinel")); err != nil || string(b) != "untouched" {
		t.Errorf("the sentinel was changed: %q, %v", b, err)
	}
}

// tree lists root: "name" for files with ": content", "name/" for
// directories, "name -> target" for symlinks.
func tree(t testing.TB, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			to, _ := os.Readlink(p)
			out = append(out, rel+" -> "+to)
		case d.IsDir():
			out = append(out, rel+"/")
		default:
			b, _ := os.ReadFile(p)
			out = append(out, rel+": "+string(b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestExtract(t *testing.T) {
	for _, gz := range []bool{true, false} {
		parent, root := sandbox(t)
		data := makeTar(t, gz,
			dir("."), // flux push artifact writes the root as "."
			dir("./deploy"), file("./deploy/a.yaml", "a"), file("deploy/sub/b.yaml", "b"),
			symlink("deploy/c.yaml", "a.yaml"), symlink("link-to-sub", "deploy/sub"),
			hardlink("deploy/d.yaml", "deploy/a.yaml"), file("empty", ""))
		st, err := Extract(t.Context(), bytes.NewReader(data), root, Options{})
		if err != nil {
			t.Fatalf("gzip %v: %v", gz, err)
		}
		want := []string{"deploy/", "deploy/a.yaml: a", "deploy/c.yaml -> a.yaml", "deploy/d.yaml: a",
			"deploy/sub/", "deploy/sub/b.yaml: b", "empty: ", "link-to-sub -> deploy/sub"}
		if diff := cmp.Diff(want, tree(t, root)); diff != "" {
			t.Errorf("gzip %v: tree (-want +got):\n%s", gz, diff)
		}
		if st.Entries != 7 || st.Bytes != 2 {
			t.Errorf("stats %+v, want 7 entries and 2 bytes", st)
		}
		checkSandbox(t, parent)
	}
}

func TestExtractRefuses(t *testing.T) {
	big := strings.Repeat("x", 1000)
	tests := []struct {
		name    string
		entries []entry
		opts    Options
		// want are parts of the message; it must name the entry.
		want []string
		is   error
	}{
		{"dot-dot", []entry{file("../evil", "x")}, Options{}, []string{`"../evil"`, `".." in the path`}, ErrUnsafeEntry},
		{"dot-dot inside", []entry{file("a/../../evil", "x")}, Options{}, []string{`"a/../../evil"`}, ErrUnsafeEntry},
		{"absolute", []entry{file("/etc/evil", "x")}, Options{}, []string{`"/etc/evil"`, "absolute path"}, ErrUnsafeEntry},
		{"absolute symlink", []entry{symlink("passwd", "/etc/passwd")}, Options{}, []string{"passwd", "/etc/passwd"}, source.ErrUnsafeSymlink},
		{"symlink up", []entry{symlink("a/up", "../../x")}, Options{}, []string{"a/up", "../../x", "outside"}, source.ErrUnsafeSymlink},
		{"symlink chain", []entry{dir("b"), symlink("y", "."), symlink("b/x", "../y/..")}, Options{}, []string{"b/x"}, source.ErrUnsafeSymlink},
		{"symlink through symlink", []entry{symlink("b", "."), symlink("y", "b/..")}, Options{}, []string{"y -> b/.."}, source.ErrUnsafeSymlink},
		{"write through symlink", []entry{symlink("l", "."), file("l/f", "x")}, Options{}, []string{"l/f", "below the symlink l"}, ErrUnsafeEntry},
		{"hardlink outside", []entry{hardlink("h", "../../etc/passwd")}, Options{}, []string{"h", "hardlink"}, ErrUnsafeEntry},
		{"hardlink absolute", []entry{hardlink("h", "/etc/passwd")}, Options{}, []string{"h", "/etc/passwd"}, ErrUnsafeEntry},
		{"hardlink to symlink", []entry{symlink("s", "a"), hardlink("h", "s")}, Options{}, []string{"h", "not a file"}, ErrUnsafeEntry},
		{"char device", []entry{special("dev/null", tar.TypeChar)}, Options{}, []string{"dev/null", "character device"}, ErrUnsafeEntry},
		{"block device", []entry{special("sda", tar.TypeBlock)}, Options{}, []string{"sda", "block device"}, ErrUnsafeEntry},
		{"fifo", []entry{special("pipe", tar.TypeFifo)}, Options{}, []string{"pipe", "FIFO"}, ErrUnsafeEntry},
		{"twice", []entry{file("a", "1"), symlink("a", "b")}, Options{}, []string{"a", "twice"}, ErrUnsafeEntry},
		{"file as parent", []entry{file("a", "1"), file("a/b", "2")}, Options{}, []string{"a/b", "not a directory"}, ErrUnsafeEntry},
		{"backslash", []entry{file(`..\evil`, "x")}, Options{}, []string{`..\\evil`}, ErrUnsafeEntry},
		{"size cap", []entry{file("a", big), file("b", big)}, Options{MaxSize: 1500}, []string{"b", "1500"}, source.ErrTooLarge},
		{"file count cap", []entry{file("a", ""), file("b", ""), file("c", "")}, Options{MaxFiles: 2}, []string{"c", "more than 2 entries"}, source.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent, root := sandbox(t)
			_, err := Extract(t.Context(), bytes.NewReader(makeTar(t, true, tt.entries...)), root, tt.opts)
			if err == nil {
				t.Fatalf("extracted; tree %v", tree(t, root))
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			checkSandbox(t, parent)
		})
	}
}

// TestExtractSizeCapCountsContent checks that the cap counts what is
// written, not what headers claim: a gzip stream of 1 MB of zeros is a
// few KB, and the cap stops it while it is written.
func TestExtractSizeCapCountsContent(t *testing.T) {
	parent, root := sandbox(t)
	data := makeTar(t, true, file("zeros", strings.Repeat("\x00", 1<<20)))
	if len(data) > 10<<10 {
		t.Fatalf("the test archive has %d bytes; it should compress well", len(data))
	}
	st, err := Extract(t.Context(), bytes.NewReader(data), root, Options{MaxSize: 64 << 10})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "zeros") {
		t.Fatalf("err %v", err)
	}
	if st.Bytes > 64<<10+1 {
		t.Errorf("wrote %d bytes past a cap of %d", st.Bytes, 64<<10)
	}
	checkSandbox(t, parent)
}

func TestExtractCancelled(t *testing.T) {
	_, root := sandbox(t)
	ctx, cancel := contextWithCancel(t)
	cancel()
	_, err := Extract(ctx, bytes.NewReader(makeTar(t, true, file("a", "x"))), root, Options{})
	if err == nil {
		t.Fatal("a cancelled extraction succeeded")
	}
}

// TestExtractContentOnALink checks that a link or directory entry that
// claims content is refused rather than skipped: skipping means
// decompressing it, however large it claims to be.
func TestExtractContentOnALink(t *testing.T) {
	_, root := sandbox(t)
	data := makeTar(t, false, entry{name: "d", typ: tar.TypeReg, body: "xx"})
	// Turn the file's header into a symlink's, keeping its size.
	data[156] = tar.TypeSymlink
	copy(data[148:156], "        ")
	sum := 0
	for _, b := range data[:512] {
		sum += int(b)
	}
	copy(data[148:156], fmt.Sprintf("%06o\x00 ", sum))
	_, err := Extract(t.Context(), bytes.NewReader(data), root, Options{})
	if !errors.Is(err, ErrUnsafeEntry) || !strings.Contains(err.Error(), "symlink entry with 2 bytes") {
		t.Fatalf("err %v", err)
	}
}

func TestExtractNotAnArchive(t *testing.T) {
	_, root := sandbox(t)
	for name, data := range map[string][]byte{
		"garbage":   []byte("this is not a tar archive, nor is it gzip, but it has more than 512 bytes " + strings.Repeat("!", 600)),
		"bad gzip":  {0x1f, 0x8b, 0, 0},
		"truncated": makeTar(t, false, file("a", strings.Repeat("y", 2000)))[:1024],
	} {
		if _, err := Extract(t.Context(), bytes.NewReader(data), root, Options{}); err == nil {
			t.Errorf("%s: extracted", name)
		}
	}
}
