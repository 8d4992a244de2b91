package imageupdate

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gitsync/gitsync/pkg/imagepolicy"
	"github.com/gitsync/gitsync/pkg/setters"
	"github.com/gitsync/gitsync/pkg/spec"
	"github.com/gitsync/gitsync/tests/gitserver"
	"github.com/gitsync/gitsync/tests/helmrepo"
)

// TestBenchmarkImageScan measures what issue 14 asks `make bench` for:
// the scan of 10 repositories with 1,000 tags each (all policies of one
// run), and a run that finds nothing new, which must cost no Git write.
func TestBenchmarkImageScan(t *testing.T) {
	if testing.Short() {
		t.Skip("benchmark")
	}
	const repos, tags = 10, 1000
	// The registry sends ETags for tag lists (helmrepo.TagListETags), as
	// some registries do: the rescans below compare reuse by ETag (304)
	// with reuse by the listing's digest (the ETags forgotten).
	reg, err := helmrepo.StartRegistry(t.Context(), helmrepo.RegistryOptions{Username: "u", Password: "p", Wrap: helmrepo.TagListETags})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	start := time.Now()
	u := &spec.ImageUpdateSpec{}
	for i := range repos {
		name := fmt.Sprintf("team/app%d", i)
		digest, err := reg.PushArtifact(name, "0.0.0", helmrepo.Artifact{Files: map[string]string{"a": "a"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := tagMany(t, reg, name, digest, tags-1); err != nil {
			t.Fatal(err)
		}
		u.Policies = append(u.Policies, spec.ImagePolicySpec{Name: fmt.Sprintf("app%d", i),
			ImageRepository: spec.ImageRepositorySpec{Image: reg.Host() + "/" + name, SecretRef: &spec.LocalObjectReference{Name: "reg"}},
			Policy:          policyChoice(">=1.0.0")})
	}
	t.Logf("setup: %d repositories x %d tags pushed in %v", repos, tags, time.Since(start).Round(time.Millisecond))
	read := SecretReader(func(context.Context, string, string) (map[string][]byte, error) {
		return map[string][]byte{"username": []byte("u"), "password": []byte("p"), "ca.crt": reg.CA().CertPEM}, nil
	})
	best := time.Duration(0)
	var res []PolicyResult
	for range 3 {
		start = time.Now()
		res, err = ResolvePolicies(t.Context(), "team", u, read, nil)
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); best == 0 || d < best {
			best = d
		}
	}
	for _, r := range res {
		if r.Tags != tags || r.Image.Tag != "1.9.99" || r.Reused != "" {
			t.Fatalf("%s: %d tags, latest %s, reused %q", r.Key, r.Tags, r.Image.Tag, r.Reused)
		}
	}
	t.Logf("bench: scan of %d repositories x %d tags (semver policy, pages of 1,000): %v (best of 3)", repos, tags, best.Round(time.Millisecond))

	// The same scan with the last run's choices: by ETag the registry
	// answers 304 and nothing is listed; without ETags the tags are
	// listed again but the policies not evaluated (same digest).
	for _, mode := range []struct {
		name   string
		etag   bool
		reused string
	}{{"ETag, 304 Not Modified", true, ReusedNotModified}, {"no ETag: listed, digest unchanged, not evaluated", false, ReusedSameTags}} {
		last := Last{}
		for _, r := range res {
			if !mode.etag {
				r.ETags = nil
			}
			last[r.Key] = r
		}
		best = 0
		for range 3 {
			start = time.Now()
			again, err := ResolvePolicies(t.Context(), "team", u, read, last)
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); best == 0 || d < best {
				best = d
			}
			for _, r := range again {
				if r.Reused != mode.reused || r.Image.Tag != "1.9.99" {
					t.Fatalf("%s: rescan reused %q, latest %s; want %q", r.Key, r.Reused, r.Image.Tag, mode.reused)
				}
			}
		}
		t.Logf("bench: unchanged rescan of %d repositories x %d tags (%s): %v (best of 3)", repos, tags, mode.name, best.Round(time.Millisecond))
	}

	// A run that finds nothing new: one fetch, no commit, no push.
	srv, r, o := setup(t, gitserver.Options{})
	if _, err := r.Commit(t.Context(), "many files", manyFiles(200)); err != nil {
		t.Fatal(err)
	}
	o.Images = map[string]setters.Image{"apps:app": {Name: "ghcr.io/org/app", Tag: "1.0.0"}}
	before := srv.Stats()
	best = 0
	for range 3 {
		start = time.Now()
		got, err := Run(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		if got.Commit != "" {
			t.Fatalf("nothing new, yet committed %s", got.Commit)
		}
		if d := time.Since(start); best == 0 || d < best {
			best = d
		}
	}
	after := srv.Stats()
	if after.HTTPReceivePacks != before.HTTPReceivePacks {
		t.Errorf("a run with nothing new pushed %d times", after.HTTPReceivePacks-before.HTTPReceivePacks)
	}
	t.Logf("bench: image update finding nothing new (200 YAML files under the path, 1 marker): %v (best of 3), Git writes: %d",
		best.Round(time.Millisecond), after.HTTPReceivePacks-before.HTTPReceivePacks)
}

func policyChoice(r string) imagepolicy.Choice {
	return imagepolicy.Choice{SemVer: &imagepolicy.SemVer{Range: r}}
}

func manyFiles(n int) map[string]string {
	m := make(map[string]string, n)
	for i := range n {
		m[fmt.Sprintf("apps/f%03d.yaml", i)] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c%d}\ndata: {a: b}\n", i)
	}
	return m
}

// tagMany points n tags 1.X.Y of repo at digest with plain manifest PUTs
// over one keep-alive client: helmrepo.Registry.Tag makes a new transport
// per call, too slow (and too many sockets) for 10,000 tags.
func tagMany(t *testing.T, reg *helmrepo.Registry, repo, digest string, n int) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(reg.CA().CertPEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, MaxIdleConnsPerHost: 8}}
	base := "https://" + reg.Host() + "/v2/" + repo + "/manifests/"
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, base+digest, nil)
	req.SetBasicAuth("u", "p")
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("get manifest: %d %v", resp.StatusCode, err)
	}
	mt := resp.Header.Get("Content-Type")
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 8)
	for j := 1; j <= n; j++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPut, base+fmt.Sprintf("1.%d.%d", j/100, j%100), bytes.NewReader(body))
			req.SetBasicAuth("u", "p")
			req.Header.Set("Content-Type", mt)
			resp, err := client.Do(req)
			if err != nil {
				errs <- err
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				errs <- fmt.Errorf("put tag: %s", resp.Status)
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}
