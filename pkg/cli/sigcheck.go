package cli

import (
	"github.com/gitsync/gitsync/pkg/source/oci"
	"github.com/gitsync/gitsync/pkg/source/oci/sigcheck/sdk"
)

// The plugin checks Sigstore bundles and keyless signatures in its own
// process, with sigstore-go; sync-job, which does not link this package,
// checks them in its child process (`sync-job-helm verify`,
// pkg/source/oci/sigcheck). Every binary and test that runs these
// commands gets the in-process checker.
func init() { oci.UseChecker(sdk.Checker{}) }
