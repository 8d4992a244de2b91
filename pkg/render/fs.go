package render

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/kustomize/api/konfig"

	"github.com/gitsync/gitsync/pkg/redact"
	"github.com/gitsync/gitsync/pkg/render/internal/manifest"
	"github.com/gitsync/gitsync/pkg/sops"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
)

// ErrOutsideRoot is wrapped by the error Render returns when a path, or a
// symlink, leads outside Options.Root.
var ErrOutsideRoot = errors.New("path leads outside the source root")

// ErrRemoteResource is wrapped by the error Render returns when a
// kustomization refers to a URL (remote base, git repository or HTTP file):
// the render stage only reads the fetched source.
var ErrRemoteResource = errors.New("remote resources are not allowed")

// ErrFileTooLarge is wrapped by the error Render returns when a file it
// reads is larger than Options.MaxFileSize.
var ErrFileTooLarge = errors.New("file too large")

// DefaultMaxFileSize is the largest file Render reads when
// Options.MaxFileSize is 0: 16 MiB, sixteen times the largest object the
// API server stores, and a sixteenth of the Job's memory limit.
const DefaultMaxFileSize int64 = 16 << 20

// errReadOnly is returned by every write operation of confinedFS: kustomize
// has no business writing into the checkout.
var errReadOnly = errors.New("the source filesystem is read-only")

// confinedFS is the filesystem kustomize sees. It reads the checkout on disk
// but refuses any path that is, or resolves through a symlink to, a place
// outside root; it refuses to write; it serves kustomization files that Render
// generated or merged from memory (overlay) so the checkout is never changed;
// and it rejects kustomization files that name remote resources before
// kustomize gets a chance to clone or download them.
type confinedFS struct {
	root    string // absolute and free of symlinks
	disk    filesys.FileSystem
	overlay map[string][]byte // absolute path → content served instead of the disk
	// inputs are the directories the render looked into (inputs.go).
	inputs inputLog
	// keys decrypt SOPS-encrypted files as they are read (decrypt.go);
	// nil means decryption is not configured.
	keys *sops.Keys
	// decrypted caches decrypted files by absolute path: kustomize may
	// read a file more than once.
	decrypted map[string][]byte
	// secrets receives what decryption reveals (Options.Secrets).
	secrets *redact.Secrets
	// maxFileSize is the largest file read (Options.MaxFileSize).
	maxFileSize int64
	// violation is the first confinement or remote-reference error. kustomize
	// turns some filesystem errors into "not found" and tries alternatives,
	// so Render reports this instead of whatever kustomize made of it.
	violation error
}

// refuse records err as a violation and returns it.
func (c *confinedFS) refuse(err error) error {
	if c.violation == nil {
		c.violation = err
	}
	return err
}

func newConfinedFS(root string) *confinedFS {
	return &confinedFS{root: root, disk: filesys.MakeFsOnDisk(), overlay: map[string][]byte{}, maxFileSize: DefaultMaxFileSize}
}

// within reports whether p is root or below it; both must be clean.
func within(root, p string) bool {
	return p == root || strings.HasPrefix(p, root+string(filepath.Separator)) || root == string(filepath.Separator)
}

// rel names p relative to root for messages.
func (c *confinedFS) rel(p string) string {
	if r, err := filepath.Rel(c.root, p); err == nil && !strings.HasPrefix(r, "..") {
		return filepath.ToSlash(r)
	}
	return p
}

// resolve returns the symlink-free absolute form of p after checking that
// both p and what it resolves to stay inside root. Paths that do not exist
// resolve to their cleaned form: the operation then fails on its own.
func (c *confinedFS) resolve(p string) (string, error) {
	if !filepath.IsAbs(p) {
		p = filepath.Join(c.root, p)
	}
	p = filepath.Clean(p)
	if !within(c.root, p) {
		return "", c.refuse(fmt.Errorf("%s: %w", p, ErrOutsideRoot))
	}
	// Whatever is asked about p, its directory's listing answers it.
	c.touch(filepath.Dir(p))
	if _, ok := c.overlay[p]; ok {
		return p, nil
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return p, nil
		}
		return "", err
	}
	if !within(c.root, real) {
		return "", c.refuse(fmt.Errorf("%s: symlink resolves to %s: %w", c.rel(p), real, ErrOutsideRoot))
	}
	c.touch(filepath.Dir(real))
	return real, nil
}

// Create refuses: the source is read-only.
func (c *confinedFS) Create(string) (filesys.File, error) { return nil, errReadOnly }

// Mkdir refuses: the source is read-only.
func (c *confinedFS) Mkdir(string) error { return errReadOnly }

// MkdirAll refuses: the source is read-only.
func (c *confinedFS) MkdirAll(string) error { return errReadOnly }

// RemoveAll refuses: the source is read-only.
func (c *confinedFS) RemoveAll(string) error { return errReadOnly }

// WriteFile refuses: the source is read-only.
func (c *confinedFS) WriteFile(string, []byte) error { return errReadOnly }

// Open opens a confined file for reading.
func (c *confinedFS) Open(p string) (filesys.File, error) {
	real, err := c.resolve(p)
	if err != nil {
		return nil, err
	}
	if data, ok := c.overlay[real]; ok {
		return &memFile{Reader: bytes.NewReader(data), name: filepath.Base(real), size: int64(len(data))}, nil
	}
	if isKustomizationFile(real) || !c.disk.IsDir(real) {
		// Read through ReadFile so remote references are checked and
		// SOPS files are decrypted whichever way kustomize asks.
		data, err := c.ReadFile(real)
		if err != nil {
			return nil, err
		}
		return &memFile{Reader: bytes.NewReader(data), name: filepath.Base(real), size: int64(len(data))}, nil
	}
	return c.disk.Open(real)
}

// IsDir reports whether p is a directory inside root.
func (c *confinedFS) IsDir(p string) bool {
	real, err := c.resolve(p)
	if err != nil {
		return false
	}
	if _, ok := c.overlay[real]; ok {
		return false
	}
	return c.disk.IsDir(real)
}

// ReadDir lists a confined directory, including overlay files.
func (c *confinedFS) ReadDir(p string) ([]string, error) {
	real, err := c.resolve(p)
	if err != nil {
		return nil, err
	}
	c.touch(real)
	names, err := c.disk.ReadDir(real)
	if err != nil {
		return nil, err
	}
	for o := range c.overlay {
		if filepath.Dir(o) == real && !slices.Contains(names, filepath.Base(o)) {
			names = append(names, filepath.Base(o))
		}
	}
	slices.Sort(names)
	return names, nil
}

// CleanedAbs splits p into a confirmed directory and a file name, refusing
// anything outside root. Unlike the on-disk implementation it never calls
// log.Fatal.
func (c *confinedFS) CleanedAbs(p string) (filesys.ConfirmedDir, string, error) {
	real, err := c.resolve(p)
	if err != nil {
		return "", "", err
	}
	if _, ok := c.overlay[real]; ok {
		return filesys.ConfirmedDir(filepath.Dir(real)), filepath.Base(real), nil
	}
	info, err := os.Stat(real)
	if err != nil {
		return "", "", err
	}
	if info.IsDir() {
		return filesys.ConfirmedDir(real), "", nil
	}
	return filesys.ConfirmedDir(filepath.Dir(real)), filepath.Base(real), nil
}

// Exists reports whether p exists inside root.
func (c *confinedFS) Exists(p string) bool {
	real, err := c.resolve(p)
	if err != nil {
		return false
	}
	if _, ok := c.overlay[real]; ok {
		return true
	}
	return c.disk.Exists(real)
}

// Glob matches on disk and keeps the matches inside root.
func (c *confinedFS) Glob(pattern string) ([]string, error) {
	c.touch(filepath.Dir(pattern))
	matches, err := c.disk.Glob(pattern)
	if err != nil {
		return nil, err
	}
	out := matches[:0]
	for _, m := range matches {
		if _, err := c.resolve(m); err == nil {
			out = append(out, m)
		}
	}
	return out, nil
}

// ReadFile reads a confined file. Kustomization files are checked for
// remote references first.
func (c *confinedFS) ReadFile(p string) ([]byte, error) {
	real, err := c.resolve(p)
	if err != nil {
		return nil, err
	}
	if data, ok := c.overlay[real]; ok {
		return data, nil
	}
	kfile := isKustomizationFile(real)
	// The errors about a file's content are named by the readers of
	// resources, as decrypt's; a kustomization's are named here.
	bounded := func(err error) error {
		named := c.refuse(fmt.Errorf("%s: %w", c.rel(real), err))
		if kfile {
			return named
		}
		return err
	}
	data, err := c.readBounded(real)
	if errors.Is(err, ErrFileTooLarge) {
		return nil, bounded(err)
	}
	if err != nil {
		return nil, err
	}
	if kfile {
		if err := checkRemote(data); err != nil {
			return nil, c.refuse(fmt.Errorf("%s: %w", c.rel(real), err))
		}
	} else if data, err = c.decrypt(real, data); err != nil {
		return nil, err
	}
	if err := manifest.CheckAliases(data); err != nil {
		return nil, bounded(err)
	}
	return data, nil
}

// readBounded reads a file of the checkout, refusing one larger than
// maxFileSize before reading a byte of it: a render holds what it reads
// many times over in memory (YAML nodes, objects, kustomize's copies).
func (c *confinedFS) readBounded(real string) ([]byte, error) {
	f, err := os.Open(real)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	limit := c.maxFileSize
	if info.Mode().IsRegular() && info.Size() > limit {
		return nil, fmt.Errorf("%d bytes, more than the limit of %d: %w", info.Size(), limit, ErrFileTooLarge)
	}
	// A file that grows while read, or is not regular, is cut at the
	// limit too.
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("more than the limit of %d bytes: %w", limit, ErrFileTooLarge)
	}
	return data, nil
}

// Walk walks a confined tree, refusing entries that resolve outside root.
func (c *confinedFS) Walk(p string, fn filepath.WalkFunc) error {
	real, err := c.resolve(p)
	if err != nil {
		return err
	}
	return filepath.Walk(real, func(path string, info fs.FileInfo, err error) error {
		if err == nil && info.IsDir() {
			c.touch(path)
		}
		if err == nil {
			if _, rerr := c.resolve(path); rerr != nil {
				err = rerr
			}
		}
		return fn(path, info, err)
	})
}

// memFile is an overlay file opened for reading.
type memFile struct {
	*bytes.Reader
	name string
	size int64
}

func (f *memFile) Write([]byte) (int, error) { return 0, errReadOnly }
func (f *memFile) Close() error              { return nil }
func (f *memFile) Stat() (os.FileInfo, error) {
	return memInfo{name: f.name, size: f.size}, nil
}

type memInfo struct {
	name string
	size int64
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) Mode() fs.FileMode  { return 0o444 }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }

// isKustomizationFile reports whether p is named like a kustomization.
func isKustomizationFile(p string) bool {
	return slices.Contains(konfig.RecognizedKustomizationFileNames(), filepath.Base(p))
}

// scpUserRE matches the "user@" that makes kustomize read "user@host:path"
// as an SCP-style git URL.
var scpUserRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*@`)

// isRemote reports whether a kustomization path entry would make kustomize
// clone a git repository or download a file instead of reading the source.
func isRemote(p string) bool {
	l := strings.ToLower(strings.TrimSpace(p))
	l = strings.TrimPrefix(l, "git::")
	return strings.Contains(l, "://") ||
		strings.HasPrefix(l, "gh:") ||
		strings.HasPrefix(l, "github.com/") || strings.HasPrefix(l, "github.com:") ||
		scpUserRE.MatchString(l)
}

// checkRemote rejects a kustomization whose path entries are URLs. Content
// that does not parse is left for kustomize to report.
func checkRemote(data []byte) error {
	var m map[string]any
	if err := kyaml.Unmarshal(data, &m); err != nil {
		return nil
	}
	var bad []string
	check := func(field, p string) {
		// Multi-line entries are inline patches or generator sources, not
		// paths.
		if p != "" && !strings.Contains(p, "\n") && isRemote(p) {
			bad = append(bad, fmt.Sprintf("%s: %q", field, p))
		}
	}
	for _, field := range []string{"resources", "bases", "components", "crds", "configurations",
		"generators", "transformers", "validators", "patchesStrategicMerge"} {
		for _, v := range asSlice(m[field]) {
			if s, ok := v.(string); ok {
				check(field, s)
			}
		}
	}
	for _, field := range []string{"patches", "patchesJson6902", "replacements"} {
		for _, v := range asSlice(m[field]) {
			if e, ok := v.(map[string]any); ok {
				if s, ok := e["path"].(string); ok {
					check(field, s)
				}
			}
		}
	}
	for _, field := range []string{"configMapGenerator", "secretGenerator"} {
		for _, v := range asSlice(m[field]) {
			g, ok := v.(map[string]any)
			if !ok {
				continue
			}
			for _, key := range []string{"files", "envs"} {
				for _, f := range asSlice(g[key]) {
					if s, ok := f.(string); ok {
						// "key=path" names the file after the "=".
						if _, after, found := strings.Cut(s, "="); found {
							s = after
						}
						check(field, s)
					}
				}
			}
			if s, ok := g["env"].(string); ok {
				check(field, s)
			}
		}
	}
	if o, ok := m["openapi"].(map[string]any); ok {
		if s, ok := o["path"].(string); ok {
			check("openapi", s)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s", ErrRemoteResource, strings.Join(bad, ", "))
	}
	return nil
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// checkSymlinks walks dir and fails on the first symlink that resolves, or
// would resolve, outside root. Version-control metadata is not walked.
func (c *confinedFS) checkSymlinks(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", c.rel(p), err)
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			// Dangling: judge the link text itself.
			target, rerr := os.Readlink(p)
			if rerr != nil {
				return fmt.Errorf("%s: %w", c.rel(p), rerr)
			}
			if !filepath.IsAbs(target) {
				target = filepath.Join(filepath.Dir(p), target)
			}
			real = filepath.Clean(target)
		}
		if !within(c.root, real) {
			return fmt.Errorf("%s: symlink points to %s: %w", c.rel(p), real, ErrOutsideRoot)
		}
		return nil
	})
}
