package spec

import (
	"path"
	"strings"
)

// setDefaults fills in the defaults documented on each field.
func (s *SyncSpec) setDefaults() {
	if g := s.Source.Git; g != nil {
		// An empty ref stays empty: it follows the remote's HEAD.
		if g.Timeout == nil {
			g.Timeout = NewDuration(DefaultGitTimeout)
		}
	}
	if b := s.Source.Bucket; b != nil {
		b.setDefaults()
	}
	// An invalid path is left as written so that Validate reports it as
	// the user wrote it.
	if p, ok := sourcePath(s.Path); ok {
		s.Path = p
	}
	if s.Schedule == "" {
		s.Schedule = DefaultSchedule
	}
	if s.Prune == nil {
		prune := DefaultPrune
		s.Prune = &prune
	}
	if s.Timeout == nil {
		s.Timeout = NewDuration(DefaultTimeout)
	}
	s.setHelmDefaults()
	s.setOCIDefaults()
}

// sourcePath returns p in canonical form, "./" or "./dir/sub", and true if
// p is a relative path that stays inside the source root; otherwise false.
func sourcePath(p string) (string, bool) {
	c, ok := cleanRelative(p)
	if !ok {
		return "", false
	}
	if c == "." {
		return "./", true
	}
	return "./" + c, true
}

// cleanRelative returns p cleaned ("." for the root) and true if p is
// relative and does not climb above its base with "..".
func cleanRelative(p string) (string, bool) {
	if strings.HasPrefix(p, "/") || strings.ContainsRune(p, 0) {
		return "", false
	}
	c := path.Clean(p)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", false
	}
	return c, true
}
