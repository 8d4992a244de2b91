package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/gitsync/gitsync/pkg/redact"
)

// credScope decides which credentials a submodule's fetch presents: all
// of the repository's own on its host, elsewhere only what is not secret.
type credScope struct {
	// origin is the transport and host:port of the repository Fetch was
	// asked for ("https://git.example:443").
	origin string
	auth   Credentials
}

// newCredScope scopes c's credentials to c's host.
func newCredScope(c *client) credScope {
	return credScope{origin: originOf(c.remote), auth: c.opts.Auth}
}

// originOf returns the transport and host:port of u, with the default
// port filled in, so that equal hosts compare equal.
func originOf(u remoteURL) string {
	switch u.kind {
	case transportSSH:
		return "ssh://" + u.hostPort
	case transportHTTP, transportHTTPS:
		p, err := url.Parse(u.url)
		if err != nil {
			return ""
		}
		port := p.Port()
		switch {
		case port != "":
		case u.kind == transportHTTP:
			port = "80"
		default:
			port = "443"
		}
		return strings.ToLower(p.Scheme) + "://" + joinHostPort(strings.ToLower(p.Hostname()), port)
	}
	return ""
}

// credentialsFor returns the credentials for a submodule at u: all of
// them on the origin's host, otherwise only the CA bundle and
// known_hosts, which trust servers but prove nothing to them.
func (s credScope) credentialsFor(u remoteURL) Credentials {
	if originOf(u) == s.origin {
		return s.auth
	}
	return Credentials{CAPEM: s.auth.CAPEM, KnownHosts: s.auth.KnownHosts}
}

// gitlink is a submodule entry of a tree: its path and the commit the
// superproject records for it.
type gitlink struct {
	path   string
	commit plumbing.Hash
}

// submodules fetches the submodules of commit into their paths, each at
// the commit the tree records, and their submodules in turn. With a sparse
// checkout only those inside the sparse directories are fetched.
func (f *fetcher) submodules(ctx context.Context, commit plumbing.Hash) error {
	c, err := f.repo.CommitObject(commit)
	if err != nil {
		return err
	}
	tree, err := c.Tree()
	if err != nil {
		return err
	}
	links, err := f.gitlinks(tree)
	if err != nil || len(links) == 0 {
		return err
	}
	if f.depth >= MaxSubmoduleDepth {
		return fmt.Errorf("submodules nest more than %d levels deep", MaxSubmoduleDepth)
	}
	modules, err := readModules(tree)
	if err != nil {
		return err
	}
	for _, l := range links {
		if err := f.submodule(ctx, l, modules); err != nil {
			return fmt.Errorf("submodule %s: %w", l.path, err)
		}
	}
	return nil
}

// gitlinks lists the submodule entries of tree, within the sparse
// directories when there are any.
func (f *fetcher) gitlinks(tree *object.Tree) ([]gitlink, error) {
	var out []gitlink
	w := object.NewTreeWalker(tree, true, nil)
	defer w.Close()
	for {
		name, e, err := w.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if e.Mode != filemode.Submodule || !f.inSparse(name) {
			continue
		}
		out = append(out, gitlink{path: name, commit: e.Hash})
	}
}

// inSparse reports whether the tree path name is checked out.
func (f *fetcher) inSparse(name string) bool {
	if f.c.sparse == nil {
		return true
	}
	for _, dir := range f.c.sparse {
		if strings.HasPrefix(name, dir) {
			return true
		}
	}
	return false
}

// readModules reads .gitmodules of tree.
func readModules(tree *object.Tree) (*config.Modules, error) {
	file, err := tree.File(gitmodulesFile)
	if errors.Is(err, object.ErrFileNotFound) {
		return nil, fmt.Errorf("the tree has submodules but no %s", gitmodulesFile)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", gitmodulesFile, err)
	}
	text, err := file.Contents()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", gitmodulesFile, err)
	}
	m := config.NewModules()
	if err := m.Unmarshal([]byte(text)); err != nil {
		return nil, fmt.Errorf("%s: %w", gitmodulesFile, err)
	}
	return m, nil
}

// submodule fetches one submodule into its path.
func (f *fetcher) submodule(ctx context.Context, l gitlink, modules *config.Modules) error {
	var mod *config.Submodule
	for _, m := range modules.Submodules {
		if path.Clean(m.Path) == l.path {
			mod = m
			break
		}
	}
	if mod == nil {
		return fmt.Errorf("no entry in %s names this path", gitmodulesFile)
	}
	// Validate refuses paths and URLs that Git itself refuses (a path with
	// "..", a URL starting with "-").
	if err := mod.Validate(); err != nil {
		return fmt.Errorf("%s: %w", gitmodulesFile, err)
	}
	raw, err := resolveSubmoduleURL(f.c.remote.url, mod.URL)
	if err != nil {
		return fmt.Errorf("url %q: %w", redactedSubmoduleURL(mod.URL), err)
	}
	u, err := parseURL(raw, f.c.opts.Insecure)
	if err != nil {
		return fmt.Errorf("url %q: %w", redactedSubmoduleURL(mod.URL), err)
	}
	opts := GitOptions{
		URL:      raw,
		Ref:      GitRef{Commit: l.commit.String()},
		Auth:     f.scope.credentialsFor(u),
		Insecure: f.c.opts.Insecure,
		Timeout:  f.c.timeout,
		// The superproject's budget bounds this fetch (parent below).
		MaxSize:           -1,
		Logger:            f.c.log,
		RecurseSubmodules: true,
	}
	sc, err := newClient(ctx, opts)
	if err != nil {
		return err
	}
	dir := filepath.Join(f.root, filepath.FromSlash(l.path))
	if err := emptyDirAt(dir); err != nil {
		return err
	}
	sub := &fetcher{c: sc, root: dir, parent: f.b, scope: f.scope, depth: f.depth + 1}
	if _, err := sub.run(ctx); err != nil {
		return err
	}
	// The submodule's checkout is part of this one's; its objects are not.
	return os.RemoveAll(filepath.Join(dir, ".git"))
}

// emptyDirAt makes sure dir is an empty directory that is not a symlink:
// go-git's checkout leaves an empty directory at a submodule's path.
func emptyDirAt(dir string) error {
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return errors.New("its path is not a directory in the checkout")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		return errors.New("its directory in the checkout is not empty")
	}
	return nil
}

// resolveSubmoduleURL returns the URL of a submodule: rel itself when it
// is absolute, otherwise rel resolved against the superproject's URL base
// as Git does: the superproject's URL is taken as a directory, "./"
// stays in it and each "../" climbs one path element
// (https://h/org/app.git with ../lib.git is https://h/org/lib.git).
func resolveSubmoduleURL(base, rel string) (string, error) {
	if !strings.HasPrefix(rel, "./") && !strings.HasPrefix(rel, "../") {
		return rel, nil
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	dir := strings.TrimRight(u.Path, "/")
	rest := rel
	for {
		switch {
		case strings.HasPrefix(rest, "./"):
			rest = rest[2:]
			continue
		case strings.HasPrefix(rest, "../"):
			rest = rest[3:]
			if dir == "" {
				return "", errors.New("climbs above the host's root")
			}
			dir = dir[:max(strings.LastIndex(dir, "/"), 0)]
			continue
		}
		break
	}
	u.Path = dir + "/" + rest
	u.RawPath = ""
	return u.String(), nil
}

// redactedSubmoduleURL is a .gitmodules URL for messages: a URL may hold a
// token, a relative one cannot.
func redactedSubmoduleURL(raw string) string {
	if strings.HasPrefix(raw, "./") || strings.HasPrefix(raw, "../") {
		return raw
	}
	return redact.URL(raw)
}
