// Package sdk is the chart stage of a Helm render with the Helm v4 SDK
// (see pkg/helm/chartrender): the chart loader, values coalescing and
// values.schema.json, and the template engine. The kubectl plugin and the
// tests run it in their own process; cmd/sync-job-helm runs it for
// sync-job, which does not link the SDK.
package sdk

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	commonutil "helm.sh/helm/v4/pkg/chart/common/util"
	chartloader "helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"

	"github.com/gitsync/gitsync/pkg/helm/chartrender"
	"github.com/gitsync/gitsync/pkg/redact"
	"github.com/gitsync/gitsync/pkg/sops"
)

// Renderer renders charts with the Helm SDK in this process.
type Renderer struct{}

var _ chartrender.Renderer = Renderer{}

// RenderChart loads the chart, checks its dependencies, coalesces the
// values over the chart's (or ValuesFiles'), validates them against
// values.schema.json and runs the templates: `helm template` with the
// request's capabilities, without cluster or network (lookup returns
// nothing, DNS functions are off). A panic in Helm is returned as an error.
func (Renderer) RenderChart(ctx context.Context, req *chartrender.Request) (res *chartrender.Result, err error) {
	// A values or template error may quote what SOPS decrypted: it is
	// masked before it leaves the stage (for sync-job, its process), last,
	// after a panic became an error.
	var revealed []string
	var mask redact.Secrets
	defer func() { err = mask.Error(err) }()
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("%s: render panicked: %v: %w", req.ChartPath, r, chartrender.ErrInvalidChart)
		}
	}()
	if err := chartutil.ValidateReleaseName(req.ReleaseName); err != nil {
		return nil, fmt.Errorf("release name %q: %v: %w", req.ReleaseName, err, chartrender.ErrInvalidOptions)
	}
	ch, err := chartloader.Load(req.ChartPath)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", req.ChartPath, chartrender.ErrInvalidChart, err)
	}
	where := ch.Name() + " " + ch.Metadata.Version
	if ch.Metadata.Type == "library" {
		return nil, fmt.Errorf("%s: a library chart cannot be installed: %w", where, chartrender.ErrInvalidChart)
	}
	if err := checkDependencies(ch); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if len(req.ValuesFiles) > 0 {
		var keys *sops.Keys
		if req.DecryptionKeys != nil {
			if keys, err = sops.ParseKeys(req.DecryptionKeys); err != nil {
				return nil, fmt.Errorf("%s: decryption keys: %w", where, err)
			}
		}
		ch.Values, revealed, err = valuesFiles(ch, req.ValuesFiles, req.IgnoreMissingValuesFiles, keys)
		mask.Add(revealed...)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
	}
	vals, err := normalize(req.Values)
	if err != nil {
		return nil, fmt.Errorf("%s: values: %w", where, err)
	}
	if err := chartutil.ProcessDependencies(ch, vals); err != nil {
		return nil, fmt.Errorf("%s: dependencies: %w: %w", where, chartrender.ErrInvalidChart, err)
	}
	caps, err := capabilities(req)
	if err != nil {
		return nil, err
	}
	if kv := ch.Metadata.KubeVersion; kv != "" && !chartutil.IsCompatibleRange(kv, caps.KubeVersion.String()) {
		return nil, fmt.Errorf("%s: the chart requires Kubernetes %s, the cluster runs %s: %w", where, kv, caps.KubeVersion.Version, chartrender.ErrInvalidChart)
	}
	top, err := commonutil.ToRenderValuesWithSchemaValidation(ch, vals, common.ReleaseOptions{
		Name:      req.ReleaseName,
		Namespace: req.Namespace,
		Revision:  req.Revision,
		IsInstall: !req.IsUpgrade,
		IsUpgrade: req.IsUpgrade,
	}, caps, true)
	if err != nil {
		return nil, fmt.Errorf("%s: values: %w: %w", where, chartrender.ErrInvalidChart, err)
	}
	if !req.DisableSchemaValidation {
		coalesced, _ := top["Values"].(common.Values)
		if err := validateSchemas(ch, coalesced); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
	}
	files, err := engine.Engine{}.RenderWithContext(ctx, ch, top)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", where, chartrender.ErrInvalidChart, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res = &chartrender.Result{Chart: ch.Name(), Version: ch.Metadata.Version, AppVersion: ch.Metadata.AppVersion, Revealed: revealed}
	res.Notes = files[path.Join(ch.Name(), "templates", "NOTES.txt")]
	for name, data := range files {
		if !strings.HasSuffix(name, "NOTES.txt") {
			res.Files = append(res.Files, chartrender.File{Name: name, Data: data})
		}
	}
	slices.SortFunc(res.Files, func(a, b chartrender.File) int { return strings.Compare(a.Name, b.Name) })
	if !req.SkipCRDs {
		for _, crd := range ch.CRDObjects() {
			res.CRDs = append(res.CRDs, chartrender.File{Name: filepath.ToSlash(crd.Filename), Data: string(crd.File.Data)})
		}
	}
	return res, nil
}

// capabilities returns .Capabilities for the request.
func capabilities(req *chartrender.Request) (*common.Capabilities, error) {
	caps := common.DefaultCapabilities.Copy()
	if req.KubeVersion != "" {
		kv, err := common.ParseKubeVersion(req.KubeVersion)
		if err != nil {
			return nil, fmt.Errorf("KubeVersion %q: %v: %w", req.KubeVersion, err, chartrender.ErrInvalidOptions)
		}
		caps.KubeVersion = *kv
	}
	if req.APIVersions != nil {
		caps.APIVersions = common.VersionSet(slices.Clone(req.APIVersions))
	}
	return caps, nil
}
