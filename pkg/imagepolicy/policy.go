// Package imagepolicy chooses the latest tag of an image repository the
// way Flux's image-reflector-controller does: tags matching the
// repository's exclusionList are dropped, filterTags keeps the tags its
// pattern matches and, with extract, turns each into the value the policy
// compares, and one of the semver, alphabetical or numerical policies
// picks the latest. Field names and semantics are Flux's
// (image.toolkit.fluxcd.io/v1 ImageRepository and ImagePolicy).
package imagepolicy

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"

	"github.com/Masterminds/semver/v3"
)

// Order values of the alphabetical and numerical policies.
const (
	OrderAsc  = "asc"
	OrderDesc = "desc"
)

// DefaultExclusionList is Flux's default exclusionList: cosign signature
// tags are never candidates.
var DefaultExclusionList = []string{`^.*\.sig$`}

// MaxExclusions is Flux's cap on the length of exclusionList.
const MaxExclusions = 25

// ErrNoMatch says no tag satisfied the policy: the run must not change
// any marker.
var ErrNoMatch = errors.New("no tag matches the policy")

// Choice is the policy field of Flux's ImagePolicy: exactly one of its
// members is set.
type Choice struct {
	// SemVer picks the highest version within Range.
	SemVer *SemVer `json:"semver,omitempty"`
	// Alphabetical picks the last tag in Order ("asc", the default: the
	// lexically greatest).
	Alphabetical *Ordered `json:"alphabetical,omitempty"`
	// Numerical picks the last number in Order ("asc", the default: the
	// greatest). Every candidate must parse as a number.
	Numerical *Ordered `json:"numerical,omitempty"`
}

// SemVer is Flux's semver policy.
type SemVer struct {
	// Range is a Masterminds semver constraint, e.g. ">=1.0.0 <2.0.0".
	Range string `json:"range"`
}

// Ordered is Flux's alphabetical and numerical policy.
type Ordered struct {
	// Order is "asc" (default) or "desc".
	Order string `json:"order,omitempty"`
}

// FilterTags is Flux's filterTags: Pattern selects tags (a Go regular
// expression); Extract, when set, is expanded with the match's groups
// ($1, ${name}) to give the value the policy compares. The chosen tag is
// always the original tag.
type FilterTags struct {
	Pattern string `json:"pattern,omitempty"`
	Extract string `json:"extract,omitempty"`
}

// Policy is a compiled ImagePolicy with its repository's exclusionList.
type Policy struct {
	choice  Choice
	filter  *regexp.Regexp
	extract string
	exclude []*regexp.Regexp
	semver  *semver.Constraints
	desc    bool
}

// Spec is what Compile needs.
type Spec struct {
	// Policy is required.
	Policy Choice
	// FilterTags is optional: all tags are candidates.
	FilterTags *FilterTags
	// ExclusionList is the ImageRepository's; nil means
	// DefaultExclusionList, an empty non-nil list excludes nothing.
	ExclusionList []string
}

// FieldError is an invalid field: Field is its path relative to the
// policy (e.g. "policy.semver.range").
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// Compile checks s and returns its Policy. Errors are *FieldError.
func Compile(s Spec) (*Policy, error) {
	p := &Policy{choice: s.Policy}
	n := 0
	for _, set := range []bool{s.Policy.SemVer != nil, s.Policy.Alphabetical != nil, s.Policy.Numerical != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, &FieldError{"policy", errors.New("exactly one of semver, alphabetical or numerical is required")}
	}
	switch {
	case s.Policy.SemVer != nil:
		if s.Policy.SemVer.Range == "" {
			return nil, &FieldError{"policy.semver.range", errors.New("required")}
		}
		c, err := semver.NewConstraint(s.Policy.SemVer.Range)
		if err != nil {
			return nil, &FieldError{"policy.semver.range", fmt.Errorf("invalid semver range %q: %w", s.Policy.SemVer.Range, err)}
		}
		p.semver = c
	case s.Policy.Alphabetical != nil:
		desc, err := order(s.Policy.Alphabetical.Order)
		if err != nil {
			return nil, &FieldError{"policy.alphabetical.order", err}
		}
		p.desc = desc
	case s.Policy.Numerical != nil:
		desc, err := order(s.Policy.Numerical.Order)
		if err != nil {
			return nil, &FieldError{"policy.numerical.order", err}
		}
		p.desc = desc
	}
	if f := s.FilterTags; f != nil {
		if f.Pattern == "" && f.Extract != "" {
			return nil, &FieldError{"filterTags.pattern", errors.New("required when extract is set")}
		}
		if f.Pattern != "" {
			re, err := regexp.Compile(f.Pattern)
			if err != nil {
				return nil, &FieldError{"filterTags.pattern", fmt.Errorf("invalid regular expression: %w", err)}
			}
			p.filter, p.extract = re, f.Extract
		}
	}
	excl := s.ExclusionList
	if excl == nil {
		excl = DefaultExclusionList
	}
	if len(excl) > MaxExclusions {
		return nil, &FieldError{"exclusionList", fmt.Errorf("%d entries, at most %d allowed", len(excl), MaxExclusions)}
	}
	for i, e := range excl {
		re, err := regexp.Compile(e)
		if err != nil {
			return nil, &FieldError{fmt.Sprintf("exclusionList[%d]", i), fmt.Errorf("invalid regular expression: %w", err)}
		}
		p.exclude = append(p.exclude, re)
	}
	return p, nil
}

func order(o string) (desc bool, err error) {
	switch o {
	case "", OrderAsc:
		return false, nil
	case OrderDesc:
		return true, nil
	}
	return false, fmt.Errorf("%q is not asc or desc", o)
}

// Excluded reports whether tag matches the exclusionList.
func (p *Policy) Excluded(tag string) bool {
	for _, re := range p.exclude {
		if re.MatchString(tag) {
			return true
		}
	}
	return false
}

// Latest returns the latest of tags: ErrNoMatch when no tag is a
// candidate, an error naming the tag when a numerical policy meets a
// candidate that is not a number.
func (p *Policy) Latest(tags []string) (string, error) {
	// value → original tag. With extract, two tags can give one value;
	// the later one in the list wins, as in Flux.
	cand := make(map[string]string, len(tags))
	for _, t := range tags {
		if p.Excluded(t) {
			continue
		}
		v := t
		if p.filter != nil {
			m := p.filter.FindStringSubmatchIndex(t)
			if m == nil {
				continue
			}
			if p.extract != "" {
				v = string(p.filter.ExpandString(nil, p.extract, t, m))
			}
		}
		cand[v] = t
	}
	if len(cand) == 0 {
		return "", ErrNoMatch
	}
	values := make([]string, 0, len(cand))
	for v := range cand {
		values = append(values, v)
	}
	sort.Strings(values) // deterministic input for every policy
	var latest string
	var err error
	switch {
	case p.semver != nil:
		latest, err = p.latestSemver(values)
	case p.choice.Alphabetical != nil:
		latest = values[len(values)-1]
		if p.desc {
			latest = values[0]
		}
	case p.choice.Numerical != nil:
		latest, err = p.latestNumber(values)
	}
	if err != nil {
		return "", err
	}
	return cand[latest], nil
}

func (p *Policy) latestSemver(values []string) (string, error) {
	var best *semver.Version
	var bestValue string
	for _, v := range values {
		ver, err := semver.NewVersion(v)
		if err != nil || !p.semver.Check(ver) {
			continue // not a version, or out of range: not a candidate
		}
		// Equal versions ("1.0" and "1.0.0"): keep the first in sort
		// order, so the choice does not depend on listing order.
		if best == nil || ver.GreaterThan(best) {
			best, bestValue = ver, v
		}
	}
	if best == nil {
		return "", ErrNoMatch
	}
	return bestValue, nil
}

func (p *Policy) latestNumber(values []string) (string, error) {
	var best float64
	var bestValue string
	for i, v := range values {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return "", fmt.Errorf("tag value %q is not a number (numerical policy)", v)
		}
		if i == 0 || (!p.desc && f > best) || (p.desc && f < best) {
			best, bestValue = f, v
		}
	}
	return bestValue, nil
}
