package syncrun

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/apply"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/source/bucket"
	"github.com/gitsync/gitsync/tests/s3test"
)

// bucketFixture is a sync in its own namespace fed by its own bucket of a
// real S3 server (SeaweedFS) over HTTPS.
type bucketFixture struct {
	*fixture
	s3     *s3test.Server
	bucket string
}

func newBucketFixture(t *testing.T, s3 *s3test.Server, bucketName string, objects map[string]string) *bucketFixture {
	t.Helper()
	if err := s3.CreateBucket(t.Context(), bucketName); err != nil {
		t.Fatal(err)
	}
	f := &bucketFixture{fixture: &fixture{t: t, ns: env.NewNamespace(t), name: "app"}, s3: s3, bucket: bucketName}
	f.put(objects)
	ak, sk := s3.ReaderKeys()
	f.secret(map[string]string{"accesskey": ak, "secretkey": sk, "ca.crt": string(s3.CA().CertPEM)})
	return f
}

func (f *bucketFixture) put(objects map[string]string) {
	f.t.Helper()
	if err := f.s3.Put(f.t.Context(), f.bucket, objects); err != nil {
		f.t.Fatal(err)
	}
}

// secret writes the Secret s3-keys the spec names.
func (f *bucketFixture) secret(data map[string]string) {
	f.t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s3-keys", Namespace: f.ns}, StringData: data}
	secrets := env.Client().CoreV1().Secrets(f.ns)
	_ = secrets.Delete(f.t.Context(), s.Name, metav1.DeleteOptions{})
	if _, err := secrets.Create(f.t.Context(), s, metav1.CreateOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

// installBucket writes the spec: the bucket with the given prefix, and
// spec.path.
func (f *bucketFixture) installBucket(prefix, path string) {
	f.t.Helper()
	f.writeSpec(fmt.Sprintf(`apiVersion: gitsync.io/v1alpha1
kind: Sync
metadata:
  name: %s
  namespace: %s
spec:
  source:
    bucket:
      endpoint: %s
      bucketName: %s
      prefix: %q
      secretRef: {name: s3-keys}
  path: %s
`, f.name, f.ns, f.s3.Endpoint(), f.bucket, prefix, path))
}

// runCounting runs the sync and returns what it sent to the bucket.
func (f *bucketFixture) runCounting() (*Result, map[string]int) {
	f.t.Helper()
	f.s3.ResetRequests()
	res := f.run()
	return res, f.s3.Requests()
}

// TestBucketSource runs syncs from buckets of one real S3 server, end to
// end: resolve, fetch, render, apply, record.
func TestBucketSource(t *testing.T) {
	s3 := s3test.StartTest(t, s3test.Options{TLS: true})

	t.Run("unchanged bucket costs one LIST; a change is applied", func(t *testing.T) {
		f := newBucketFixture(t, s3, "apply", map[string]string{
			"deploy/a.yaml": cm("a", "1"),
			"deploy/b.yaml": cm("b", "1"),
			"README.md":     "not a manifest, outside path",
		})
		f.installBucket("", "./deploy")
		res, reqs := f.runCounting()
		f.mustSucceed(res)
		if rev := source.Revision(res.Revision); rev.Name() != "" || !strings.HasPrefix(rev.Digest(), "sha256:") || len(rev.Digest()) != len("sha256:")+64 {
			t.Errorf("revision %q, want sha256:<hex>", res.Revision)
		}
		if !maps.Equal(reqs, map[string]int{"LIST": 1, "GET": 3}) {
			t.Errorf("first run sent %v, want one LIST and one GET per object", reqs)
		}
		f.mustHave("a", "b")
		first := res.Revision

		res, reqs = f.runCounting()
		f.mustSucceed(res)
		if res.Rendered || res.Revision != first {
			t.Errorf("unchanged bucket: rendered %v, revision %s (was %s)", res.Rendered, res.Revision, first)
		}
		if !maps.Equal(reqs, map[string]int{"LIST": 1}) {
			t.Errorf("unchanged bucket: the run sent %v, want one LIST and no download", reqs)
		}

		f.put(map[string]string{"deploy/a.yaml": cm("a", "2"), "deploy/c.yaml": cm("c", "1")})
		res = f.run()
		f.mustSucceed(res)
		if !res.Rendered || res.Revision == first {
			t.Errorf("changed bucket: rendered %v, revision %s (was %s)", res.Rendered, res.Revision, first)
		}
		a, _ := f.configMap("a")
		if a.Data["value"] != "2" {
			t.Errorf("a = %q, want the changed value 2", a.Data["value"])
		}
		f.mustHave("c")

		if err := s3.Remove(t.Context(), f.bucket, "deploy/b.yaml"); err != nil {
			t.Fatal(err)
		}
		f.mustSucceed(f.run())
		f.mustNotHave("b")
	})

	t.Run("prefix", func(t *testing.T) {
		f := newBucketFixture(t, s3, "prefixed", map[string]string{
			"team-a/deploy/a.yaml": cm("a", "team-a"),
			"team-b/deploy/b.yaml": cm("b", "team-b"),
		})
		// Keys keep their prefix below the fetch directory, as in Flux:
		// the path names it.
		f.installBucket("team-a/", "./team-a/deploy")
		res, reqs := f.runCounting()
		f.mustSucceed(res)
		f.mustHave("a")
		f.mustNotHave("b")
		if reqs["GET"] != 1 {
			t.Errorf("downloaded %d objects, want only the one below the prefix", reqs["GET"])
		}
		// A change outside the prefix is not a change of this sync.
		f.put(map[string]string{"team-b/deploy/b2.yaml": cm("b2", "team-b")})
		res, reqs = f.runCounting()
		f.mustSucceed(res)
		if res.Rendered || !maps.Equal(reqs, map[string]int{"LIST": 1}) {
			t.Errorf("change outside the prefix: rendered %v, requests %v", res.Rendered, reqs)
		}
	})

	t.Run("wrong credentials", func(t *testing.T) {
		f := newBucketFixture(t, s3, "auth", map[string]string{"deploy/a.yaml": cm("a", "1")})
		ak, _ := s3.ReaderKeys()
		f.secret(map[string]string{"accesskey": ak, "secretkey": "N0T-THE-S3CRET", "ca.crt": string(s3.CA().CertPEM)})
		f.installBucket("", "./deploy")
		res := f.run()
		if res.Outcome != Failed || !errors.Is(res.Err, source.ErrAuthentication) {
			t.Fatalf("outcome %s, err %v; want Failed with ErrAuthentication", res.Outcome, res.Err)
		}
		for _, text := range []string{res.Err.Error(), res.Message, f.inventory().Record.LastRun.Message} {
			if !strings.Contains(text, "bucket auth at https://"+s3.Endpoint()) || strings.Contains(text, "N0T-THE-S3CRET") {
				t.Errorf("message %q: want the bucket named, and not the secret", text)
			}
		}
		f.mustNotHave("a")
	})

	t.Run("unknown CA", func(t *testing.T) {
		f := newBucketFixture(t, s3, "tls", map[string]string{"deploy/a.yaml": cm("a", "1")})
		ak, sk := s3.ReaderKeys()
		f.secret(map[string]string{"accesskey": ak, "secretkey": sk})
		f.installBucket("", "./deploy")
		res := f.run()
		if res.Outcome != Failed || !strings.Contains(res.Err.Error(), "certificate signed by unknown authority") {
			t.Fatalf("outcome %s, err %v; want Failed on TLS verification", res.Outcome, res.Err)
		}
		f.mustNotHave("a")
	})

	t.Run("keys escaping the root apply nothing", func(t *testing.T) {
		f := newBucketFixture(t, s3, "escape", map[string]string{"deploy/a.yaml": cm("a", "1"), "deploy/b.yaml": cm("b", "1")})
		f.installBucket("", "./deploy")
		f.mustSucceed(f.run())
		before := f.inventory()

		// SeaweedFS refuses to store such keys; the front lists one, as a
		// compromised server would, next to a real change.
		f.put(map[string]string{"deploy/a.yaml": cm("a", "2")})
		s3.RewriteListings(func(_ *http.Request, body []byte) []byte {
			return bytes.Replace(body, []byte("<Key>deploy/b.yaml</Key>"), []byte("<Key>deploy/../../escape.yaml</Key>"), 1)
		})
		defer s3.RewriteListings(nil)
		res, reqs := f.runCounting()
		if res.Outcome != Failed || !errors.Is(res.Err, bucket.ErrUnsafeKey) || !strings.Contains(res.Err.Error(), `"deploy/../../escape.yaml"`) {
			t.Fatalf("outcome %s, err %v; want Failed naming the key", res.Outcome, res.Err)
		}
		if reqs["GET"] != 0 {
			t.Errorf("downloaded %d objects of a refused listing", reqs["GET"])
		}
		a, _ := f.configMap("a")
		if a.Data["value"] != "1" {
			t.Errorf("a = %q: the change next to the unsafe key was applied", a.Data["value"])
		}
		after := f.inventory()
		if after.Record.LastAppliedRevision != before.Record.LastAppliedRevision ||
			after.Record.LastAppliedSetDigest != before.Record.LastAppliedSetDigest ||
			len(after.Entries) != len(before.Entries) || after.Record.LastRun.Result != inventory.ResultFailed {
			t.Errorf("state changed: before %+v (%d objects), after %+v (%d objects)",
				before.Record, len(before.Entries), after.Record, len(after.Entries))
		}
	})

	t.Run("1,000 objects, one changes", func(t *testing.T) {
		objects := map[string]string{}
		for i := range 1000 {
			objects[fmt.Sprintf("deploy/cm-%04d.yaml", i)] = cm(fmt.Sprintf("cm-%04d", i), "1")
		}
		f := newBucketFixture(t, s3, "thousand", objects)
		f.installBucket("", "./deploy")
		res, reqs := f.runCounting()
		f.mustSucceed(res)
		if res.Objects != 1000 || !maps.Equal(reqs, map[string]int{"LIST": 1, "GET": 1000}) {
			t.Fatalf("first run: %d objects, requests %v", res.Objects, reqs)
		}
		first := res.Revision

		res, reqs = f.runCounting()
		f.mustSucceed(res)
		if res.Rendered || res.Revision != first || !maps.Equal(reqs, map[string]int{"LIST": 1}) {
			t.Errorf("unchanged: rendered %v, revision %s, requests %v", res.Rendered, res.Revision, reqs)
		}

		f.put(map[string]string{"deploy/cm-0500.yaml": cm("cm-0500", "2")})
		res = f.run()
		f.mustSucceed(res)
		if res.Revision == first {
			t.Error("the revision did not change")
		}
		counts := res.Applied.Counts()
		if counts[apply.Configured] != 1 || counts[apply.Unchanged] != 999 || len(res.Applied.Changes) != 1000 {
			t.Errorf("apply after one change: %v, want 1 configured and 999 unchanged", counts)
		}
		for _, c := range res.Applied.Changes {
			if c.Action == apply.Configured && c.Target.Name != "cm-0500" {
				t.Errorf("configured %s, want only cm-0500", c.Target)
			}
		}
	})
}
