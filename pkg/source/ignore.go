package source

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
)

// Ignore rules
//
// Flux's source-controller leaves files out of every artifact it builds
// from a Git repository, an OCI artifact or a bucket: what .sourceignore
// files in the tree and the source's spec.ignore exclude, in .gitignore
// syntax, or, when neither holds a rule, a default list of version control
// files, CI configurations and binary formats. The render stage of gitsync
// must see what Flux's controllers would see, so every kind of source that
// has an ignore field runs its fetched tree through ApplyIgnore, in one
// place: fromspec wraps such a source with WithIgnore.

// IgnoreFile is the name of the files in a source's tree that hold
// exclusion rules for their directory and below.
const IgnoreFile = ".sourceignore"

// The rules that apply without any .sourceignore or spec.ignore rule,
// with Flux's behaviour: version control metadata is left out always, the
// rest only when no rule of the tree or spec overrides the defaults.
var (
	ignoreAlways   = []string{".git/", ".gitignore", ".gitmodules", ".gitattributes"}
	ignoreDefaults = []string{
		// Binary formats that are not configuration.
		"*.jpg", "*.jpeg", "*.gif", "*.png", "*.wmv", "*.flv", "*.tar.gz", "*.zip",
		// CI configuration.
		".github/", ".circleci/", ".travis.yml", ".gitlab-ci.yml", "appveyor.yml", ".drone.yml",
		"cloudbuild.yaml", "codeship-services.yml", "codeship-steps.yml",
		// Tools' configuration, at any depth.
		"**/.goreleaser.yml", "**/.sops.yaml", "**/.flux.yaml",
	}
)

// ApplyIgnore removes from dir what Flux leaves out of an artifact, and
// returns how many files (and symlinks) it removed:
//
//   - the rules of every .sourceignore file in the tree, each for its own
//     directory and below, read from the root down;
//   - then rules, the source's spec.ignore (nil: none), which win over
//     the files' rules;
//   - below both, .git/, .gitignore, .gitmodules and .gitattributes;
//   - and, only when the files and rules hold no rule at all, the default
//     exclusions: *.jpg, *.jpeg, *.gif, *.png, *.wmv, *.flv, *.tar.gz,
//     *.zip, the CI folders and files (.github/, .circleci/, .travis.yml,
//     .gitlab-ci.yml, appveyor.yml, .drone.yml, cloudbuild.yaml,
//     codeship-*.yml) and .goreleaser.yml, .sops.yaml and .flux.yaml at any
//     depth.
//
// Rules are matched against each file's path, not each directory's, as
// Flux's archiver does: a later "!rule" brings back a file below a
// directory an earlier rule excluded. Directories left empty by the
// removal, and matched by a rule, are removed too. The walk does not
// follow symlinks.
func ApplyIgnore(ctx context.Context, dir string, rules *string) (int, error) {
	ps, err := loadIgnoreFiles(ctx, dir)
	if err != nil {
		return 0, err
	}
	if rules != nil {
		ps = append(ps, parseIgnore(*rules, nil)...)
	}
	all := parseIgnore(strings.Join(ignoreAlways, "\n"), nil)
	if len(ps) == 0 {
		all = append(all, parseIgnore(strings.Join(ignoreDefaults, "\n"), nil)...)
	}
	m := gitignore.NewMatcher(append(all, ps...))

	removed := 0
	var dirs []string // matched directories, parents first
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if d.IsDir() {
			if m.Match(parts, true) {
				dirs = append(dirs, p)
			}
			return nil
		}
		if !m.Match(parts, false) {
			return nil
		}
		if err := os.Remove(p); err != nil {
			return err
		}
		removed++
		return nil
	})
	if err != nil {
		return removed, fmt.Errorf("ignore rules: %w", err)
	}
	// Children before parents, so a parent emptied by its children goes
	// too; a directory that still holds a file (brought back by a "!"
	// rule) stays.
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Remove(dirs[i]); err != nil && !isNotEmpty(err) && !errors.Is(err, fs.ErrNotExist) {
			return removed, fmt.Errorf("ignore rules: %w", err)
		}
	}
	return removed, nil
}

// isNotEmpty reports whether err says a directory is not empty.
func isNotEmpty(err error) bool {
	return errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST)
}

// loadIgnoreFiles reads the rules of every .sourceignore file below dir,
// each scoped to its directory, parents before children. Only regular
// files are read.
func loadIgnoreFiles(ctx context.Context, dir string) ([]gitignore.Pattern, error) {
	var ps []gitignore.Pattern
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if d.Name() == ".git" && p != dir {
			return filepath.SkipDir
		}
		f := filepath.Join(p, IgnoreFile)
		fi, err := os.Lstat(f)
		if errors.Is(err, fs.ErrNotExist) || err == nil && !fi.Mode().IsRegular() {
			return nil
		}
		if err != nil {
			return err
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var domain []string
		if rel, _ := filepath.Rel(dir, p); rel != "." {
			domain = strings.Split(filepath.ToSlash(rel), "/")
		}
		ps = append(ps, parseIgnore(string(b), domain)...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s files: %w", IgnoreFile, err)
	}
	return ps, nil
}

// parseIgnore parses .gitignore-style text: one rule a line, blank lines
// and lines starting with # skipped.
func parseIgnore(text string, domain []string) []gitignore.Pattern {
	var ps []gitignore.Pattern
	sc := bufio.NewScanner(bytes.NewReader([]byte(text)))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		ps = append(ps, gitignore.ParsePattern(line, domain))
	}
	return ps
}

// WithIgnore returns src with ApplyIgnore run, with rules, on every tree
// its Fetch fetches; an artifact that is one file (Artifact.Path names a
// packaged chart or a copied layer) is left as it is. The wrapper is a
// ContentDigester when src is.
func WithIgnore(src Source, rules *string) Source {
	return &ignoring{Source: src, rules: rules}
}

// ignoring is a Source whose fetched trees are filtered by ignore rules.
type ignoring struct {
	Source
	rules *string
}

// Fetch fetches with the wrapped source and applies the ignore rules.
func (s *ignoring) Fetch(ctx context.Context, rev Revision, dir string) (*Artifact, error) {
	art, err := s.Source.Fetch(ctx, rev, dir)
	if err != nil {
		return nil, err
	}
	if art.Path != "" {
		if fi, err := os.Stat(filepath.Join(art.Dir, filepath.FromSlash(art.Path))); err == nil && !fi.IsDir() {
			return art, nil
		}
	}
	if _, err := ApplyIgnore(ctx, art.Dir, s.rules); err != nil {
		return nil, fmt.Errorf("%s: %w", rev, err)
	}
	return art, nil
}

// Unwrap returns the wrapped source.
func (s *ignoring) Unwrap() Source { return s.Source }

// ContentDigest is the wrapped source's, when it has one.
func (s *ignoring) ContentDigest(rev Revision) string {
	if cd, ok := s.Source.(ContentDigester); ok {
		return cd.ContentDigest(rev)
	}
	return ""
}
