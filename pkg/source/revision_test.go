package source_test

import (
	"testing"

	"github.com/gitsync/gitsync/pkg/source"
)

const (
	sha1a   = "0123456789abcdef0123456789abcdef01234567"
	sha1b   = "89abcdef0123456789abcdef0123456789abcdef"
	sha256a = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
)

func TestRevisionParts(t *testing.T) {
	tests := []struct {
		rev                         source.Revision
		name, digest, commit, short string
	}{
		{"main@sha1:" + sha1a, "main", "sha1:" + sha1a, sha1a, "main@sha1:01234567"},
		{"v1.2.0@sha1:" + sha1a, "v1.2.0", "sha1:" + sha1a, sha1a, "v1.2.0@sha1:01234567"},
		{"refs/tags/a@b@sha1:" + sha1a, "refs/tags/a@b", "sha1:" + sha1a, sha1a, "refs/tags/a@b@sha1:01234567"},
		{"sha1:" + sha1a, "", "sha1:" + sha1a, sha1a, "sha1:01234567"},
		{"1.2.3", "1.2.3", "", "", "1.2.3"},
		{"1.2.3+build.1", "1.2.3+build.1", "", "", "1.2.3+build.1"},
		{"1.2.3@sha256:" + sha256a, "1.2.3", "sha256:" + sha256a, "", "1.2.3@sha256:00112233"},
		{"latest@sha256:" + sha256a, "latest", "sha256:" + sha256a, "", "latest@sha256:00112233"},
		{"sha256:" + sha256a, "", "sha256:" + sha256a, "", "sha256:00112233"},
		{"main@sha1:abc", "main", "sha1:abc", "", "main@sha1:abc"},
		{"v1.2.0@sha256:00112233445566778899", "v1.2.0", "sha256:00112233445566778899", "", "v1.2.0@sha256:00112233"},
		{"main@md5:" + sha1a, "main@md5:" + sha1a, "", "", "main@md5:" + sha1a},
		{"main@sha1:xyz", "main@sha1:xyz", "", "", "main@sha1:xyz"},
		{"user@host", "user@host", "", "", "user@host"},
		{"", "", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(string(tt.rev), func(t *testing.T) {
			if got := tt.rev.Name(); got != tt.name {
				t.Errorf("Name = %q, want %q", got, tt.name)
			}
			if got := tt.rev.Digest(); got != tt.digest {
				t.Errorf("Digest = %q, want %q", got, tt.digest)
			}
			if got := tt.rev.Commit(); got != tt.commit {
				t.Errorf("Commit = %q, want %q", got, tt.commit)
			}
			if got := tt.rev.Short(); got != tt.short {
				t.Errorf("Short = %q, want %q", got, tt.short)
			}
		})
	}
}

func TestRevisionSame(t *testing.T) {
	tests := []struct {
		a, b source.Revision
		want bool
	}{
		{"main@sha1:" + sha1a, "sha1:" + sha1a, true},
		{"main@sha1:" + sha1a, "v1@sha1:" + sha1a, true},
		{"main@sha1:" + sha1a, "main@sha1:" + sha1b, false},
		{"sha1:" + sha1a, source.Revision("sha1:" + sha1a[:39] + "8"), false},
		{"sha1:" + sha1a, "SHA1:" + sha1a, false}, // an upper-case algorithm is no digest
		{"main@sha1:" + sha1a, "main@sha1:0123456789ABCDEF0123456789ABCDEF01234567", true},
		{"1.2.3@sha256:" + sha256a, "sha256:" + sha256a, true},
		{"1.2.3", "1.2.3", true},
		{"1.2.3", "1.2.4", false},
		{"1.2.3", "1.2.3@sha256:" + sha256a, false},
		{"", "", true},
	}
	for _, tt := range tests {
		if got := tt.a.Same(tt.b); got != tt.want {
			t.Errorf("%q.Same(%q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		if got := tt.b.Same(tt.a); got != tt.want {
			t.Errorf("%q.Same(%q) = %v, want %v (not symmetric)", tt.b, tt.a, got, tt.want)
		}
	}
}

func TestPinGit(t *testing.T) {
	opts := source.GitOptions{URL: "https://h/r.git", Ref: source.GitRef{Branch: "main", SemVer: "1.x"}}
	for rev, want := range map[source.Revision]string{
		"main@sha1:" + sha1a: sha1a,
		"v1@sha1:" + sha1b:   sha1b,
		"sha1:" + sha1a:      sha1a,
	} {
		got, err := source.PinGit(opts, rev)
		if err != nil || got.Ref != (source.GitRef{Commit: want}) || got.URL != opts.URL {
			t.Errorf("PinGit(%q) = %+v, %v; want ref commit %s only", rev, got.Ref, err, want)
		}
	}
	for _, rev := range []source.Revision{"1.2.3", "main@sha1:abc", "sha256:" + sha256a, ""} {
		if _, err := source.PinGit(opts, rev); err == nil {
			t.Errorf("PinGit(%q): no error", rev)
		}
	}
}
