package cli

import (
	"fmt"
	"strings"

	"github.com/gitsync/gitsync/pkg/spec"
)

const dependsOnUsage = "[NAMESPACE/]NAME of a sync this one depends on (spec.dependsOn, repeatable; namespace default the sync's): " +
	"its runs apply nothing until that sync has applied its latest revision and is healthy, and that sync's successes start its runs"

// parseDependsOn turns the --depends-on values into spec.dependsOn; the
// names themselves are validated with the spec.
func parseDependsOn(values []string) ([]spec.DependencyReference, error) {
	var out []spec.DependencyReference
	for _, v := range values {
		ns, name, found := strings.Cut(v, "/")
		if !found {
			ns, name = "", v
		}
		if name == "" || (found && ns == "") || strings.Contains(name, "/") {
			return nil, fmt.Errorf("--depends-on %q: want NAME or NAMESPACE/NAME", v)
		}
		out = append(out, spec.DependencyReference{Name: name, Namespace: ns})
	}
	return out, nil
}
