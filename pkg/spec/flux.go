package spec

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// A sync's render may hold Flux's own objects (Kustomizations,
// HelmReleases and the sources they read). A run does not apply them: it
// executes each Kustomization and HelmRelease as a unit of the same run
// (see docs/flux.md). spec.flux tunes that; every field has a default, so
// a Flux repository needs none of it.

const (
	// FluxInstallationSkip leaves Flux's own installation (what flux
	// bootstrap writes: gotk-components.yaml, gotk-sync.yaml) out of the
	// run; the run says so once. It is the default.
	FluxInstallationSkip = "Skip"
	// FluxInstallationApply applies Flux's installation like any other
	// object: Flux's CRDs, controllers and the flux-system GitRepository
	// and Kustomization.
	FluxInstallationApply = "Apply"

	// DefaultFluxConcurrency is how many units run at once when
	// spec.flux.concurrency is not set.
	DefaultFluxConcurrency = 4
	// MaxFluxConcurrency bounds spec.flux.concurrency: every unit in flight
	// keeps its own requests in flight too.
	MaxFluxConcurrency = 32
)

// FluxSpec says how a run treats the Flux objects its render holds.
type FluxSpec struct {
	// Installation is FluxInstallationSkip (default) or
	// FluxInstallationApply. The name follows Flux's enumerations
	// (crds: Create|Skip, deletionPolicy: ...).
	Installation string `json:"installation,omitempty"`
	// Concurrency is how many units run at once, each after the units it
	// depends on. Default DefaultFluxConcurrency.
	Concurrency int `json:"concurrency,omitempty"`
	// NoCrossNamespaceRefs refuses a sourceRef, chartRef or dependsOn that
	// names another namespace than the referring object's, as Flux's
	// controllers do with --no-cross-namespace-refs. Default false: such
	// references are allowed, as in Flux by default.
	NoCrossNamespaceRefs bool `json:"noCrossNamespaceRefs,omitempty"`
}

// ApplyInstallation reports whether Flux's own installation is applied
// (spec.flux.installation: Apply). f may be nil.
func (f *FluxSpec) ApplyInstallation() bool {
	return f != nil && f.Installation == FluxInstallationApply
}

// UnitConcurrency returns spec.flux.concurrency with its default. f may be
// nil.
func (f *FluxSpec) UnitConcurrency() int {
	if f == nil || f.Concurrency <= 0 {
		return DefaultFluxConcurrency
	}
	return f.Concurrency
}

// CrossNamespaceRefsRefused reports spec.flux.noCrossNamespaceRefs. f may
// be nil.
func (f *FluxSpec) CrossNamespaceRefsRefused() bool {
	return f != nil && f.NoCrossNamespaceRefs
}

func (f *FluxSpec) validate(p *field.Path) field.ErrorList {
	if f == nil {
		return nil
	}
	var errs field.ErrorList
	switch f.Installation {
	case "", FluxInstallationSkip, FluxInstallationApply:
	default:
		errs = append(errs, field.NotSupported(p.Child("installation"), f.Installation,
			[]string{FluxInstallationSkip, FluxInstallationApply}))
	}
	if f.Concurrency < 0 || f.Concurrency > MaxFluxConcurrency {
		errs = append(errs, field.Invalid(p.Child("concurrency"), f.Concurrency,
			fmt.Sprintf("must be between 1 and %d (0 or unset: %d)", MaxFluxConcurrency, DefaultFluxConcurrency)))
	}
	return errs
}

// ValidateSource checks one source on its own, as Parse checks
// spec.source, and returns every problem with its path below p. A run uses
// it for the sources it builds from Flux objects (a GitRepository becomes
// a spec.Source), so that they are held to the same rules as a Sync's.
func ValidateSource(s *Source, p *field.Path) field.ErrorList {
	return s.validate(p)
}
