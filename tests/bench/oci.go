package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/source/oci"
	"github.com/gitsync/gitsync/pkg/source/registry"
	"github.com/gitsync/gitsync/pkg/spec"
	"github.com/gitsync/gitsync/tests/helmrepo"
)

// ociBench syncs n objects from an OCI artifact (pushed as `push
// artifact` pushes it, to an HTTPS registry with basic auth), then runs
// again with nothing changed: that run must cost the drift check and one
// registry request.
func (b *bench) ociBench(ctx context.Context, n int) (err error) {
	fmt.Fprintf(os.Stderr, "OCI artifact of %d objects ...\n", n)
	reg, err := helmrepo.StartRegistry(ctx, helmrepo.RegistryOptions{Username: "bench", Password: "bench-pw"})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, reg.Close()) }()
	dir := filepath.Join(b.tmp, "oci-artifact")
	for p, body := range manifests(n, "oci") {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			return err
		}
	}
	creds := source.Credentials{Username: "bench", Password: "bench-pw", CAPEM: reg.CA().CertPEM}
	pushed, err := oci.Push(ctx, oci.PushOptions{URL: reg.URL("bench/app") + ":latest", Path: dir, Source: "bench", Revision: "bench",
		Client: registry.Client{Auth: creds}})
	if err != nil {
		return err
	}

	name := "oci"
	ns := fmt.Sprintf("bench-%s-%d", name, time.Now().UnixNano()%100000)
	client := b.env.Client()
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "registry", Namespace: ns},
		StringData: map[string]string{"username": "bench", "password": "bench-pw", "ca.crt": string(reg.CA().CertPEM)}}
	if _, err := client.CoreV1().Secrets(ns).Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		return err
	}
	doc := fmt.Sprintf("apiVersion: gitsync.io/v1alpha1\nkind: Sync\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n  source:\n    oci:\n      url: %s\n      ref: {tag: latest}\n      secretRef: {name: registry}\n  path: ./deploy\n  timeout: 10m\n",
		name, ns, reg.URL("bench/app"))
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: spec.ConfigMapName(name), Namespace: ns}, Data: map[string]string{spec.ConfigMapKey: doc}}
	if _, err := client.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		return err
	}
	f := &syncFixture{ns: ns, name: name}
	workload := fmt.Sprintf("%d objects (7 kinds, 50 per file) in one OCI artifact (%d bytes), HTTPS registry with basic auth", n, pushed.Size)
	cold, err := b.syncJob(ctx, f)
	if err != nil {
		return err
	}
	b.add(fmt.Sprintf("OCI artifact, cold sync, %d objects", n), cold.wall, "-", workload+fmt.Sprintf("; %d API requests", cold.requests))

	reg.ResetRequests()
	same, err := b.syncJob(ctx, f)
	if err != nil {
		return err
	}
	got := reg.Requests()
	b.add(fmt.Sprintf("OCI artifact, nothing changed, %d objects", n), same.wall, "≤ 0.7 s", workload)
	b.rows = append(b.rows, row{"OCI artifact, nothing changed: registry requests", fmt.Sprint(len(got)), "= 1 (a manifest HEAD)", fmt.Sprintf("%v", got)})
	b.rows = append(b.rows, row{"OCI artifact, nothing changed: API requests", fmt.Sprint(same.requests), "≤ kinds+6 = 13 (Git's run, plus the registry Secret)", workload})
	if len(got) != 1 {
		return fmt.Errorf("an unchanged OCI artifact cost %d registry requests, want 1: %v", len(got), got)
	}
	return nil
}
