package spec

import (
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gitsync/gitsync/pkg/names"
)

// DependencyReference names a sync this one depends on (Flux's dependsOn
// entry, a NamespacedObjectReference).
type DependencyReference struct {
	// Name of the sync depended on. Required.
	Name string `json:"name"`
	// Namespace of that sync. Default: the namespace of the sync that
	// depends on it, as in Flux.
	Namespace string `json:"namespace,omitempty"`
}

// String returns NAMESPACE/NAME.
func (d DependencyReference) String() string { return d.Namespace + "/" + d.Name }

// Dependencies returns spec.dependsOn with each namespace defaulted to the
// sync's own.
func (s *Sync) Dependencies() []DependencyReference { return s.DependenciesIn(s.Namespace) }

// DependenciesIn returns spec.dependsOn with each namespace defaulted to
// namespace: the sync's, for a spec read from its ConfigMap that does not
// name it.
func (s *Sync) DependenciesIn(namespace string) []DependencyReference {
	if len(s.Spec.DependsOn) == 0 {
		return nil
	}
	out := make([]DependencyReference, len(s.Spec.DependsOn))
	for i, d := range s.Spec.DependsOn {
		if d.Namespace == "" {
			d.Namespace = namespace
		}
		out[i] = d
	}
	return out
}

// validateDependsOn checks spec.dependsOn: each entry names a valid sync,
// no entry is repeated and none is the sync itself.
func (s *Sync) validateDependsOn() field.ErrorList {
	var errs field.ErrorList
	seen := map[DependencyReference]bool{}
	for i, d := range s.Spec.DependsOn {
		p := field.NewPath("spec", "dependsOn").Index(i)
		if d.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), "the name of the sync depended on"))
			continue
		}
		if err := names.Validate(d.Name); err != nil {
			errs = append(errs, field.Invalid(p.Child("name"), d.Name, err.Error()))
		}
		if d.Namespace != "" {
			errs = append(errs, dns1123Label(p.Child("namespace"), d.Namespace)...)
		}
		key := d
		if key.Namespace == "" {
			key.Namespace = s.Namespace
		}
		if d.Name == s.Name && key.Namespace == s.Namespace {
			errs = append(errs, field.Invalid(p, key.String(), "a sync cannot depend on itself"))
			continue
		}
		if seen[key] {
			errs = append(errs, field.Duplicate(p, key.String()))
		}
		seen[key] = true
	}
	return errs
}

// CycleError is a dependency cycle among syncs: Path starts and ends with
// the same sync.
type CycleError struct {
	Path []DependencyReference
}

func (e *CycleError) Error() string {
	parts := make([]string, len(e.Path))
	for i, p := range e.Path {
		parts[i] = p.String()
	}
	return "dependsOn: cycle: " + strings.Join(parts, " → ")
}

// ErrDependencyUnknown is what a DependenciesFunc returns for a sync whose
// spec cannot be found or read: FindCycle follows it no further.
var ErrDependencyUnknown = errors.New("dependency unknown")

// DependenciesFunc returns the dependsOn of a sync (namespaces defaulted),
// or ErrDependencyUnknown.
type DependenciesFunc func(DependencyReference) ([]DependencyReference, error)

// maxDependencyWalk bounds FindCycle, so that a graph of many syncs cannot
// make an install or a run read specs for ever.
const maxDependencyWalk = 1000

// FindCycle follows dependsOn from start, whose own dependencies are
// first, reading the others with deps, and returns a *CycleError when the
// walk comes back to a sync on its path. Syncs deps does not know end
// their branch; other errors of deps end the walk.
func FindCycle(start DependencyReference, first []DependencyReference, deps DependenciesFunc) error {
	done := map[DependencyReference]bool{}
	onPath := map[DependencyReference]int{}
	var path []DependencyReference
	visited := 0
	var walk func(n DependencyReference, next []DependencyReference) error
	walk = func(n DependencyReference, next []DependencyReference) error {
		onPath[n] = len(path)
		path = append(path, n)
		for _, d := range next {
			if i, ok := onPath[d]; ok {
				return &CycleError{Path: append(append([]DependencyReference(nil), path[i:]...), d)}
			}
			if done[d] {
				continue
			}
			if visited++; visited > maxDependencyWalk {
				return fmt.Errorf("dependsOn: more than %d syncs on the dependency graph of %s", maxDependencyWalk, start)
			}
			dd, err := deps(d)
			if errors.Is(err, ErrDependencyUnknown) {
				done[d] = true
				continue
			}
			if err != nil {
				return err
			}
			if err := walk(d, dd); err != nil {
				return err
			}
		}
		path = path[:len(path)-1]
		delete(onPath, n)
		done[n] = true
		return nil
	}
	return walk(start, first)
}
