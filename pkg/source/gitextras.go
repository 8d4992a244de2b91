package source

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// validateExtras checks Verify, SparseCheckout and Include, and completes
// the client with what they imply. Its messages name the option.
func (c *client) validateExtras() error {
	o := &c.opts
	if v := o.Verify; v != nil {
		mode, err := ParseVerifyMode(string(v.Mode))
		if err != nil {
			return err
		}
		if v.Keys.empty() {
			return errors.New("verify: no trusted public keys")
		}
		if mode.tag() {
			switch o.Ref.kind() {
			case refTag, refSemVer:
			case refName:
				if !plumbing.ReferenceName(strings.TrimSuffix(o.Ref.Name, peeledSuffix)).IsTag() {
					return fmt.Errorf("verify mode %s checks a tag, and ref name %q is not under refs/tags/", mode, o.Ref.Name)
				}
			case refCommit:
				if v.Tag == "" {
					return fmt.Errorf("verify mode %s checks a tag, and the ref selects a commit", mode)
				}
				if plumbing.NewTagReferenceName(v.Tag).Validate() != nil {
					return fmt.Errorf("verify: tag %q is not a valid tag name", v.Tag)
				}
				c.pinnedTag = v.Tag
			default:
				return fmt.Errorf("verify mode %s checks a tag: set ref.tag, ref.semver or a ref.name under refs/tags/", mode)
			}
		}
		// Mode in canonical form ("head" is "HEAD") from here on.
		vc := *v
		vc.Mode = mode
		o.Verify = &vc
	}
	for i, d := range o.SparseCheckout {
		clean, ok := cleanRelativePath(strings.TrimPrefix(d, "./"))
		if !ok || clean == ".git" || strings.HasPrefix(clean, ".git/") {
			return fmt.Errorf("sparseCheckout[%d] %q: must be a directory inside the repository", i, d)
		}
		if clean == "." {
			// The root: the whole tree, as without sparse checkout.
			c.sparse = nil
			break
		}
		c.sparse = append(c.sparse, clean+"/")
	}
	for i, inc := range o.Include {
		if inc.Repository.URL == "" {
			return fmt.Errorf("include[%d]: repository URL is empty", i)
		}
		if _, ok := cleanRelativePath(inc.FromPath); !ok {
			return fmt.Errorf("include[%d]: fromPath %q must be a path inside the included repository", i, inc.FromPath)
		}
		to, ok := cleanRelativePath(inc.ToPath)
		if inc.ToPath == "" || !ok || to == "." || to == ".git" || strings.HasPrefix(to, ".git/") {
			return fmt.Errorf("include[%d]: toPath %q must be a path inside the checkout, below its root and outside .git", i, inc.ToPath)
		}
	}
	return nil
}

// cleanRelativePath returns p cleaned and slash-separated ("." for the
// root) and true when p is relative and stays below its base.
func cleanRelativePath(p string) (string, bool) {
	if strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\x00\\") {
		return "", false
	}
	c := path.Clean(p)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", false
	}
	return c, true
}
