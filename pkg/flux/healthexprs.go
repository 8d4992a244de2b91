package flux

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gitsync/gitsync/pkg/health"
	"github.com/gitsync/gitsync/pkg/spec"
)

// healthCheckExprs reads a Kustomization's healthCheckExprs and compiles
// each expression, so that a wrong one fails the decode with its path, as
// a Sync's does at install.
func healthCheckExprs(d *decoder, r reader) []spec.CustomHealthCheck {
	var out []spec.CustomHealthCheck
	seen := map[schema.GroupKind]bool{}
	for i, h := range r.list("healthCheckExprs") {
		c := spec.CustomHealthCheck{APIVersion: h.str("apiVersion"), Kind: h.str("kind"),
			Current: h.str("current"), InProgress: h.str("inProgress"), Failed: h.str("failed")}
		p := fmt.Sprintf("%s[%d]", r.at("healthCheckExprs"), i)
		gv, err := schema.ParseGroupVersion(c.APIVersion)
		if err != nil {
			d.errorf(p+".apiVersion", ErrInvalid, "%q must be version or group/version", c.APIVersion)
		} else if why := health.Refused(gv.Group, c.Kind); why != "" {
			d.errorf(p+".kind", ErrUnsupported, "%s", why)
		} else if gk := (schema.GroupKind{Group: gv.Group, Kind: c.Kind}); seen[gk] {
			d.errorf(p, ErrInvalid, "a second entry for %s %s (the version does not matter)", c.APIVersion, c.Kind)
		} else {
			seen[gk] = true
		}
		for _, e := range []struct{ name, src string }{
			{"current", c.Current}, {"inProgress", c.InProgress}, {"failed", c.Failed},
		} {
			if e.src == "" && e.name != "current" {
				continue
			}
			if _, err := health.Compile(e.src); err != nil {
				d.errorf(p+"."+e.name, ErrInvalid, "%s", err)
			}
		}
		out = append(out, c)
	}
	return out
}
