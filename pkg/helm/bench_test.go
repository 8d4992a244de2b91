package helm

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	repo "helm.sh/helm/v4/pkg/repo/v1"

	"github.com/gitsync/gitsync/pkg/render"
	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/tests/helmrepo"
)

// Targets of the issue.
const (
	subchartRenderTarget = 20 * time.Second
	indexRSSTarget       = 256 << 20
	indexSize            = 30 << 20
)

// umbrellaChart is a chart with n subcharts of three templates each, all
// enabled by a condition, as large umbrella charts are built.
func umbrellaChart(n int) helmrepo.Chart {
	parent := helmrepo.Chart{
		Name: "umbrella", Version: "1.0.0",
		Templates: map[string]string{"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: umbrella\n"},
	}
	var values strings.Builder
	for i := range n {
		name := fmt.Sprintf("svc%03d", i)
		parent.Dependencies = append(parent.Dependencies, helmrepo.Dependency{Name: name, Version: "1.x", Condition: name + ".enabled"})
		fmt.Fprintf(&values, "%s:\n  enabled: true\n  replicas: %d\n", name, i%3+1)
		parent.Subcharts = append(parent.Subcharts, helmrepo.Chart{
			Name: name, Version: "1.0.0",
			Values: "replicas: 1\nimage: {repository: nginx, tag: \"1.27\"}\nport: 8080\n",
			Templates: map[string]string{
				"_helpers.tpl": `{{- define "svc.name" -}}{{ .Release.Name }}-{{ .Chart.Name }}{{- end -}}
{{- define "svc.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}`,
				"deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "svc.name" . }}
  labels: {{- include "svc.labels" . | nindent 4 }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {{- include "svc.labels" . | nindent 6 }}
  template:
    metadata:
      labels: {{- include "svc.labels" . | nindent 8 }}
    spec:
      containers:
      - name: app
        image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
        ports: [{containerPort: {{ .Values.port }}}]
`,
				"service.yaml": `apiVersion: v1
kind: Service
metadata:
  name: {{ include "svc.name" . }}
spec:
  selector: {{- include "svc.labels" . | nindent 4 }}
  ports: [{port: 80, targetPort: {{ .Values.port }}}]
`,
				"configmap.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "svc.name" . }}
data:
  config.yaml: |
    {{- toYaml .Values | nindent 4 }}
`,
			},
		})
	}
	parent.Values = values.String()
	return parent
}

// TestBenchmarkSubcharts measures the render of a chart with 100
// subcharts (target: 20 s or less) from its package, with and without a
// kustomize post-renderer.
func TestBenchmarkSubcharts(t *testing.T) {
	start := time.Now()
	p := packaged(t, umbrellaChart(100))
	t.Logf("packaging 100 subcharts: %v (%d KiB)", time.Since(start).Round(time.Millisecond), fileSize(t, p)>>10)
	for _, tc := range []struct {
		name string
		post []PostRenderer
	}{
		{"plain", nil},
		{"with image post-renderer", []PostRenderer{{Images: []render.Image{{Name: "nginx", NewTag: "1.28"}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			out, err := Render(t.Context(), RenderOptions{ChartPath: p, ReleaseName: "big", KubeVersion: "v1.37.2", PostRenderers: tc.post})
			took := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Objects) != 301 {
				t.Errorf("%d objects, want 301", len(out.Objects))
			}
			t.Logf("render of 100 subcharts (%d objects): %v", len(out.Objects), took.Round(time.Millisecond))
			if took > subchartRenderTarget {
				t.Errorf("render took %v, target %v", took, subchartRenderTarget)
			}
		})
	}
}

func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// writeLargeIndex writes an index of at least size bytes in the layout
// Helm writes, streamed to disk so that the test itself holds none of it,
// and returns the path and the number of charts. Chart chart-0500 has
// versions 1.0.0 to 1.49.0.
func writeLargeIndex(t testing.TB, size int64) (string, int) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "index.yaml")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	var written int64
	fmt.Fprintln(w, "apiVersion: v1\nentries:")
	charts := 0
	for written < size {
		name := fmt.Sprintf("chart-%04d", charts)
		charts++
		n, _ := fmt.Fprintf(w, "  %s:\n", name)
		written += int64(n)
		for v := 49; v >= 0; v-- {
			n, _ := fmt.Fprintf(w, `  - annotations:
      category: Infrastructure
      licenses: Apache-2.0
    apiVersion: v2
    appVersion: %d.%d.0
    created: "2024-05-%02dT10:%02d:00.000000000Z"
    dependencies:
    - name: common
      repository: oci://registry.example.com/charts
      tags:
      - bitnami-common
      version: 2.x.x
    description: %s is a chart that deploys an application with a rather long description
      that wraps onto a second line, as long descriptions in real indexes do.
    digest: %064x
    home: https://example.com/charts/%s
    icon: https://example.com/icons/%s.svg
    keywords:
    - web
    - http
    - %s
    maintainers:
    - name: Example Maintainers
      url: https://example.com
    name: %s
    sources:
    - https://github.com/example/charts/tree/main/%s
    urls:
    - https://charts.example.com/%s-1.%d.0.tgz
    version: 1.%d.0
`, v, charts%10, v%28+1, v, name, charts*100+v, name, name, name, name, name, name, v, v)
			written += int64(n)
		}
	}
	fmt.Fprintln(w, `generated: "2024-06-01T00:00:00Z"`)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p, charts
}

// peak samples the process while f runs: the peak of live heap objects
// (runtime/metrics) and the peak resident set (the kernel's VmHWM, reset
// before f starts).
func peak(t *testing.T, f func()) (heap uint64, rss uint64) {
	t.Helper()
	debug.FreeOSMemory()
	resetHWM := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	if resetHWM != nil {
		t.Logf("cannot reset the peak RSS (%v); it includes what ran before", resetHWM)
	}
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(samples)
	base := samples[0].Value.Uint64()
	var mu sync.Mutex
	var max uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				metrics.Read(s)
				mu.Lock()
				max = maxOf(max, s[0].Value.Uint64())
				mu.Unlock()
			}
		}
	})
	f()
	close(done)
	wg.Wait()
	metrics.Read(samples)
	max = maxOf(max, samples[0].Value.Uint64())
	return max - min(base, max), vmHWM(t)
}

func maxOf(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

// vmHWM returns the process's peak resident set in bytes.
func vmHWM(t *testing.T) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// TestBenchmarkLargeIndex resolves a chart from a 30 MB index over HTTPS
// and measures time, peak heap and peak RSS (target: under 256 MiB).
func TestBenchmarkLargeIndex(t *testing.T) {
	p, charts := writeLargeIndex(t, indexSize)
	r, err := helmrepo.StartRepo(helmrepo.RepoOptions{Username: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("r.Close: %v", err)
		}
	})
	r.SetIndexFile(p)
	src := ChartSource{URL: r.URL(), Chart: "chart-0500", Version: "~1.20", Auth: source.Credentials{Username: "u", Password: "p", CAPEM: r.CA().CertPEM}}
	runtime.GC()
	var res *Resolved
	var took time.Duration
	heap, rss := peak(t, func() {
		start := time.Now()
		res, err = Resolve(t.Context(), src)
		took = time.Since(start)
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Version != "1.20.0" || res.IndexBytes != fileSize(t, p) {
		t.Errorf("resolved %s from %d bytes; want 1.20.0 from %d", res.Version, res.IndexBytes, fileSize(t, p))
	}
	t.Logf("index: %.1f MiB, %d charts, %d versions; Resolve: %v, peak heap +%.1f MiB, peak RSS %.1f MiB (whole test process)",
		float64(res.IndexBytes)/(1<<20), charts, charts*50, took.Round(time.Millisecond), float64(heap)/(1<<20), float64(rss)/(1<<20))
	if rss >= indexRSSTarget {
		t.Errorf("peak RSS %d MiB, target under %d MiB", rss>>20, indexRSSTarget>>20)
	}
}

// BenchmarkResolveLargeIndex measures Resolve over a 30 MB index.
func BenchmarkResolveLargeIndex(b *testing.B) {
	p, _ := writeLargeIndex(b, indexSize)
	r, err := helmrepo.StartRepo(helmrepo.RepoOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := r.Close(); err != nil {
			b.Errorf("r.Close: %v", err)
		}
	})
	r.SetIndexFile(p)
	src := ChartSource{URL: r.URL(), Chart: "chart-0500", Auth: source.Credentials{CAPEM: r.CA().CertPEM}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Resolve(b.Context(), src); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHelmLoadIndexFile is the comparison: Helm's own index loader
// parses the whole 30 MB file. Run it alone to read its memory
// (-bench HelmLoadIndexFile -benchmem).
func BenchmarkHelmLoadIndexFile(b *testing.B) {
	p, _ := writeLargeIndex(b, indexSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := repo.LoadIndexFile(p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderSubcharts measures Render of the 100-subchart chart.
func BenchmarkRenderSubcharts(b *testing.B) {
	p := packaged(b, umbrellaChart(100))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Render(b.Context(), RenderOptions{ChartPath: p, ReleaseName: "big"}); err != nil {
			b.Fatal(err)
		}
	}
}
