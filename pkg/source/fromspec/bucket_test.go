package fromspec_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/source/bucket"
	"github.com/gitsync/gitsync/pkg/source/fromspec"
	"github.com/gitsync/gitsync/pkg/spec"
)

func TestNewBucket(t *testing.T) {
	b := spec.Source{Bucket: &spec.BucketSource{Endpoint: "minio.example.com", BucketName: "configs", Prefix: "apps/"}}
	src, err := fromspec.New(b, source.Credentials{AccessKey: "a", SecretKey: "s"}, fromspec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// A bucket's tree is filtered by ignore rules, as Git's and OCI's.
	w, ok := src.(interface{ Unwrap() source.Source })
	if !ok {
		t.Fatalf("New(bucket) = %T, want it wrapped by source.WithIgnore", src)
	}
	if _, ok := w.Unwrap().(*bucket.Source); !ok {
		t.Errorf("New(bucket) wraps %T, want *bucket.Source", w.Unwrap())
	}
	if k := fromspec.Key(b, ""); !strings.HasPrefix(k, "bucket:") {
		t.Errorf("key %s does not start with bucket:", k)
	}
	other := spec.Source{Bucket: &spec.BucketSource{Endpoint: "minio.example.com", BucketName: "configs", Prefix: "infra/"}}
	if fromspec.Key(b, "") == fromspec.Key(other, "") {
		t.Error("buckets with different prefixes share a key")
	}

	for _, tc := range []struct {
		name  string
		s     spec.Source
		creds source.Credentials
		pin   source.Revision
		ok    bool
	}{
		{"pinned to a listing", b, source.Credentials{}, source.Revision("sha256:" + strings.Repeat("ab", 32)), true},
		{"pinned to a commit", b, source.Credentials{}, "main@sha1:" + commit, false},
		{"pinned to a chart version", b, source.Credentials{}, "1.2.3", false},
		{"half a key pair", b, source.Credentials{AccessKey: "a"}, "", false},
		{"a provider for later", spec.Source{Bucket: &spec.BucketSource{Provider: "aws", Endpoint: "s3.amazonaws.com", BucketName: "configs"}},
			source.Credentials{}, "", false},
	} {
		_, err := fromspec.New(tc.s, tc.creds, fromspec.Options{Pin: tc.pin})
		if (err == nil) != tc.ok || err != nil && !errors.Is(err, source.ErrInvalidOptions) {
			t.Errorf("%s: New = %v, want ok %v (else ErrInvalidOptions)", tc.name, err, tc.ok)
		}
	}
}
