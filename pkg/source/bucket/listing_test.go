package bucket

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestKeyProblem(t *testing.T) {
	for key, want := range map[string]string{
		"deploy/a.yaml":      "",
		"a":                  "",
		"..a/b..":            "",
		".hidden/.x":         "",
		"with space/ü.yaml":  "",
		"":                   "empty key",
		"/etc/passwd":        "absolute path",
		"../evil.yaml":       "'..' leaves the fetch directory",
		"a/../../evil.yaml":  "'..' leaves the fetch directory",
		"a/..":               "'..' leaves the fetch directory",
		"./a.yaml":           "'.' path component",
		"a//b.yaml":          "empty path component",
		"a/b\n.yaml":         "control character in the key",
		"a/b\x00.yaml":       "control character in the key",
		"deploy/a.yaml\x7f":  "control character in the key",
		"a/./b":              "'.' path component",
		"trailing/../slash/": "'..' leaves the fetch directory",
	} {
		if got := keyProblem(key); got != want {
			t.Errorf("keyProblem(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestListingCheck(t *testing.T) {
	for name, tc := range map[string]struct {
		keys []string
		want string // substring of the error; "" for none
	}{
		"sorted and fine":       {[]string{"b/c.yaml", "a.yaml", "b/a.yaml"}, ""},
		"unsafe key named":      {[]string{"a.yaml", "x/../../evil.yaml"}, `object "x/../../evil.yaml": '..' leaves the fetch directory: unsafe object key`},
		"file and directory":    {[]string{"a", "a-b", "a/b/c"}, `object "a": is also the directory of object "a/b/c": unsafe object key`},
		"nested file and dir":   {[]string{"x/a/b", "x/a"}, `object "x/a": is also the directory of object "x/a/b"`},
		"siblings with a slash": {[]string{"a/b", "a/c", "ab"}, ""},
	} {
		t.Run(name, func(t *testing.T) {
			l := &listing{}
			for _, k := range tc.keys {
				l.objects = append(l.objects, object{key: k, etag: "e"})
			}
			err := l.check()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("check: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrUnsafeKey)):
				t.Fatalf("check = %v, want an ErrUnsafeKey containing %q", err, tc.want)
			}
			for i := 1; i < len(l.objects); i++ {
				if l.objects[i-1].key >= l.objects[i].key {
					t.Errorf("not sorted: %q before %q", l.objects[i-1].key, l.objects[i].key)
				}
			}
		})
	}
}

// TestRevision checks the digest against its definition, Flux's: sha256
// over "<key> <etag>\n" per object, keys in byte order.
func TestRevision(t *testing.T) {
	l := &listing{objects: []object{{key: "b.yaml", etag: "2"}, {key: "a.yaml", etag: "1"}, {key: "B.yaml", etag: "3"}}}
	if err := l.check(); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("B.yaml 3\na.yaml 1\nb.yaml 2\n"))
	if got, want := string(l.revision()), "sha256:"+hex.EncodeToString(sum[:]); got != want {
		t.Errorf("revision %s, want %s", got, want)
	}
	other := &listing{objects: []object{{key: "B.yaml", etag: "3"}, {key: "a.yaml", etag: "1"}, {key: "b.yaml", etag: "changed"}}}
	if other.revision() == l.revision() {
		t.Error("a changed ETag left the revision unchanged")
	}
	empty := sha256.Sum256(nil)
	if got := (&listing{}).revision(); string(got) != "sha256:"+hex.EncodeToString(empty[:]) {
		t.Errorf("empty listing: %s", got)
	}
}
