package spec

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gitsync/gitsync/pkg/health"
)

// validateHealthCheckExprs checks each entry's apiVersion and kind, and
// compiles its expressions, so that a wrong one is refused at install
// with its path rather than found by a run.
func validateHealthCheckExprs(p *field.Path, checks []CustomHealthCheck) field.ErrorList {
	var errs field.ErrorList
	seen := map[schema.GroupKind]bool{}
	for i, c := range checks {
		ip := p.Index(i)
		gv, err := schema.ParseGroupVersion(c.APIVersion)
		switch {
		case c.APIVersion == "":
			errs = append(errs, field.Required(ip.Child("apiVersion"), "the group/version of the objects to judge"))
		case err != nil:
			errs = append(errs, field.Invalid(ip.Child("apiVersion"), c.APIVersion, "must be version or group/version"))
		}
		if c.Kind == "" {
			errs = append(errs, field.Required(ip.Child("kind"), "the kind of the objects to judge"))
		}
		if gk := (schema.GroupKind{Group: gv.Group, Kind: c.Kind}); err == nil && c.Kind != "" {
			if why := health.Refused(gk.Group, gk.Kind); why != "" {
				errs = append(errs, field.Forbidden(ip.Child("kind"), why))
			}
			if seen[gk] {
				// Two entries for one kind: which would win is not
				// obvious, so neither is silently dropped.
				errs = append(errs, field.Duplicate(ip, c.APIVersion+" "+c.Kind+" (the version does not matter)"))
			}
			seen[gk] = true
		}
		if c.Current == "" {
			errs = append(errs, field.Required(ip.Child("current"), "the CEL expression that is true when the object is ready"))
		}
		for _, e := range []struct{ name, src string }{
			{"current", c.Current}, {"inProgress", c.InProgress}, {"failed", c.Failed},
		} {
			if e.src == "" {
				continue
			}
			if _, err := health.Compile(e.src); err != nil {
				errs = append(errs, field.Invalid(ip.Child(e.name), e.src, err.Error()))
			}
		}
	}
	return errs
}
