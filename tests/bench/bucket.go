package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/spec"
	"github.com/gitsync/gitsync/tests/s3test"
)

// bucket measures a sync from an S3 bucket of n objects (one ConfigMap
// each) on a real S3 server (SeaweedFS, over HTTPS): a cold sync, a run
// with nothing changed, which must cost its drift check plus one LIST and
// no download, and a run after one object changed.
func (b *bench) bucket(ctx context.Context, n int) (err error) {
	fmt.Fprintf(os.Stderr, "bucket of %d objects: starting the S3 server ...\n", n)
	s3, err := s3test.Start(ctx, s3test.Options{TLS: true})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, s3.Close()) }()

	ns := fmt.Sprintf("bench-bucket-%d", time.Now().UnixNano()%100000)
	const name, bkt = "bucket", "bench"
	objects := map[string]string{}
	for i := range n {
		objects[fmt.Sprintf("deploy/cm-%05d.yaml", i)] = configMap(fmt.Sprintf("cm-%05d", i), "1")
	}
	if err := s3.CreateBucket(ctx, bkt); err != nil {
		return err
	}
	if err := s3.Put(ctx, bkt, objects); err != nil {
		return err
	}
	client := b.env.Client().CoreV1()
	if _, err := client.Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	ak, sk := s3.ReaderKeys()
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s3-keys", Namespace: ns},
		StringData: map[string]string{"accesskey": ak, "secretkey": sk, "ca.crt": string(s3.CA().CertPEM)}}
	if _, err := client.Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		return err
	}
	doc := fmt.Sprintf("apiVersion: gitsync.io/v1alpha1\nkind: Sync\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n"+
		"  source:\n    bucket:\n      endpoint: %s\n      bucketName: %s\n      secretRef: {name: s3-keys}\n  path: ./deploy\n  timeout: 10m\n",
		name, ns, s3.Endpoint(), bkt)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: spec.ConfigMapName(name), Namespace: ns}, Data: map[string]string{spec.ConfigMapKey: doc}}
	if _, err := client.ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		return err
	}
	f := &syncFixture{ns: ns, name: name}
	workload := fmt.Sprintf("a bucket of %d objects (one ConfigMap each), SeaweedFS over HTTPS", n)
	run := func(what string) (result, string, error) {
		fmt.Fprintf(os.Stderr, "bucket: %s ...\n", what)
		s3.ResetRequests()
		res, err := b.syncJob(ctx, f)
		return res, s3Requests(s3.Requests()), err
	}

	cold, coldS3, err := run("cold sync")
	if err != nil {
		return err
	}
	b.add(fmt.Sprintf("bucket: cold sync, %d objects", n), cold.wall, "", fmt.Sprintf("%s; %s + %d API requests", workload, coldS3, cold.requests))

	same, sameS3, err := run("nothing changed")
	if err != nil {
		return err
	}
	b.add(fmt.Sprintf("bucket: nothing changed, %d objects", n), same.wall, "", workload)
	b.rows = append(b.rows, row{"bucket: requests, nothing changed", fmt.Sprintf("%s + %d API", sameS3, same.requests),
		"1 LIST + the drift check", workload})
	if sameS3 != "1 LIST" {
		return fmt.Errorf("bucket: an unchanged bucket cost %s, want 1 LIST", sameS3)
	}

	if err := s3.Put(ctx, bkt, map[string]string{"deploy/cm-00000.yaml": configMap("cm-00000", "2")}); err != nil {
		return err
	}
	changed, changedS3, err := run("one object changed")
	if err != nil {
		return err
	}
	b.add("bucket: one object changed", changed.wall, "", fmt.Sprintf("%s; %s + %d API requests", workload, changedS3, changed.requests))
	return nil
}

// configMap is one ConfigMap manifest.
func configMap(name, value string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  labels: {app: bench}\ndata:\n  value: %q\n", name, value)
}

// s3Requests prints request counts: "1 LIST + 1000 GET".
func s3Requests(counts map[string]int) string {
	kinds := slices.Sorted(maps.Keys(counts))
	// LIST first: it is what every run costs.
	slices.SortStableFunc(kinds, func(a, b string) int {
		switch {
		case a == "LIST" && b != "LIST":
			return -1
		case b == "LIST" && a != "LIST":
			return 1
		}
		return 0
	})
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%d %s", counts[k], k)
	}
	if len(parts) == 0 {
		return "no S3 requests"
	}
	return strings.Join(parts, " + ")
}
