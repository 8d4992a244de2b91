package cli

import (
	"github.com/gitsync/gitsync/pkg/helm"
	"github.com/gitsync/gitsync/pkg/helm/sdk"
)

// The plugin renders Helm charts in its own process (build, diff, run
// --local), with the Helm SDK; sync-job, which does not link this package,
// renders them in its child process sync-job-helm (docs/helm.md). Every
// binary and test that runs these commands gets the in-process renderer.
func init() { helm.UseRenderer(sdk.Renderer{}) }
