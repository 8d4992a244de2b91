package syncrun

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gitsync/gitsync/pkg/apply"
	"github.com/gitsync/gitsync/pkg/health"
	"github.com/gitsync/gitsync/pkg/spec"
)

// healthJudge compiles a unit's healthCheckExprs for its wait, or returns
// nil (kstatus for every object) when it has none. The spec was checked at
// decode, and health caches each compiled expression, so this is a map
// look-up per expression after a unit's first wait.
func healthJudge(exprs []spec.CustomHealthCheck) (apply.StatusJudge, error) {
	if len(exprs) == 0 {
		return nil, nil
	}
	checks := make(health.Checks, len(exprs))
	for i, e := range exprs {
		gv, err := schema.ParseGroupVersion(e.APIVersion)
		if err != nil {
			return nil, fmt.Errorf("spec.healthCheckExprs[%d].apiVersion: %w", i, err)
		}
		c, err := health.NewCheck(e.Current, e.InProgress, e.Failed)
		if err != nil {
			return nil, fmt.Errorf("spec.healthCheckExprs[%d].%w", i, err)
		}
		checks[schema.GroupKind{Group: gv.Group, Kind: e.Kind}] = c
	}
	return checks, nil
}
