package spec

import (
	"encoding/json"
	"fmt"
	"strconv"

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
	Concurrency *Count `json:"concurrency,omitempty"`
	// NoCrossNamespaceRefs refuses a sourceRef, chartRef or dependsOn that
	// names another namespace than the referring object's, as Flux's
	// controllers do with --no-cross-namespace-refs. Default false: such
	// references are allowed, as in Flux by default.
	NoCrossNamespaceRefs bool `json:"noCrossNamespaceRefs,omitempty"`
	// StrictSubstitution makes a Flux Kustomization's postBuild variable
	// that is undefined and has no default an error, as Flux's
	// StrictPostBuildSubstitutions feature gate does. Default false: it is
	// substituted "", as Flux does by default, and the unit's result
	// names it. (A Sync's own postBuild is always strict.)
	StrictSubstitution bool `json:"strictSubstitution,omitempty"`
}

// ApplyInstallation reports whether Flux's own installation is applied
// (spec.flux.installation: Apply). f may be nil.
func (f *FluxSpec) ApplyInstallation() bool {
	return f != nil && f.Installation == FluxInstallationApply
}

// UnitConcurrency returns spec.flux.concurrency with its default. f may be
// nil.
func (f *FluxSpec) UnitConcurrency() int {
	if f == nil || f.Concurrency == nil || f.Concurrency.N <= 0 {
		return DefaultFluxConcurrency
	}
	return f.Concurrency.N
}

// CrossNamespaceRefsRefused reports spec.flux.noCrossNamespaceRefs. f may
// be nil.
func (f *FluxSpec) CrossNamespaceRefsRefused() bool {
	return f != nil && f.NoCrossNamespaceRefs
}

// SubstitutionStrict reports spec.flux.strictSubstitution. f may be nil.
func (f *FluxSpec) SubstitutionStrict() bool {
	return f != nil && f.StrictSubstitution
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
	switch c := f.Concurrency; {
	case c == nil:
	case c.invalid != "":
		errs = append(errs, field.Invalid(p.Child("concurrency"), c.invalid, "must be a whole number"))
	case c.N < 0 || c.N > MaxFluxConcurrency:
		errs = append(errs, field.Invalid(p.Child("concurrency"), c.N,
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

// Count is a whole number of a spec. The spec's YAML keeps every scalar as
// written (see Parse), so Count reads both 8 and "8". Like Duration, a
// value that does not parse is kept, and Validate reports it with its
// field path.
type Count struct {
	N int

	// invalid is the JSON text of a value that is not a whole number.
	invalid string
}

// NewCount returns n as a *Count, for building specs in Go.
func NewCount(n int) *Count { return &Count{N: n} }

// UnmarshalJSON implements json.Unmarshaler. It never fails; see Count.
func (c *Count) UnmarshalJSON(b []byte) error {
	*c = Count{}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		s = string(b)
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		c.invalid = string(b)
		return nil
	}
	c.N = n
	return nil
}

// MarshalJSON implements json.Marshaler, as a JSON number; an unparsable
// value is written back as it was read.
func (c Count) MarshalJSON() ([]byte, error) {
	if c.invalid != "" {
		return []byte(c.invalid), nil
	}
	return json.Marshal(c.N)
}
