package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gitsync/gitsync/pkg/apply"
	"github.com/gitsync/gitsync/pkg/render"
)

// The CRD-heavy workload: crdGroups × crdKinds generated
// CustomResourceDefinitions installed in the bench's cluster, then a sync
// of the main workload's kinds plus crdObjects custom resources of
// generated kinds. It runs last: the CRDs stay installed.
const (
	crdGroups  = 200
	crdKinds   = 10
	crdObjects = 20 // custom resources in the synced objects, one per kind of as many groups
)

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// crdGroup and crdKind name the generated CRDs' groups and kinds.
func crdGroup(g int) string { return fmt.Sprintf("g%03d.bench.gitsync.io", g) }
func crdKind(k int) string  { return fmt.Sprintf("Widget%02d", k) }

// generatedCRD is a namespaced CRD with one version and an open schema.
func generatedCRD(group, kind string) *unstructured.Unstructured {
	plural := strings.ToLower(kind) + "s"
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": plural + "." + group, "labels": map[string]any{"bench.gitsync.io/generated": "true"}},
		"spec": map[string]any{
			"group": group,
			"scope": "Namespaced",
			"names": map[string]any{"kind": kind, "plural": plural, "singular": strings.ToLower(kind), "listKind": kind + "List"},
			"versions": []any{map[string]any{
				"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{
					"type": "object",
					"properties": map[string]any{
						"spec": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true},
					},
				}},
			}},
		},
	}}
}

// installCRDs creates the generated CRDs (8 at a time) and waits until all
// are Established.
func (b *bench) installCRDs(ctx context.Context) error {
	client := b.env.Dynamic().Resource(crdGVR)
	type job struct{ g, k int }
	jobs := make(chan job)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				_, err := client.Create(ctx, generatedCRD(crdGroup(j.g), crdKind(j.k)), metav1.CreateOptions{})
				if err != nil && !apierrors.IsAlreadyExists(err) {
					mu.Lock()
					first = cmpErr(first, err)
					mu.Unlock()
				}
			}
		}()
	}
	for g := range crdGroups {
		for k := range crdKinds {
			select {
			case jobs <- job{g, k}:
			case <-ctx.Done():
			}
		}
	}
	close(jobs)
	wg.Wait()
	if first != nil {
		return fmt.Errorf("creating CRDs: %w", first)
	}
	want := crdGroups * crdKinds
	for {
		l, err := client.List(ctx, metav1.ListOptions{LabelSelector: "bench.gitsync.io/generated=true"})
		if err != nil {
			return err
		}
		established := 0
		for _, u := range l.Items {
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, c := range conds {
				if m, ok := c.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
					established++
				}
			}
		}
		if established >= want {
			return nil
		}
		if err := sleepCtx(ctx, time.Second); err != nil {
			return fmt.Errorf("waiting for %d CRDs to be Established (%d are): %w", want, established, err)
		}
	}
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// crdWorkload is n objects: the main workload's kinds and crdObjects
// custom resources of generated kinds, one per group.
func crdWorkload(n int) map[string]string {
	files := manifests(n-crdObjects, "crd")
	var buf strings.Builder
	for i := range crdObjects {
		g := i * crdGroups / crdObjects
		fmt.Fprintf(&buf, "---\napiVersion: %s/v1\nkind: %s\nmetadata:\n  name: cr-%02d\nspec:\n  index: %d\n", crdGroup(g), crdKind(i%crdKinds), i, i)
	}
	files["deploy/custom.yaml"] = buf.String()
	return files
}

// crds measures a run on a cluster with crdGroups × crdKinds CRDs: the
// engine's discovery (in-process, requests counted on the wire) and a cold
// sync of n objects by a sync-job process.
func (b *bench) crds(ctx context.Context, n int) error {
	total := crdGroups * crdKinds
	fmt.Fprintf(os.Stderr, "installing %d CRDs ...\n", total)
	start := time.Now()
	if err := b.installCRDs(ctx); err != nil {
		return err
	}
	cluster := fmt.Sprintf("%d CRDs (%d groups × %d kinds) installed", total, crdGroups, crdKinds)
	b.add(fmt.Sprintf("install %d CRDs until Established", total), time.Since(start), "", cluster+", 8 creates in flight")

	files := crdWorkload(n)
	dir := filepath.Join(b.tmp, "crds")
	for p, content := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			return err
		}
	}
	out, err := render.Render(ctx, render.Options{Root: dir, Path: "deploy"})
	if err != nil {
		return err
	}
	// The engine's discovery, alone: a fresh Engine resolving the rendered
	// objects, as a run's first step does. Best of 3.
	var (
		best     = time.Duration(1 << 62)
		requests int64
	)
	for range 3 {
		var count atomic.Int64
		cfg := b.env.Config()
		cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(req *http.Request) (*http.Response, error) {
				count.Add(1)
				return rt.RoundTrip(req)
			})
		})
		start := time.Now()
		e, err := apply.New(cfg, nil)
		if err != nil {
			return err
		}
		if _, err := e.Targets(out.Objects); err != nil {
			return fmt.Errorf("resolving the workload with %d CRDs installed: %w", total, err)
		}
		if d := time.Since(start); d < best {
			best, requests = d, count.Load()
		}
	}
	objs := fmt.Sprintf("%d objects of %d kinds (%d custom resources of generated kinds)", len(out.Objects), 7+crdObjects, crdObjects)
	b.add("discovery, CRD-heavy cluster (in-process, best of 3)", best, "≤ 1.5 s", fmt.Sprintf("%s; a fresh Engine resolving %s; %d API requests (target ≤ 3)", cluster, objs, requests))

	fmt.Fprintf(os.Stderr, "cold sync of %d objects with %d CRDs installed ...\n", n, total)
	f, err := b.newSync(ctx, "crds", files, "")
	if err != nil {
		return err
	}
	res, err := b.syncJob(ctx, f)
	if err != nil {
		return err
	}
	disc := discoveryOf(res.stderr)
	b.add(fmt.Sprintf("cold sync, %d objects, CRD-heavy cluster", n), res.wall, "≤ 5 s", fmt.Sprintf("%s; %s; %d API requests, of them discovery: %s", cluster, objs, res.requests, disc))
	return nil
}

// discoveryOf sums the engine's "discovery" log lines of a sync-job run.
func discoveryOf(stderr string) string {
	var (
		requests, times int
		took            time.Duration
	)
	for _, line := range strings.Split(stderr, "\n") {
		var l struct {
			Msg      string `json:"msg"`
			Requests int    `json:"requests"`
			Duration string `json:"duration"`
		}
		if json.Unmarshal([]byte(line), &l) != nil || l.Msg != "discovery" {
			continue
		}
		d, _ := time.ParseDuration(l.Duration)
		requests, took, times = requests+l.Requests, took+d, times+1
	}
	if times == 0 {
		return "not logged"
	}
	return fmt.Sprintf("%d requests in %d reads, %.2f s", requests, times, took.Seconds())
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
