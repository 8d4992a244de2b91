package helm

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"

	"github.com/gitsync/gitsync/pkg/helm/chartrender"
	"github.com/gitsync/gitsync/pkg/helm/helmexec"
	"github.com/gitsync/gitsync/pkg/helm/sdk"
)

// TestMain renders every chart of this package's tests twice: in process
// (pkg/helm/sdk), whose result the tests check, and with the child process
// sync-job uses (cmd/sync-job-helm, built once here). Any difference
// between the two, in results or in error texts and kinds, fails the run.
// Benchmarks use the in-process renderer only.
func TestMain(m *testing.M) {
	flag.Parse()
	if flag.Lookup("test.bench").Value.String() != "" {
		UseRenderer(sdk.Renderer{})
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "gitsync-helm-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin := filepath.Join(dir, helmexec.Program)
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/gitsync/gitsync/cmd/sync-job-helm").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building %s: %v\n%s", helmexec.Program, err, out)
		os.Exit(1)
	}
	c := &comparing{child: helmexec.Renderer{Path: bin}}
	UseRenderer(c)
	code := m.Run()
	_ = os.RemoveAll(dir)
	if len(c.diffs) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: the child renderer differs from the in-process one in %d of %d renders:\n", len(c.diffs), c.n)
		for _, d := range c.diffs {
			fmt.Fprintln(os.Stderr, "  "+d)
		}
		code = 1
	}
	os.Exit(code)
}

// comparing runs the chart stage in process and in the child and records
// where they differ.
type comparing struct {
	child helmexec.Renderer
	mu    sync.Mutex
	n     int
	diffs []string
}

func (c *comparing) RenderChart(ctx context.Context, req *chartrender.Request) (*chartrender.Result, error) {
	want, wantErr := sdk.Renderer{}.RenderChart(ctx, req)
	childReq := *req
	if childReq.KubeVersion == "" {
		// Helm's default KubeVersion is v1.20.0 in a test binary
		// (testing.Testing()) and client-go's version in a built one.
		childReq.KubeVersion = common.DefaultCapabilities.KubeVersion.Version
	}
	got, gotErr := c.child.RenderChart(ctx, &childReq)
	if ctx.Err() != nil {
		// A cancelled render stops either way; the messages differ.
		return want, wantErr
	}
	d := stageDiff(want, wantErr, got, gotErr)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	if d != "" {
		c.diffs = append(c.diffs, req.ChartPath+": "+d)
	}
	return want, wantErr
}

// stageDiff says how the child's answer (got, gotErr) differs from the
// in-process one, or "".
func stageDiff(want *chartrender.Result, wantErr error, got *chartrender.Result, gotErr error) string {
	switch {
	case (wantErr == nil) != (gotErr == nil):
		return fmt.Sprintf("error %v in process, %v in the child", wantErr, gotErr)
	case wantErr != nil:
		if wantErr.Error() != gotErr.Error() {
			return fmt.Sprintf("error text %q in process, %q in the child", wantErr, gotErr)
		}
		for _, name := range slices.Sorted(maps.Keys(chartrender.Kinds)) {
			if s := chartrender.Kinds[name]; errors.Is(wantErr, s) != errors.Is(gotErr, s) {
				return fmt.Sprintf("error %q: errors.Is %s %v in process, %v in the child", wantErr, name, errors.Is(wantErr, s), errors.Is(gotErr, s))
			}
		}
	case !reflect.DeepEqual(want, got):
		w, g := *want, *got
		w.Files, g.Files, w.CRDs, g.CRDs = nil, nil, nil, nil
		if !reflect.DeepEqual(w, g) {
			return fmt.Sprintf("results differ:\n    in process: %+v\n    child:      %+v", w, g)
		}
		for _, l := range [][2][]chartrender.File{{want.Files, got.Files}, {want.CRDs, got.CRDs}} {
			if len(l[0]) != len(l[1]) {
				return fmt.Sprintf("%d files in process, %d in the child", len(l[0]), len(l[1]))
			}
			for i := range l[0] {
				if l[0][i] != l[1][i] {
					return fmt.Sprintf("file %d differs:\n    in process: %q\n    child:      %q", i, l[0][i], l[1][i])
				}
			}
		}
		return "results differ"
	}
	return ""
}

// TestStageDiff checks that the comparison of TestMain can fail.
func TestStageDiff(t *testing.T) {
	res := &chartrender.Result{Chart: "a", Version: "1.0.0", Files: []chartrender.File{{Name: "a/templates/cm.yaml", Data: "x: 1\n"}}}
	other := &chartrender.Result{Chart: "a", Version: "1.0.0", Files: []chartrender.File{{Name: "a/templates/cm.yaml", Data: "x: 2\n"}}}
	invalid := fmt.Errorf("a 1.0.0: %w", chartrender.ErrInvalidChart)
	plain := errors.New(invalid.Error())
	for _, tc := range []struct {
		name           string
		want, got      *chartrender.Result
		wantErr, gotEr error
		same           bool
	}{
		{"same result", res, res, nil, nil, true},
		{"same error", nil, nil, invalid, fmt.Errorf("%w", invalid), true},
		{"other result", res, other, nil, nil, false},
		{"error and result", nil, res, invalid, nil, false},
		{"other text", nil, nil, invalid, errors.New("b"), false},
		{"other kind", nil, nil, invalid, plain, false},
	} {
		if d := stageDiff(tc.want, tc.wantErr, tc.got, tc.gotEr); (d == "") != tc.same {
			t.Errorf("%s: diff %q, want same=%v", tc.name, d, tc.same)
		}
	}
}

// TestRenderWithoutRenderer: a binary that set no renderer gets a clear
// error, never an empty render. Not parallel: it swaps the package's
// renderer (parallel tests run after the sequential ones).
func TestRenderWithoutRenderer(t *testing.T) {
	saved := renderer.Load()
	renderer.Store(nil)
	defer renderer.Store(saved)
	out, err := Render(t.Context(), RenderOptions{ChartPath: packaged(t, simpleChart("none", "0.1.0")), ReleaseName: "rel"})
	if !errors.Is(err, ErrNoRenderer) || out != nil || !strings.Contains(err.Error(), "none.tgz: no Helm chart renderer") {
		t.Errorf("Render: %v, %v; want ErrNoRenderer naming the chart", out, err)
	}
}
