package bucket

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/gitsync/gitsync/pkg/source"
)

// ErrUnsafeKey means an object's key cannot be written as a file below the
// fetch directory: it is absolute, climbs with "..", or is otherwise not a
// clean relative path.
var ErrUnsafeKey = errors.New("unsafe object key")

// object is one object of a listing.
type object struct {
	key  string
	etag string
	size int64
}

// listing is what a LIST returned, checked: the objects sorted by key,
// every key a safe relative path.
type listing struct {
	objects []object
	size    int64
}

// revision returns the listing's revision, Flux's form: sha256 over
// "<key> <etag>\n" per object in key order.
func (l *listing) revision() source.Revision {
	h := sha256.New()
	for _, o := range l.objects {
		_, _ = io.WriteString(h, o.key+" "+o.etag+"\n")
	}
	return source.Revision("sha256:" + hex.EncodeToString(h.Sum(nil)))
}

// check sorts the listing and refuses it when a key is unsafe or names a
// file that another key needs as a directory.
func (l *listing) check() error {
	slices.SortFunc(l.objects, func(a, b object) int { return strings.Compare(a.key, b.key) })
	dirs := map[string]string{} // directory → a key below it
	for _, o := range l.objects {
		if problem := keyProblem(o.key); problem != "" {
			return fmt.Errorf("object %q: %s: %w", o.key, problem, ErrUnsafeKey)
		}
		for i := strings.LastIndexByte(o.key, '/'); i > 0; i = strings.LastIndexByte(o.key[:i], '/') {
			if _, seen := dirs[o.key[:i]]; seen {
				break
			}
			dirs[o.key[:i]] = o.key
		}
	}
	for _, o := range l.objects {
		if below, ok := dirs[o.key]; ok {
			return fmt.Errorf("object %q: is also the directory of object %q: %w", o.key, below, ErrUnsafeKey)
		}
	}
	return nil
}

// keyProblem says why key cannot be a path below the fetch directory, or
// returns "". Only clean relative paths pass: what is written is exactly
// what the key says, and two keys never name the same file.
func keyProblem(key string) string {
	switch {
	case key == "":
		return "empty key"
	case strings.HasPrefix(key, "/"):
		return "absolute path"
	case strings.ContainsFunc(key, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		// A newline would also make the listing's digest ambiguous.
		return "control character in the key"
	}
	for _, c := range strings.Split(key, "/") {
		switch c {
		case "..":
			return "'..' leaves the fetch directory"
		case ".":
			return "'.' path component"
		case "":
			return "empty path component"
		}
	}
	return ""
}
