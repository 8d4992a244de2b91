package flux

import (
	"github.com/gitsync/gitsync/pkg/health"
	"github.com/gitsync/gitsync/pkg/health/celeval"
)

// healthCheckExprs compile with cel-go in process in this package's tests.
func init() { health.UseEngine(celeval.Engine{}) }
