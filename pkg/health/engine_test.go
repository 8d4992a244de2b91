package health

import "github.com/gitsync/gitsync/pkg/health/celeval"

// The package's tests compile with cel-go in process.
func init() { UseEngine(celeval.Engine{}) }
