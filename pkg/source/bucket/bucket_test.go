package bucket_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/minio/minio-go/v7"

	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/source/bucket"
	"github.com/gitsync/gitsync/tests/s3test"
)

// One real S3 server (SeaweedFS) serves every test of this file, over
// HTTPS; each test has its own bucket.
var (
	srv     *s3test.Server
	srvErr  error
	started bool
)

func TestMain(m *testing.M) {
	code := m.Run()
	if srv != nil {
		if err := srv.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "s3test: Close:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// server returns the shared server, starting it on first use.
func server(t *testing.T) *s3test.Server {
	t.Helper()
	if !started {
		started = true
		srv, srvErr = s3test.Start(context.Background(), s3test.Options{TLS: true})
	}
	if srvErr != nil {
		t.Fatalf("s3test.Start: %v", srvErr)
	}
	return srv
}

// newBucket creates a bucket named after the test holding objects.
func newBucket(t *testing.T, objects map[string]string) (*s3test.Server, string) {
	t.Helper()
	s := server(t)
	name := strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || '0' <= r && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(t.Name()))
	if len(name) > 63 {
		name = name[:63]
	}
	name = strings.Trim(name, "-")
	if err := s.CreateBucket(t.Context(), name); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(t.Context(), name, objects); err != nil {
		t.Fatal(err)
	}
	return s, name
}

// options are those of a reader of bkt on s, trusting s's CA.
func options(s *s3test.Server, bkt string) bucket.Options {
	ak, sk := s.ReaderKeys()
	return bucket.Options{
		Endpoint: s.Endpoint(), Bucket: bkt,
		Auth: source.Credentials{AccessKey: ak, SecretKey: sk, CAPEM: s.CA().CertPEM},
	}
}

func newSource(t *testing.T, o bucket.Options) *bucket.Source {
	t.Helper()
	src, err := bucket.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// tree reads every file below dir: slash path → content.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// digest computes a revision from the server's own listing, as the
// package documentation defines it.
func digest(t *testing.T, s *s3test.Server, bkt, prefix string) source.Revision {
	t.Helper()
	var lines []string
	for o := range s.Admin().ListObjects(t.Context(), bkt, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		lines = append(lines, o.Key+" "+o.ETag+"\n")
	}
	slices.Sort(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "")))
	return source.Revision("sha256:" + hex.EncodeToString(sum[:]))
}

func TestResolveFetch(t *testing.T) {
	objects := map[string]string{
		"deploy/a.yaml":       "a: 1\n",
		"deploy/sub/b.yaml":   "b: 2\n",
		"README.md":           "# bucket\n",
		"deploy/empty.yaml":   "",
		"deploy/with space.y": "x",
	}
	s, bkt := newBucket(t, objects)
	src := newSource(t, options(s, bkt))

	s.ResetRequests()
	rev, err := src.Resolve(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := digest(t, s, bkt, ""); rev != want {
		t.Errorf("revision %s, want %s (the digest of the listing)", rev, want)
	}
	if got := s.Requests(); !maps.Equal(got, map[string]int{"LIST": 1}) {
		t.Errorf("Resolve sent %v, want one LIST and nothing else", got)
	}

	s.ResetRequests()
	dir := t.TempDir()
	art, err := src.Fetch(t.Context(), rev, dir)
	if err != nil {
		t.Fatal(err)
	}
	if art.Dir != dir || art.Revision != rev || art.Path != "" {
		t.Errorf("artifact %+v", art)
	}
	if d := cmp.Diff(objects, tree(t, dir)); d != "" {
		t.Errorf("fetched tree (-want +got):\n%s", d)
	}
	if got := s.Requests(); !maps.Equal(got, map[string]int{"GET": len(objects)}) {
		t.Errorf("Fetch sent %v, want one GET per object and no second listing", got)
	}

	// Unchanged: the same revision for one LIST, also from a new source
	// (a new run).
	s.ResetRequests()
	again, err := newSource(t, options(s, bkt)).Resolve(t.Context())
	if err != nil || again != rev {
		t.Errorf("Resolve of the unchanged bucket = %s, %v; want %s", again, err, rev)
	}
	if got := s.Requests(); !maps.Equal(got, map[string]int{"LIST": 1}) {
		t.Errorf("Resolve sent %v, want one LIST", got)
	}

	// One changed object changes the revision.
	if err := s.Put(t.Context(), bkt, map[string]string{"deploy/a.yaml": "a: 2\n"}); err != nil {
		t.Fatal(err)
	}
	changed, err := src.Resolve(t.Context())
	if err != nil || changed == rev || changed != digest(t, s, bkt, "") {
		t.Errorf("Resolve after a change = %s, %v; before %s", changed, err, rev)
	}
}

func TestPrefix(t *testing.T) {
	s, bkt := newBucket(t, map[string]string{
		"apps/web/a.yaml": "a",
		"apps/db.yaml":    "db",
		"apps-old/x.yaml": "old",
		"infra/y.yaml":    "y",
		"apps/folder/":    "", // a folder marker: neither fetched nor digested
	})
	for prefix, want := range map[string]map[string]string{
		"apps/": {"apps/web/a.yaml": "a", "apps/db.yaml": "db"},
		"apps":  {"apps/web/a.yaml": "a", "apps/db.yaml": "db", "apps-old/x.yaml": "old"},
		"none/": {},
	} {
		t.Run(prefix, func(t *testing.T) {
			o := options(s, bkt)
			o.Prefix = prefix
			src := newSource(t, o)
			rev, err := src.Resolve(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			var lines []string
			for k := range want {
				etag := ""
				info, err := s.Admin().StatObject(t.Context(), bkt, k, minio.StatObjectOptions{})
				if err != nil {
					t.Fatal(err)
				}
				etag = info.ETag
				lines = append(lines, k+" "+etag+"\n")
			}
			slices.Sort(lines)
			sum := sha256.Sum256([]byte(strings.Join(lines, "")))
			if string(rev) != "sha256:"+hex.EncodeToString(sum[:]) {
				t.Errorf("revision %s is not the digest of %v", rev, lines)
			}
			dir := t.TempDir()
			if _, err := src.Fetch(t.Context(), rev, dir); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, tree(t, dir)); d != "" {
				t.Errorf("fetched (-want +got):\n%s", d)
			}
		})
	}
}

// TestChangedWhileFetching changes the bucket between Resolve and Fetch:
// the fetch fails rather than mix two states, whether the object changed,
// went away, or the listing itself differs.
func TestChangedWhileFetching(t *testing.T) {
	objects := map[string]string{"a.yaml": "1", "b.yaml": "1", "c.yaml": "1"}
	t.Run("object replaced", func(t *testing.T) {
		s, bkt := newBucket(t, objects)
		src := newSource(t, options(s, bkt))
		rev, err := src.Resolve(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Put(t.Context(), bkt, map[string]string{"b.yaml": "2"}); err != nil {
			t.Fatal(err)
		}
		_, err = src.Fetch(t.Context(), rev, t.TempDir())
		if !errors.Is(err, bucket.ErrChanged) || !errors.Is(err, source.ErrDigestMismatch) || !strings.Contains(err.Error(), `object "b.yaml"`) {
			t.Errorf("Fetch = %v, want ErrChanged naming b.yaml", err)
		}
		t.Log(err)
	})
	t.Run("object deleted", func(t *testing.T) {
		s, bkt := newBucket(t, objects)
		src := newSource(t, options(s, bkt))
		rev, err := src.Resolve(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Remove(t.Context(), bkt, "c.yaml"); err != nil {
			t.Fatal(err)
		}
		_, err = src.Fetch(t.Context(), rev, t.TempDir())
		if !errors.Is(err, bucket.ErrChanged) || !strings.Contains(err.Error(), `object "c.yaml"`) {
			t.Errorf("Fetch = %v, want ErrChanged naming c.yaml", err)
		}
	})
	t.Run("new source, other listing", func(t *testing.T) {
		s, bkt := newBucket(t, objects)
		rev, err := newSource(t, options(s, bkt)).Resolve(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Put(t.Context(), bkt, map[string]string{"d.yaml": "new"}); err != nil {
			t.Fatal(err)
		}
		s.ResetRequests()
		_, err = newSource(t, options(s, bkt)).Fetch(t.Context(), rev, t.TempDir())
		if !errors.Is(err, bucket.ErrChanged) || !strings.Contains(err.Error(), string(rev)) {
			t.Errorf("Fetch = %v, want ErrChanged naming %s", err, rev)
		}
		if got := s.Requests(); got["GET"] != 0 {
			t.Errorf("downloaded %d objects of a listing that is not the revision", got["GET"])
		}
	})
}

func TestAuthentication(t *testing.T) {
	s, bkt := newBucket(t, map[string]string{"a.yaml": "a"})
	for name, creds := range map[string]source.Credentials{
		"wrong secret key": {AccessKey: "gitsync-reader", SecretKey: "WRONG-S3CRET"},
		"unknown key":      {AccessKey: "nobody", SecretKey: "WRONG-S3CRET"},
		"anonymous":        {},
	} {
		t.Run(name, func(t *testing.T) {
			o := options(s, bkt)
			creds.CAPEM = s.CA().CertPEM
			o.Auth = creds
			_, err := newSource(t, o).Resolve(t.Context())
			if !errors.Is(err, source.ErrAuthentication) {
				t.Fatalf("Resolve = %v, want ErrAuthentication", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, "bucket "+bkt+" at https://"+s.Endpoint()) || strings.Contains(msg, "S3CRET") {
				t.Errorf("error %q: want the bucket and endpoint named, and no secret", msg)
			}
		})
	}
	t.Run("one key of the pair", func(t *testing.T) {
		o := options(s, bkt)
		o.Auth.SecretKey = ""
		if _, err := bucket.New(o); !errors.Is(err, source.ErrInvalidOptions) || !strings.Contains(err.Error(), "both accesskey and secretkey") {
			t.Errorf("New = %v, want ErrInvalidOptions", err)
		}
	})
}

func TestTLS(t *testing.T) {
	s, bkt := newBucket(t, map[string]string{"a.yaml": "a"})
	o := options(s, bkt)
	o.Auth.CAPEM = nil
	_, err := newSource(t, o).Resolve(t.Context())
	if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") ||
		!strings.HasPrefix(err.Error(), "bucket "+bkt+" at https://"+s.Endpoint()+": listing: ") {
		t.Errorf("Resolve without the CA = %v, want a TLS verification error naming the bucket", err)
	}
	o.Insecure = true
	if _, err := newSource(t, o).Resolve(t.Context()); err == nil {
		t.Error("plain HTTP to the HTTPS endpoint succeeded")
	}
}

// TestUnsafeKeys has the server list keys that leave the fetch directory;
// such keys cannot be stored in SeaweedFS, so the front rewrites the
// listing, as a compromised server would. The source refuses the listing,
// naming the key, and downloads nothing.
func TestUnsafeKeys(t *testing.T) {
	s, bkt := newBucket(t, map[string]string{"deploy/a.yaml": "a", "deploy/b.yaml": "b"})
	for _, bad := range []string{"../escape.yaml", "/etc/passwd", "deploy/../../escape.yaml", "deploy//b.yaml", "deploy/a.yaml/x"} {
		t.Run(bad, func(t *testing.T) {
			s.RewriteListings(func(_ *http.Request, body []byte) []byte {
				return bytes.Replace(body, []byte("<Key>deploy/b.yaml</Key>"), []byte("<Key>"+bad+"</Key>"), 1)
			})
			defer s.RewriteListings(nil)
			s.ResetRequests()
			dir := t.TempDir()
			src := newSource(t, options(s, bkt))
			_, err := src.Resolve(t.Context())
			if !errors.Is(err, bucket.ErrUnsafeKey) || !strings.Contains(err.Error(), fmt.Sprintf("object %q", bad)) {
				t.Errorf("Resolve = %v, want ErrUnsafeKey naming %q", err, bad)
			}
			if got := s.Requests(); got["GET"] != 0 {
				t.Errorf("downloaded %d objects", got["GET"])
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "escape.yaml")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a file was written outside the directory: %v", err)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	s, bkt := newBucket(t, map[string]string{"a": "0123456789", "b": "0123456789", "c": "0123456789"})
	for name, tc := range map[string]struct {
		opts func(*bucket.Options)
		want string
	}{
		"objects": {func(o *bucket.Options) { o.MaxObjects = 2 }, "more than 2 objects"},
		"size":    {func(o *bucket.Options) { o.MaxSize = 25 }, "more than 25 bytes"},
	} {
		t.Run(name, func(t *testing.T) {
			o := options(s, bkt)
			tc.opts(&o)
			s.ResetRequests()
			_, err := newSource(t, o).Resolve(t.Context())
			if !errors.Is(err, source.ErrTooLarge) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Resolve = %v, want ErrTooLarge: %s", err, tc.want)
			}
			if got := s.Requests(); got["GET"] != 0 {
				t.Errorf("downloaded %d objects", got["GET"])
			}
		})
	}
	t.Run("exactly at the caps", func(t *testing.T) {
		o := options(s, bkt)
		o.MaxObjects, o.MaxSize = 3, 30
		src := newSource(t, o)
		rev, err := src.Resolve(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := src.Fetch(t.Context(), rev, t.TempDir()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestNoSuchBucket(t *testing.T) {
	s := server(t)
	_, err := newSource(t, options(s, "no-such-bucket")).Resolve(t.Context())
	if !errors.Is(err, source.ErrRefNotFound) || !strings.Contains(err.Error(), "bucket no-such-bucket at") {
		t.Errorf("Resolve = %v, want ErrRefNotFound naming the bucket", err)
	}
}

func TestPin(t *testing.T) {
	s, bkt := newBucket(t, map[string]string{"a.yaml": "1"})
	rev, err := newSource(t, options(s, bkt)).Resolve(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	o := options(s, bkt)
	o.Pin = rev
	pinned := newSource(t, o)
	if got, err := pinned.Resolve(t.Context()); err != nil || got != rev {
		t.Errorf("pinned Resolve = %s, %v; want %s", got, err, rev)
	}
	if err := s.Put(t.Context(), bkt, map[string]string{"a.yaml": "2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := pinned.Resolve(t.Context()); !errors.Is(err, source.ErrRefNotFound) || !strings.Contains(err.Error(), "keeps no history") {
		t.Errorf("pinned Resolve after a change = %v, want ErrRefNotFound", err)
	}
	for _, bad := range []source.Revision{"main@sha1:0123456789abcdef0123456789abcdef01234567", "1.2.3", source.Revision("v1@sha256:" + strings.Repeat("a", 64))} {
		o.Pin = bad
		if _, err := bucket.New(o); !errors.Is(err, source.ErrInvalidOptions) {
			t.Errorf("New with pin %s = %v, want ErrInvalidOptions", bad, err)
		}
	}
}

// TestPagination lists more objects than one page holds (S3 pages at
// 1,000): two LISTs, and every object fetched.
func TestPagination(t *testing.T) {
	objects := map[string]string{}
	for i := range 1001 {
		objects[fmt.Sprintf("deploy/cm-%04d.yaml", i)] = fmt.Sprintf("n: %d\n", i)
	}
	s, bkt := newBucket(t, objects)
	src := newSource(t, options(s, bkt))
	s.ResetRequests()
	rev, err := src.Resolve(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Requests(); !maps.Equal(got, map[string]int{"LIST": 2}) {
		t.Errorf("Resolve of 1,001 objects sent %v, want two LISTs", got)
	}
	dir := t.TempDir()
	if _, err := src.Fetch(t.Context(), rev, dir); err != nil {
		t.Fatal(err)
	}
	if got := tree(t, dir); len(got) != len(objects) || got["deploy/cm-1000.yaml"] != "n: 1000\n" {
		t.Errorf("fetched %d files, want %d", len(got), len(objects))
	}
}
