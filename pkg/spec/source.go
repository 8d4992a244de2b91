package spec

import (
	"cmp"
	"slices"
	"strings"

	"github.com/gitsync/gitsync/pkg/redact"
)

// Every kind of source is one member of Source. What the rest of gitsync
// needs to know about a member without knowing its kind — its name, the
// Secret it reads, how status describes it — each member says through
// sourceKind, and members lists them. A new kind adds its member type,
// its line in members and its name in sourceKindNames; nothing else here
// or elsewhere switches on kinds (pkg/source/fromspec builds the source).

// sourceKindNames are the field names of Source's members, in order.
var sourceKindNames = []string{"git", "helm", "oci", "bucket"}

// sourceKind is what every member of Source implements.
type sourceKind interface {
	// secretRef returns the Secret holding the source's credentials, or
	// nil.
	secretRef() *LocalObjectReference
	// describe returns the URL and, in words, what is taken from it.
	describe() (url, what string)
}

// member is one member of Source that is set.
type member struct {
	name string
	kind sourceKind
}

// members returns the members of s that are set, in sourceKindNames
// order.
func (s *Source) members() []member {
	var out []member
	if s.Git != nil {
		out = append(out, member{"git", s.Git})
	}
	if s.Helm != nil {
		out = append(out, member{"helm", s.Helm})
	}
	if s.OCI != nil {
		out = append(out, member{"oci", s.OCI})
	}
	if s.Bucket != nil {
		out = append(out, member{"bucket", s.Bucket})
	}
	return out
}

// one returns the one member that is set; ok is false when none or
// several are (which Validate refuses).
func (s *Source) one() (member, bool) {
	m := s.members()
	if len(m) != 1 {
		return member{}, false
	}
	return m[0], true
}

// Kind returns the field name of the source's kind, "git" or "helm"; ""
// when no kind or several are set.
func (s *Source) Kind() string {
	m, _ := s.one()
	return m.name
}

// SecretRef returns the Secret the source reads its credentials from and
// the path of the field that names it (spec.source.git.secretRef); nil
// and "" when the source names none.
func (s *Source) SecretRef() (*LocalObjectReference, string) {
	m, ok := s.one()
	if !ok {
		return nil, ""
	}
	ref := m.kind.secretRef()
	if ref == nil {
		return nil, ""
	}
	return ref, "spec.source." + m.name + ".secretRef"
}

// Describe returns the source as status shows it: its kind, its URL with
// any credentials masked (see pkg/redact), and what is taken from it in
// words ("branch main", "chart web, version 1.x"). All are "" when no
// kind or several are set.
func (s *Source) Describe() (kind, url, what string) {
	m, ok := s.one()
	if !ok {
		return "", "", ""
	}
	url, what = m.kind.describe()
	return m.name, redact.URL(url), what
}

// SecretUse is a Secret a source reads, and the path of the field that
// names it.
type SecretUse struct {
	Name, Field string
}

// moreSecrets is implemented by members that read Secrets besides their
// secretRef (a Git source's verification keys and includes).
type moreSecrets interface {
	moreSecrets() []SecretUse
}

// MoreSecrets returns the Secrets the source reads besides SecretRef, in
// spec order; nil for kinds that read none.
func (s *Source) MoreSecrets() []SecretUse {
	m, ok := s.one()
	if !ok {
		return nil
	}
	if ms, ok := m.kind.(moreSecrets); ok {
		return ms.moreSecrets()
	}
	return nil
}

// ignorer is implemented by members whose fetched tree is filtered by
// ignore rules (Flux's spec.ignore with .sourceignore files and default
// exclusions): Git, OCI artifacts and buckets, not Helm charts. A member
// with an ignore field implements it.
type ignorer interface {
	// ignoreRules returns the member's ignore field (nil when unset).
	ignoreRules() *string
}

// IgnoreRules returns the source's ignore rules and true when its kind
// filters its tree by ignore rules (pkg/source.WithIgnore); rules is nil
// when the spec sets none, which means Flux's default exclusions.
func (s *Source) IgnoreRules() (rules *string, ok bool) {
	m, one := s.one()
	if !one {
		return nil, false
	}
	ig, ok := m.kind.(ignorer)
	if !ok {
		return nil, false
	}
	return ig.ignoreRules(), true
}

func (g *GitSource) secretRef() *LocalObjectReference { return g.SecretRef }

func (g *GitSource) describe() (url, what string) { return g.URL, g.Ref.Describe() }

func (h *HelmSource) secretRef() *LocalObjectReference { return h.SecretRef }

func (h *HelmSource) describe() (url, what string) {
	var parts []string
	if h.Chart != "" {
		parts = append(parts, "chart "+h.Chart)
	}
	parts = append(parts, "version "+cmp.Or(h.Version, DefaultHelmVersion))
	return h.URL, strings.Join(parts, ", ")
}

// SecretNames returns the Secrets of the sync's namespace that a run
// reads, sorted and without duplicates: the source's secretRef and the
// others it reads (MoreSecrets: verification keys, includes'
// credentials), the Secrets of postBuild.substituteFrom and
// helm.valuesFrom, the decryption keys' Secret, the notification
// providers' Secrets, kubeConfig's and those spec.flux.readSecrets lists
// for the sync's Flux objects. The generated RBAC grants get on exactly
// these.
func (s *Sync) SecretNames() []string {
	var names []string
	if ref, _ := s.Spec.Source.SecretRef(); ref != nil {
		names = append(names, ref.Name)
	}
	for _, u := range s.Spec.Source.MoreSecrets() {
		names = append(names, u.Name)
	}
	if pb := s.Spec.PostBuild; pb != nil {
		for _, ref := range pb.SubstituteFrom {
			if ref.Kind == "Secret" {
				names = append(names, ref.Name)
			}
		}
	}
	if h := s.Spec.Helm; h != nil {
		for _, ref := range h.ValuesFrom {
			if ref.Kind == "Secret" {
				names = append(names, ref.Name)
			}
		}
	}
	if d := s.Spec.Decryption; d != nil && d.SecretRef != nil {
		names = append(names, d.SecretRef.Name)
	}
	names = append(names, s.Spec.notifySecretNames()...)
	if kc := s.Spec.KubeConfig; kc != nil && kc.SecretRef != nil {
		names = append(names, kc.SecretRef.Name)
	}
	if f := s.Spec.Flux; f != nil {
		names = append(names, f.ReadSecrets...)
	}
	slices.Sort(names)
	return slices.Compact(names)
}
