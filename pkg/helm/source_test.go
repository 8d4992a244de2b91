package helm

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/tests/helmrepo"
)

// simpleChart is a chart whose one ConfigMap records its version.
func simpleChart(name, version string) helmrepo.Chart {
	return helmrepo.Chart{
		Name:    name,
		Version: version,
		Values:  "greeting: hello\n",
		Templates: map[string]string{
			"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  version: {{ .Chart.Version | quote }}\n  greeting: {{ .Values.greeting | quote }}\n",
		},
	}
}

func startRepo(t *testing.T, opts helmrepo.RepoOptions, versions ...string) (*helmrepo.Repo, map[string]string) {
	t.Helper()
	r, err := helmrepo.StartRepo(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	digests := map[string]string{}
	for _, v := range versions {
		d, err := r.Publish(simpleChart("app", v))
		if err != nil {
			t.Fatal(err)
		}
		digests[v] = d
	}
	return r, digests
}

func startRegistry(t *testing.T, opts helmrepo.RegistryOptions, versions ...string) (*helmrepo.Registry, map[string]string) {
	t.Helper()
	reg, err := helmrepo.StartRegistry(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	digests := map[string]string{}
	for _, v := range versions {
		d, err := reg.Push("charts", simpleChart("app", v))
		if err != nil {
			t.Fatal(err)
		}
		digests[v] = d
	}
	return reg, digests
}

func TestResolveHTTPSelectsHighestMatch(t *testing.T) {
	r, digests := startRepo(t, helmrepo.RepoOptions{Username: "user", Password: "secret"},
		"1.0.0", "1.1.0", "1.2.0-rc.1", "2.0.0", "1.0.1")
	auth := source.Credentials{Username: "user", Password: "secret", CAPEM: r.CA().CertPEM}
	for _, tc := range []struct{ constraint, want string }{
		{"", "2.0.0"},
		{"*", "2.0.0"},
		{"^1.0.0", "1.1.0"},
		{"1.0.0", "1.0.0"},
		{"~1.0", "1.0.1"},
		{">=1.2.0-0 <2", "1.2.0-rc.1"},
		{"1.2.0-rc.1", "1.2.0-rc.1"},
	} {
		t.Run(tc.constraint, func(t *testing.T) {
			res, err := Resolve(t.Context(), ChartSource{URL: r.URL(), Chart: "app", Version: tc.constraint, Auth: auth})
			if err != nil {
				t.Fatal(err)
			}
			want := &Resolved{
				Chart: "app", Version: tc.want, Revision: tc.want,
				Digest: "sha256:" + digests[tc.want], URL: r.URL() + "/app-" + tc.want + ".tgz",
			}
			res.IndexBytes = 0
			if d := cmp.Diff(want, res); d != "" {
				t.Errorf("Resolve (-want +got):\n%s", d)
			}
		})
	}
}

func TestResolveHTTPErrors(t *testing.T) {
	r, _ := startRepo(t, helmrepo.RepoOptions{Username: "user", Password: "secret"}, "1.0.0", "1.1.0", "2.0.0")
	good := source.Credentials{Username: "user", Password: "secret", CAPEM: r.CA().CertPEM}
	for _, tc := range []struct {
		name    string
		src     ChartSource
		is      error
		message string
	}{{
		name:    "no matching version lists the available ones",
		src:     ChartSource{URL: r.URL(), Chart: "app", Version: ">=3.0.0", Auth: good},
		is:      ErrVersionNotFound,
		message: `no version satisfies ">=3.0.0" (available: 2.0.0, 1.1.0, 1.0.0)`,
	}, {
		name:    "unknown chart",
		src:     ChartSource{URL: r.URL(), Chart: "nope", Auth: good},
		is:      ErrVersionNotFound,
		message: "the index does not list this chart (1 charts listed)",
	}, {
		name:    "wrong password",
		src:     ChartSource{URL: r.URL(), Chart: "app", Auth: source.Credentials{Username: "user", Password: "wrong", CAPEM: r.CA().CertPEM}},
		is:      ErrAuthentication,
		message: "401 Unauthorized",
	}, {
		name:    "no credentials",
		src:     ChartSource{URL: r.URL(), Chart: "app", Auth: source.Credentials{CAPEM: r.CA().CertPEM}},
		is:      ErrAuthentication,
		message: "401 Unauthorized",
	}, {
		name:    "unknown CA",
		src:     ChartSource{URL: r.URL(), Chart: "app", Auth: source.Credentials{Username: "user", Password: "secret"}},
		message: "certificate signed by unknown authority",
	}, {
		name:    "plain http without insecure",
		src:     ChartSource{URL: "http://127.0.0.1:1/charts", Chart: "app"},
		is:      ErrInvalidOptions,
		message: "plain http:// needs Insecure",
	}, {
		name:    "bad constraint",
		src:     ChartSource{URL: r.URL(), Chart: "app", Version: "latest"},
		is:      ErrInvalidOptions,
		message: `version "latest"`,
	}, {
		name:    "password without username",
		src:     ChartSource{URL: r.URL(), Chart: "app", Auth: source.Credentials{Password: "x"}},
		is:      ErrInvalidOptions,
		message: "a password but no username",
	}, {
		name:    "index too large",
		src:     ChartSource{URL: r.URL(), Chart: "app", Auth: good, MaxIndexSize: 100},
		is:      ErrTooLarge,
		message: "more than 100",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Resolve(t.Context(), tc.src)
			if err == nil {
				t.Fatal("Resolve succeeded")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q does not wrap %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Errorf("error %q does not contain %q", err, tc.message)
			}
		})
	}
}

func TestFetchHTTP(t *testing.T) {
	r, _ := startRepo(t, helmrepo.RepoOptions{Username: "user", Password: "secret", RelativeURLs: true}, "1.0.0", "1.1.0")
	src := ChartSource{URL: r.URL(), Chart: "app", Version: "^1", Auth: source.Credentials{Username: "user", Password: "secret", CAPEM: r.CA().CertPEM}}
	res, err := Resolve(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	if res.URL != r.URL()+"/app-1.1.0.tgz" {
		t.Errorf("relative chart URL resolved to %s", res.URL)
	}
	p, err := Fetch(t.Context(), src, res, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(p) != "app-1.1.0.tgz" {
		t.Errorf("Fetch returned %s", p)
	}
	out, err := Render(t.Context(), RenderOptions{ChartPath: p, ReleaseName: "rel"})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Objects[0].Object["data"].(map[string]any)["version"]; got != "1.1.0" {
		t.Errorf("rendered version %v, want 1.1.0", got)
	}

	t.Run("digest mismatch", func(t *testing.T) {
		tgz, err := simpleChart("app", "1.0.0").Package()
		if err != nil {
			t.Fatal(err)
		}
		r.SetFile("app-1.1.0.tgz", tgz)
		defer func() {
			if _, err := r.Publish(simpleChart("app", "1.1.0")); err != nil {
				t.Fatal(err)
			}
		}()
		dir := t.TempDir()
		_, err = Fetch(t.Context(), src, res, dir)
		if !errors.Is(err, ErrDigestMismatch) {
			t.Fatalf("Fetch of a replaced package: %v, want ErrDigestMismatch", err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("a failed Fetch left %d files", len(entries))
		}
	})
	t.Run("size limit", func(t *testing.T) {
		small := src
		small.MaxChartSize = 64
		if _, err := Fetch(t.Context(), small, res, t.TempDir()); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("Fetch over the size limit: %v, want ErrTooLarge", err)
		}
	})
	t.Run("package that is not the resolved chart", func(t *testing.T) {
		other := *res
		other.Digest = ""
		other.Version = "9.9.9"
		if _, err := Fetch(t.Context(), src, &other, t.TempDir()); !errors.Is(err, ErrInvalidChart) {
			t.Fatalf("Fetch of a package with another version: %v, want ErrInvalidChart", err)
		}
	})
}

func TestResolveIsNotCached(t *testing.T) {
	r, _ := startRepo(t, helmrepo.RepoOptions{}, "1.0.0")
	src := ChartSource{URL: r.URL(), Chart: "app", Auth: source.Credentials{CAPEM: r.CA().CertPEM}}
	first, err := Resolve(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Publish(simpleChart("app", "1.0.1")); err != nil {
		t.Fatal(err)
	}
	second, err := Resolve(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	if first.Version != "1.0.0" || second.Version != "1.0.1" {
		t.Errorf("versions %s then %s, want 1.0.0 then 1.0.1", first.Version, second.Version)
	}
	if n := r.Requests("index.yaml"); n != 2 {
		t.Errorf("index.yaml was requested %d times, want 2", n)
	}
}

func TestTLSClientCertificate(t *testing.T) {
	r, _ := startRepo(t, helmrepo.RepoOptions{RequireClientCert: true}, "1.0.0")
	cert, key, err := r.CA().ClientCertificate("gitsync")
	if err != nil {
		t.Fatal(err)
	}
	auth := source.CredentialsFromSecret(map[string][]byte{"ca.crt": r.CA().CertPEM, "tls.crt": cert, "tls.key": key})
	src := ChartSource{URL: r.URL(), Chart: "app", Auth: auth}
	res, err := Resolve(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Fetch(t.Context(), src, res, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	src.Auth.CertPEM, src.Auth.KeyPEM = nil, nil
	if _, err := Resolve(t.Context(), src); err == nil {
		t.Error("Resolve without a client certificate succeeded")
	}
	src.Auth.CertPEM = cert
	if _, err := Resolve(t.Context(), src); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("a certificate without key: %v, want ErrInvalidOptions", err)
	}
}

func TestPassCredentials(t *testing.T) {
	// The index of repository a points to a package on repository b; both
	// take the same credentials, both have their own CA.
	a, _ := startRepo(t, helmrepo.RepoOptions{Username: "user", Password: "secret"})
	b, digests := startRepo(t, helmrepo.RepoOptions{Username: "user", Password: "secret"}, "1.0.0")
	a.SetIndex([]byte(fmt.Sprintf("apiVersion: v1\nentries:\n  app:\n  - name: app\n    version: 1.0.0\n    digest: %s\n    urls:\n    - %s/app-1.0.0.tgz\n",
		digests["1.0.0"], b.URL())))
	auth := source.Credentials{Username: "user", Password: "secret", CAPEM: append(append([]byte{}, a.CA().CertPEM...), b.CA().CertPEM...)}
	src := ChartSource{URL: a.URL(), Chart: "app", Auth: auth}
	res, err := Resolve(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Fetch(t.Context(), src, res, t.TempDir()); !errors.Is(err, ErrAuthentication) {
		t.Fatalf("Fetch from another host without passCredentials: %v, want ErrAuthentication (no credentials sent)", err)
	}
	src.PassCredentials = true
	if _, err := Fetch(t.Context(), src, res, t.TempDir()); err != nil {
		t.Fatalf("Fetch with passCredentials: %v", err)
	}
}

func TestPlainHTTPRepositoryNeedsInsecure(t *testing.T) {
	r, _ := startRepo(t, helmrepo.RepoOptions{PlainHTTP: true}, "1.0.0")
	src := ChartSource{URL: r.URL(), Chart: "app"}
	if _, err := Resolve(t.Context(), src); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("http:// without Insecure: %v", err)
	}
	src.Insecure = true
	res, err := Resolve(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Fetch(t.Context(), src, res, t.TempDir()); err != nil {
		t.Fatal(err)
	}
}

func TestResolveAndFetchOCI(t *testing.T) {
	reg, digests := startRegistry(t, helmrepo.RegistryOptions{Username: "user", Password: "secret"}, "1.0.0", "1.1.0", "2.0.0")
	auth := source.Credentials{Username: "user", Password: "secret", CAPEM: reg.CA().CertPEM}
	for _, tc := range []struct {
		name string
		src  ChartSource
		want string
	}{
		{"url and chart", ChartSource{URL: reg.URL("charts"), Chart: "app", Version: "^1", Auth: auth}, "1.1.0"},
		{"url is the chart", ChartSource{URL: reg.URL("charts/app"), Version: "1.0.0", Auth: auth}, "1.0.0"},
		{"highest", ChartSource{URL: reg.URL("charts/"), Chart: "app", Auth: auth}, "2.0.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Resolve(t.Context(), tc.src)
			if err != nil {
				t.Fatal(err)
			}
			d := digests[tc.want]
			want := &Resolved{
				Chart: "app", Version: tc.want, Revision: tc.want + "@" + d, Digest: d,
				URL: reg.Host() + "/charts/app@" + d,
			}
			if diff := cmp.Diff(want, res); diff != "" {
				t.Fatalf("Resolve (-want +got):\n%s", diff)
			}
			p, err := Fetch(t.Context(), tc.src, res, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			out, err := Render(t.Context(), RenderOptions{ChartPath: p, ReleaseName: "rel"})
			if err != nil {
				t.Fatal(err)
			}
			if got := out.Objects[0].Object["data"].(map[string]any)["version"]; got != tc.want {
				t.Errorf("rendered version %v, want %s", got, tc.want)
			}
		})
	}

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			src     ChartSource
			is      error
			message string
		}{
			{"no match", ChartSource{URL: reg.URL("charts"), Chart: "app", Version: "~3", Auth: auth}, ErrVersionNotFound, "(available: 2.0.0, 1.1.0, 1.0.0)"},
			{"wrong password", ChartSource{URL: reg.URL("charts"), Chart: "app", Auth: source.Credentials{Username: "user", Password: "bad", CAPEM: reg.CA().CertPEM}}, ErrAuthentication, "list tags"},
			{"anonymous", ChartSource{URL: reg.URL("charts"), Chart: "app", Auth: source.Credentials{CAPEM: reg.CA().CertPEM}}, ErrAuthentication, "list tags"},
			{"unknown repository", ChartSource{URL: reg.URL("charts"), Chart: "nope", Auth: auth}, ErrVersionNotFound, "not found"},
			{"bad url", ChartSource{URL: "oci://", Chart: "app"}, ErrInvalidOptions, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := Resolve(t.Context(), tc.src)
				if !errors.Is(err, tc.is) || !strings.Contains(fmt.Sprint(err), tc.message) {
					t.Fatalf("Resolve: %v; want %v containing %q", err, tc.is, tc.message)
				}
			})
		}
	})

	t.Run("dockerconfigjson", func(t *testing.T) {
		cfg := fmt.Sprintf(`{"auths":{"https://%s":{"auth":%q}}}`, reg.Host(), base64.StdEncoding.EncodeToString([]byte("user:secret")))
		a := source.CredentialsFromSecret(map[string][]byte{".dockerconfigjson": []byte(cfg), "ca.crt": reg.CA().CertPEM})
		src := ChartSource{URL: reg.URL("charts"), Chart: "app", Version: "1.0.0", Auth: a}
		res, err := Resolve(t.Context(), src)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Fetch(t.Context(), src, res, t.TempDir()); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("fetch verifies what was resolved", func(t *testing.T) {
		src := ChartSource{URL: reg.URL("charts"), Chart: "app", Version: "1.0.0", Auth: auth}
		res, err := Resolve(t.Context(), src)
		if err != nil {
			t.Fatal(err)
		}
		// The tag moves to other content after Resolve: Fetch still gets
		// the manifest Resolve saw, by digest.
		moved := simpleChart("app", "1.0.0")
		moved.Values = "greeting: moved\n"
		if _, err := reg.Push("charts", moved); err != nil {
			t.Fatal(err)
		}
		p, err := Fetch(t.Context(), src, res, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		out, err := Render(t.Context(), RenderOptions{ChartPath: p, ReleaseName: "rel"})
		if err != nil {
			t.Fatal(err)
		}
		if got := out.Objects[0].Object["data"].(map[string]any)["greeting"]; got != "hello" {
			t.Errorf("greeting %v, want the resolved content's hello", got)
		}
		again, err := Resolve(t.Context(), src)
		if err != nil {
			t.Fatal(err)
		}
		if again.Revision == res.Revision {
			t.Errorf("the revision did not change when the tag moved: %s", again.Revision)
		}
	})
}

func TestOCIPlainHTTPNeedsInsecure(t *testing.T) {
	reg, _ := startRegistry(t, helmrepo.RegistryOptions{PlainHTTP: true}, "1.0.0")
	src := ChartSource{URL: reg.URL("charts"), Chart: "app"}
	_, err := Resolve(t.Context(), src)
	if err == nil || !strings.Contains(err.Error(), "plain HTTP") {
		t.Fatalf("plain-HTTP registry without Insecure: %v, want a refusal", err)
	}
	src.Insecure = true
	res, err := Resolve(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Fetch(t.Context(), src, res, t.TempDir()); err != nil {
		t.Fatal(err)
	}
}
