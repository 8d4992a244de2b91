package cli

import (
	"github.com/gitsync/gitsync/pkg/health"
	"github.com/gitsync/gitsync/pkg/health/celeval"
)

// The plugin compiles and evaluates healthCheckExprs in its own process,
// with cel-go; sync-job, which does not link this package, does it in its
// child process (`sync-job-helm cel`, pkg/health/celexec).
func init() { health.UseEngine(celeval.Engine{}) }
