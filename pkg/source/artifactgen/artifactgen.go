// Package artifactgen assembles the artifact of a Flux ArtifactGenerator
// (source.extensions.fluxcd.io) from the fetched trees of its sources, with
// the copy rules of Flux's source-watcher: operations run in order, each
// copying `@alias/path` or `@alias/glob` to `@artifact/path` with cp's
// rules, later ones overwriting earlier ones or, with Merge, merging YAML
// into them. Every read is confined to its source's tree and every write
// to the artifact's directory (os.Root), and the bytes written are capped.
package artifactgen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/gitsync/gitsync/pkg/source"
)

// DefaultMaxSize caps the bytes Build writes when Options.MaxSize is 0.
const DefaultMaxSize int64 = 512 << 20

// Op is one copy operation.
type Op struct {
	// From is "@alias/path" or "@alias/glob": a file, a directory (copied
	// as a subdirectory of To), or a glob ("dir/**" copies the contents of
	// dir; `**` is one path segment, as in Go's fs.Glob, like Flux's).
	From string
	// To is "@artifact/path"; a directory when it ends with "/" or names
	// a directory an earlier operation made.
	To string
	// Exclude are glob patterns (`**` for any number of segments) matched
	// against the path in the source and the path below the literal
	// prefix of From; a pattern without "/" matches the file name at any
	// depth.
	Exclude []string
	// Merge merges a YAML file into the file an earlier operation wrote at
	// the same place (maps deeply, lists replaced, as Helm merges values
	// files); without an earlier file it copies.
	Merge bool
}

// Options are the options of Build.
type Options struct {
	// MaxSize caps the bytes written below dir. Default DefaultMaxSize;
	// negative: no cap.
	MaxSize int64
}

// Build runs ops in order, reading the trees of sources (alias →
// directory) and writing into dir, an existing empty directory. An error
// names the operation (its index, From and To).
func Build(ctx context.Context, ops []Op, sources map[string]string, dir string, opts Options) error {
	out, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer func() { _ = out.Close() }()
	b := &builder{out: out, left: opts.MaxSize}
	if b.left == 0 {
		b.left = DefaultMaxSize
	}
	for i, op := range ops {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := b.apply(ctx, op, sources); err != nil {
			return fmt.Errorf("copy[%d] from %s to %s: %w", i, op.From, op.To, err)
		}
	}
	return nil
}

type builder struct {
	out  *os.Root
	left int64 // bytes still allowed; negative at start means no cap
}

func (b *builder) apply(ctx context.Context, op Op, sources map[string]string) error {
	alias, pattern, ok := strings.Cut(strings.TrimPrefix(op.From, "@"), "/")
	if !strings.HasPrefix(op.From, "@") || !ok {
		return errors.New("from must be @alias/path")
	}
	srcDir, ok := sources[alias]
	if !ok {
		return fmt.Errorf("no source has the alias %s", alias)
	}
	dest, ok := strings.CutPrefix(op.To, "@artifact/")
	if !ok {
		return errors.New("to must be @artifact/path")
	}
	dest = cleanRel(dest)
	for _, p := range op.Exclude {
		if !validPattern(p) {
			return fmt.Errorf("exclude: %q is not a valid glob pattern", p)
		}
	}
	src, err := os.OpenRoot(srcDir)
	if err != nil {
		return err
	}
	defer func() { _ = src.Close() }()
	c := &copier{b: b, src: src, op: op}

	if !strings.ContainsAny(pattern, "*?[") {
		p := cleanRel(pattern)
		fi, err := src.Stat(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("@%s/%s does not exist", alias, p)
			}
			return err
		}
		if fi.IsDir() {
			// cp -r dir dest/: dir becomes dest/dir; the root's contents
			// go to dest itself.
			return c.dir(ctx, p, path.Join(dest, path.Base(p)), p)
		}
		if excluded(p, ".", op.Exclude) {
			return nil
		}
		target := dest
		if strings.HasSuffix(op.To, "/") || b.isDir(dest) {
			target = path.Join(dest, path.Base(p))
		}
		return c.file(p, target)
	}
	matches, err := fs.Glob(src.FS(), pattern)
	if err != nil {
		return fmt.Errorf("from: %q is not a valid glob pattern: %w", pattern, err)
	}
	base := literalPrefix(pattern)
	n := 0
	for _, m := range matches {
		if m == "." || m == ".." || excluded(m, base, op.Exclude) {
			continue
		}
		n++
		target := path.Join(dest, m)
		if prefix, ok := strings.CutSuffix(pattern, "/**"); ok {
			if rel, ok := strings.CutPrefix(m, prefix+"/"); ok {
				target = path.Join(dest, rel)
			}
		}
		fi, err := src.Stat(m)
		if err != nil {
			return err
		}
		if fi.IsDir() {
			err = c.dir(ctx, m, target, base)
		} else {
			err = c.file(m, target)
		}
		if err != nil {
			return err
		}
	}
	if n == 0 {
		if len(matches) == 0 {
			return fmt.Errorf("no file of @%s matches %s", alias, pattern)
		}
		return fmt.Errorf("every file of @%s matching %s is excluded", alias, pattern)
	}
	return nil
}

// copier copies from one source for one operation.
type copier struct {
	b   *builder
	src *os.Root
	op  Op
}

// dir copies directory p of the source to target, recursively, leaving
// out what the operation excludes (relative to base too).
func (c *copier) dir(ctx context.Context, p, target, base string) error {
	return fs.WalkDir(c.src.FS(), p, func(q string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(q, p), "/")
		if p == "." {
			rel = q
		}
		if q == p || rel == "." {
			return c.b.mkdirAll(target)
		}
		if excluded(q, base, c.op.Exclude) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		to := path.Join(target, rel)
		if d.IsDir() {
			return c.b.mkdirAll(to)
		}
		return c.file(q, to)
	})
}

// file copies (or merges) file p of the source to target.
func (c *copier) file(p, target string) error {
	if target == "." || target == "" {
		return fmt.Errorf("%s: no file name to copy to", p)
	}
	if err := c.b.mkdirAll(path.Dir(target)); err != nil {
		return err
	}
	if c.op.Merge && c.b.isFile(target) {
		return c.merge(p, target)
	}
	in, err := c.src.Open(p)
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return nil // a device or socket has no content to copy
	}
	out, err := c.b.out.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fi.Mode().Perm()|0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, c.b.limit(in))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// merge merges the YAML of source file p into the artifact's target.
func (c *copier) merge(p, target string) error {
	over, err := loadYAML(c.src, p)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	base, err := loadYAML(c.b.out, target)
	if err != nil {
		return fmt.Errorf("@artifact/%s: %w", target, err)
	}
	b, err := yaml.Marshal(mergeMaps(base, over))
	if err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, c.b.limit(strings.NewReader(string(b)))); err != nil {
		return err
	}
	return c.b.out.WriteFile(target, b, 0o644)
}

// loadYAML reads every document of a YAML file, merged into one map.
func loadYAML(root *os.Root, p string) (map[string]any, error) {
	f, err := root.Open(p)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	out := map[string]any{}
	r := utilyaml.NewYAMLReader(bufio.NewReader(f))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		m := map[string]any{}
		if err := yaml.Unmarshal(doc, &m); err != nil {
			return nil, fmt.Errorf("not a YAML map: %w", err)
		}
		out = mergeMaps(out, m)
	}
}

// mergeMaps merges over into base as Helm merges values files: maps
// deeply, any other value (lists included) replaced.
func mergeMaps(base, over map[string]any) map[string]any {
	out := maps.Clone(base)
	if out == nil {
		out = map[string]any{}
	}
	for k, v := range over {
		if vm, ok := v.(map[string]any); ok {
			if bm, ok := out[k].(map[string]any); ok {
				out[k] = mergeMaps(bm, vm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// ErrTooLarge is returned when the artifact would exceed Options.MaxSize.
// It is a source.ErrTooLarge, as the other sources' caps are.
var ErrTooLarge = fmt.Errorf("the artifact exceeds its size cap: %w", source.ErrTooLarge)

type limitedReader struct {
	r io.Reader
	b *builder
}

func (l *limitedReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if l.b.left >= 0 {
		l.b.left -= int64(n)
		if l.b.left < 0 {
			return n, ErrTooLarge
		}
	}
	return n, err
}

func (b *builder) limit(r io.Reader) io.Reader {
	if b.left < 0 {
		return r
	}
	return &limitedReader{r: r, b: b}
}

func (b *builder) mkdirAll(p string) error {
	if p == "." || p == "" {
		return nil
	}
	return b.out.MkdirAll(p, 0o755)
}

func (b *builder) isDir(p string) bool {
	fi, err := b.out.Stat(p)
	return err == nil && fi.IsDir()
}

func (b *builder) isFile(p string) bool {
	fi, err := b.out.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// cleanRel cleans a path relative to a root: "" and "/" are ".".
func cleanRel(p string) string {
	c := path.Clean("/" + p)
	if c == "/" {
		return "."
	}
	return c[1:]
}

// literalPrefix is the part of a glob pattern before its first segment
// with a glob character ("." when there is none).
func literalPrefix(pattern string) string {
	var parts []string
	for _, s := range strings.Split(path.Clean(pattern), "/") {
		if strings.ContainsAny(s, "*?[") {
			break
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "."
	}
	return path.Join(parts...)
}

// excluded reports whether p (relative to the source), or p relative to
// base, matches one of patterns.
func excluded(p, base string, patterns []string) bool {
	if len(patterns) == 0 {
		return false
	}
	if matchAny(p, patterns) {
		return true
	}
	if base == "." || base == "" {
		return false
	}
	rel, ok := strings.CutPrefix(p, base+"/")
	return ok && matchAny(rel, patterns)
}

func matchAny(p string, patterns []string) bool {
	for _, pat := range patterns {
		if match(pat, p) || (!strings.Contains(pat, "/") && match(pat, path.Base(p))) {
			return true
		}
	}
	return false
}

// match matches p against a glob pattern whose `**` segments match any
// number of path segments, the others as path.Match.
func match(pattern, p string) bool {
	return matchSegments(strings.Split(pattern, "/"), strings.Split(p, "/"))
}

func matchSegments(pat, segs []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(segs); i++ {
				if matchSegments(pat[1:], segs[i:]) {
					return true
				}
			}
			return false
		}
		if len(segs) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], segs[0]); !ok {
			return false
		}
		pat, segs = pat[1:], segs[1:]
	}
	return len(segs) == 0
}

func validPattern(p string) bool {
	for _, s := range strings.Split(p, "/") {
		if s == "**" {
			continue
		}
		if _, err := path.Match(s, ""); err != nil {
			return false
		}
	}
	return true
}
