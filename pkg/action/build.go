package action

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// BuildOptions say what Build renders.
type BuildOptions struct {
	RenderOptions
	// ShowSecrets leaves the values of Secrets' data and stringData as
	// rendered. Default false: each value is replaced by "***" (the keys
	// stay), so that a value decrypted from SOPS, or any other secret,
	// does not reach a terminal or a CI log unless asked for.
	ShowSecrets bool
}

// Build renders the sync as a run would and returns the objects exactly as
// a run sends them: in render order, with the sync's namespace set on
// namespaced objects that have none, and with the labels a run adds. The
// spec (unless given), its substitution inputs and the cluster's discovery
// are read from the cluster, or from nothing when Offline (cfg may then be
// nil); nothing is written. Secret values are masked unless ShowSecrets.
func Build(ctx context.Context, cfg *Config, opts BuildOptions) ([]*unstructured.Unstructured, error) {
	r, err := renderSync(ctx, cfg, opts.RenderOptions)
	if err != nil {
		return nil, err
	}
	objs := r.WithLabels()
	if !opts.ShowSecrets {
		for _, o := range objs {
			if o.GetAPIVersion() == "v1" && o.GetKind() == "Secret" {
				maskSecret(nil, o.Object)
			}
		}
	}
	return objs, nil
}
