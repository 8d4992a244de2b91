package source

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		raw      string
		insecure bool
		want     remoteURL
		err      string
	}{
		{raw: "https://git.example/org/app.git", want: remoteURL{url: "https://git.example/org/app.git", kind: transportHTTPS}},
		{raw: "HTTPS://git.example:8443/app", want: remoteURL{url: "https://git.example:8443/app", kind: transportHTTPS}},
		{raw: "https://user@git.example/app", want: remoteURL{url: "https://user@git.example/app", kind: transportHTTPS}},
		{raw: "http://10.0.0.1/app.git", insecure: true, want: remoteURL{url: "http://10.0.0.1/app.git", kind: transportHTTP}},
		{raw: "http://10.0.0.1/app.git", err: "needs insecure"},
		{raw: "ssh://git@git.example:2222/org/app.git", want: remoteURL{
			url: "ssh://git@git.example:2222/org/app.git", kind: transportSSH, user: "git", hostPort: "git.example:2222",
		}},
		{raw: "ssh://git.example/app", want: remoteURL{url: "ssh://git.example/app", kind: transportSSH, hostPort: "git.example:22"}},
		{raw: "ssh://git@[::1]:2222/app", want: remoteURL{url: "ssh://git@[::1]:2222/app", kind: transportSSH, user: "git", hostPort: "[::1]:2222"}},
		{raw: "git@github.com:org/app.git", want: remoteURL{
			url: "ssh://git@github.com/org/app.git", kind: transportSSH, user: "git", hostPort: "github.com:22",
		}},
		{raw: "git.example:/srv/app.git", want: remoteURL{url: "ssh://git.example/srv/app.git", kind: transportSSH, hostPort: "git.example:22"}},
		{raw: "git@[fe80::1]:app.git", want: remoteURL{url: "ssh://git@[fe80::1]/app.git", kind: transportSSH, user: "git", hostPort: "[fe80::1]:22"}},
		{raw: "git@host:repo@v1", want: remoteURL{url: "ssh://git@host/repo@v1", kind: transportSSH, user: "git", hostPort: "host:22"}},
		{raw: "", err: "url is empty"},
		{raw: "ssh://git.example", err: "no repository path"},
		{raw: "git@git.example:", err: "no repository path"},
		{raw: "ftp://git.example/app", err: `scheme "ftp" is not supported`},
		{raw: "file:///srv/app.git", err: `scheme "file" is not supported`},
		{raw: "git://git.example/app", err: `scheme "git" is not supported`},
		{raw: "/srv/app.git", err: "not a URL"},
		{raw: "./dir:with-colon", err: "not a URL"},
		{raw: "app.git", err: "not a URL"},
		{raw: `C:\repos\app`, err: "a Windows path is not a URL"},
		{raw: "https:///app", err: "no host"},
		{raw: "https://git.example/app?x=1", err: "query and fragment"},
		{raw: "https://git.example/a pp", err: "white space"},
		{raw: "https://u:pw@git.example/app", err: "URL holds a password"},
		{raw: "https://u:pw@git.example/%zz", err: "not a URL"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := parseURL(tt.raw, tt.insecure)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("parseURL = %+v, %v; want error containing %q", got, err, tt.err)
				}
				if strings.Contains(err.Error(), "pw") {
					t.Errorf("error %q shows the password", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseURL: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(remoteURL{})); diff != "" {
				t.Errorf("parseURL (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGitRefString(t *testing.T) {
	tests := []struct {
		ref  GitRef
		want string
	}{
		{GitRef{}, "default branch"},
		{GitRef{Branch: "main"}, `branch "main"`},
		{GitRef{Branch: "main", Tag: "v1"}, `tag "v1"`},
		{GitRef{Tag: "v1", SemVer: "^1"}, `semver "^1"`},
		{GitRef{SemVer: "^1", Name: "refs/pull/1/head"}, `name "refs/pull/1/head"`},
		{GitRef{Name: "refs/heads/x", Commit: "abc"}, `commit "abc"`},
		{GitRef{Branch: "main", Commit: "abc"}, `commit "abc" on branch "main"`},
	}
	for _, tt := range tests {
		if got := tt.ref.String(); got != tt.want {
			t.Errorf("%+v.String() = %s, want %s", tt.ref, got, tt.want)
		}
	}
}

func TestPickSemVer(t *testing.T) {
	refs := func(tags ...string) remoteRefs {
		rr := remoteRefs{ids: map[plumbing.ReferenceName]plumbing.Hash{
			"refs/heads/v9.9.9": plumbing.NewHash("01"), // a branch, not a tag
		}}
		for _, tag := range tags {
			rr.ids[plumbing.NewTagReferenceName(tag)] = plumbing.NewHash("02")
			rr.ids[plumbing.NewTagReferenceName(tag)+peeledSuffix] = plumbing.NewHash("03")
		}
		return rr
	}
	tests := []struct {
		constraint string
		tags       []string
		want       string
		err        string
	}{
		{"*", []string{"v1.0.0", "v1.10.0", "v1.9.0"}, "v1.10.0", ""},
		{"<1.10", []string{"v1.0.0", "v1.10.0", "v1.9.0"}, "v1.9.0", ""},
		{"^1", []string{"1.0.0", "v1.1.0", "v2.0.0"}, "v1.1.0", ""},
		{"*", []string{"v1.0.0", "v2.0.0-rc.1"}, "v1.0.0", ""}, // prereleases only when asked for
		{">=2.0.0-0", []string{"v1.0.0", "v2.0.0-rc.1"}, "v2.0.0-rc.1", ""},
		{"*", []string{"v1.0.0", "1.0.0"}, "v1.0.0", ""},                // equal versions: by tag name
		{"*", []string{"v1.0.0+b2", "v1.0.0+b1"}, "v1.0.0+b2", ""},      // build metadata does not order
		{"*", []string{"v1.0.0", "v2", "v3.1", "latest"}, "v1.0.0", ""}, // two-part tags are not versions
		{"^3", []string{"v1.0.0", "v2.0.0", "nope"}, "", "highest version tags: v2.0.0, v1.0.0"},
		{"*", nil, "", "highest version tags: none"},
	}
	for _, tt := range tests {
		t.Run(tt.constraint+" "+strings.Join(tt.tags, ","), func(t *testing.T) {
			c, err := semver.NewConstraint(tt.constraint)
			if err != nil {
				t.Fatal(err)
			}
			got, err := pickSemVer(c, refs(tt.tags...))
			if tt.err != "" {
				if !errors.Is(err, ErrRefNotFound) || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("pickSemVer = %q, %v; want ErrRefNotFound containing %q", got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("pickSemVer = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	names := strings.Split("a b c d e f g h i j k l", " ")
	if got, want := summarize(names), "a, b, c, d, e, f, g, h, i, j and 2 more"; got != want {
		t.Errorf("summarize = %q, want %q", got, want)
	}
}

func TestRevisionCommit(t *testing.T) {
	const id = "0123456789abcdef0123456789abcdef01234567"
	for rev, want := range map[Revision]string{
		"main@sha1:" + id:          id,
		"refs/tags/a@b@sha1:" + id: id,
		"sha1:" + id:               id,
		"main@sha1:0123":           "",
		"main@sha256:" + id:        "",
		"":                         "",
		Revision(id):               "",
	} {
		if got := rev.Commit(); got != want {
			t.Errorf("Revision(%q).Commit() = %q, want %q", rev, got, want)
		}
	}
}

// TestResolveInside builds trees of links on disk and checks which
// resolutions stay inside the root.
func TestResolveInside(t *testing.T) {
	tests := []struct {
		name  string
		links map[string]string // path → target
		dirs  []string
		path  string
		want  error
	}{
		{"sibling", map[string]string{"a/l": "../b"}, []string{"a", "b"}, "a/l", nil},
		{"self dir", map[string]string{"l": "."}, nil, "l", nil},
		{"dangling inside", map[string]string{"l": "missing/x"}, nil, "l", nil},
		{"dangling up and out", map[string]string{"l": "missing/../../x"}, nil, "l", errOutside},
		{"parent", map[string]string{"l": ".."}, nil, "l", errOutside},
		{"absolute", map[string]string{"l": "/tmp"}, nil, "l", errAbsolute},
		{"through root link", map[string]string{"y": ".", "x/a": "../y/.."}, []string{"x"}, "x/a", errOutside},
		{"link in the middle", map[string]string{"d": "a/b", "l": "d/../../.."}, []string{"a/b"}, "l", errOutside},
		{"link in the middle, inside", map[string]string{"d": "a/b", "l": "d/../.."}, []string{"a/b"}, "l", nil},
		{"loop", map[string]string{"p": "q", "q": "p"}, nil, "p", errLoop},
		{".git", map[string]string{"l": "a/../.git/config"}, []string{"a"}, "l", errIntoGit},
		{"dot-git elsewhere is fine", map[string]string{"l": "a/.git"}, []string{"a"}, "l", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for _, d := range tt.dirs {
				if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for p, target := range tt.links {
				if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(target, filepath.Join(root, p)); err != nil {
					t.Fatal(err)
				}
			}
			r, err := os.OpenRoot(root)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = r.Close() }()
			if err := ResolveInside(r, tt.path, ".git"); !errors.Is(err, tt.want) {
				t.Errorf("ResolveInside(%s) = %v, want %v", tt.path, err, tt.want)
			}
		})
	}
}

func TestBudget(t *testing.T) {
	b := &budget{limit: 10}
	if err := b.take(10); err != nil {
		t.Fatalf("take(10) of 10: %v", err)
	}
	if err := b.take(1); !errors.Is(err, ErrTooLarge) || !b.exceeded.Load() {
		t.Errorf("take(1) past the limit = %v, exceeded %v; want ErrTooLarge", err, b.exceeded.Load())
	}
	unlimited := &budget{limit: -1}
	if err := unlimited.take(1 << 40); err != nil {
		t.Errorf("unlimited take: %v", err)
	}
}

// TestKnownHostsNeedsNoTempDir checks that known_hosts data is parsed
// without a writable temporary directory on Linux.
func TestKnownHostsNeedsNoTempDir(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("in-memory files are Linux only")
	}
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "missing"))
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	db, err := knownHostsDB([]byte(knownhosts.Line([]string{"[127.0.0.1]:2222"}, key) + "\n"))
	if err != nil {
		t.Fatalf("knownHostsDB: %v", err)
	}
	if diff := cmp.Diff([]string{ssh.KeyAlgoED25519}, db.HostKeyAlgorithms("127.0.0.1:2222")); diff != "" {
		t.Errorf("HostKeyAlgorithms (-want +got):\n%s", diff)
	}
	if got := db.HostKeyAlgorithms("127.0.0.1:22"); len(got) != 0 {
		t.Errorf("HostKeyAlgorithms of another port = %v, want none", got)
	}
}
