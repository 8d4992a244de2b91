package helm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/gitsync/gitsync/pkg/helm/chartrender"
	"github.com/gitsync/gitsync/pkg/render"
)

// The chart stage of Render (load the chart, coalesce and check the
// values, run the templates) needs the Helm SDK, which is large; this
// package does not link it. Each binary chooses how the stage runs:
// kubectl-gitsync and the tests in process (pkg/helm/sdk), sync-job in a
// short-lived child process (pkg/helm/helmexec, cmd/sync-job-helm), so
// that only runs that render a chart load the SDK's code.

// renderer is the chart stage UseRenderer set.
var renderer atomic.Pointer[chartrender.Renderer]

// UseRenderer sets how Render runs the chart stage: sdk.Renderer{} in
// this process, helmexec.Renderer in a child. A binary calls it once at
// start; without it Render fails with ErrNoRenderer.
func UseRenderer(r chartrender.Renderer) { renderer.Store(&r) }

// ErrNoRenderer means the binary set no chart renderer (UseRenderer).
var ErrNoRenderer = errors.New("no Helm chart renderer is set in this binary (helm.UseRenderer)")

// renderChart runs the chart stage for opts.
func renderChart(ctx context.Context, opts *RenderOptions) (*chartrender.Result, error) {
	r := renderer.Load()
	if r == nil {
		return nil, fmt.Errorf("%s: %w", opts.ChartPath, ErrNoRenderer)
	}
	req := &chartrender.Request{
		ChartPath:                opts.ChartPath,
		ReleaseName:              opts.ReleaseName,
		Namespace:                opts.namespace(),
		Revision:                 cmp.Or(opts.Revision, 1),
		IsUpgrade:                opts.IsUpgrade,
		Values:                   opts.Values,
		ValuesFiles:              opts.ValuesFiles,
		IgnoreMissingValuesFiles: opts.IgnoreMissingValuesFiles,
		KubeVersion:              opts.KubeVersion,
		APIVersions:              opts.APIVersions,
		DisableSchemaValidation:  opts.DisableSchemaValidation,
		SkipCRDs:                 opts.CRDs == CRDsSkip,
	}
	if opts.Decryption != nil {
		// Keys made by ParseKeys hand over their Secret data; the zero
		// Keys (no key) an empty set, which is not "no decryption".
		req.DecryptionKeys = opts.Decryption.Data()
		if req.DecryptionKeys == nil {
			req.DecryptionKeys = map[string][]byte{}
		}
	}
	out, err := (*r).RenderChart(ctx, req)
	if err != nil {
		return nil, stageError{err}
	}
	opts.Secrets.Add(out.Revealed...)
	return out, nil
}

// stageError is an error of the chart stage. Its text is the stage's; it
// also matches the sentinels of this package and pkg/render that the
// stage's errors stand for, so that callers branch on errors.Is as they
// do on the rest of Render's errors.
type stageError struct{ err error }

func (e stageError) Error() string { return e.err.Error() }
func (e stageError) Unwrap() error { return e.err }

// Is maps the stage's ErrInvalidOptions and ErrDecryptionRequired onto
// ErrInvalidOptions and render.ErrDecryptionRequired (ErrInvalidChart is
// the stage's own).
func (e stageError) Is(target error) bool {
	switch target {
	case ErrInvalidOptions:
		return errors.Is(e.err, chartrender.ErrInvalidOptions)
	case render.ErrDecryptionRequired:
		return errors.Is(e.err, chartrender.ErrDecryptionRequired)
	}
	return false
}
