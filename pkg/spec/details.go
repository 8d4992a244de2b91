package spec

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/gitsync/gitsync/pkg/redact"
)

// detailer is implemented by members of Source that have settings beyond
// what describe says: verification, sparse checkout, includes, ignore
// rules, a region.
type detailer interface {
	// details returns those settings in words, one a line.
	details() []string
}

// Details returns the source's settings beyond Describe, in words, as a
// detailed status lists them: the Secret of its credentials, signature
// verification, sparse checkout, submodules, includes, ignore rules, a
// bucket's region. URLs are redacted. Nil when the source has none, or
// when no kind or several are set.
func (s *Source) Details() []string {
	m, ok := s.one()
	if !ok {
		return nil
	}
	var out []string
	if ref := m.kind.secretRef(); ref != nil {
		out = append(out, "credentials from Secret "+ref.Name)
	}
	if d, ok := m.kind.(detailer); ok {
		out = append(out, d.details()...)
	}
	if ig, ok := m.kind.(ignorer); ok {
		if rules := ig.ignoreRules(); rules != nil {
			out = append(out, "ignore "+ignoreSummary(*rules))
		}
	}
	return out
}

// ignoreSummary returns ignore rules on one line: their rules joined by
// "; ", without comments and blank lines.
func ignoreSummary(rules string) string {
	var kept []string
	for _, l := range strings.Split(rules, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") {
			kept = append(kept, l)
		}
	}
	if len(kept) == 0 {
		return "rules: none (the default exclusions are off)"
	}
	return "rules: " + strings.Join(kept, "; ")
}

// details returns verification, sparse checkout, submodules and includes.
func (g *GitSource) details() []string {
	var out []string
	if g.Provider == GitProviderGitHub {
		out = append(out, "authenticates as a GitHub App installation")
	}
	if v := g.Verify; v != nil {
		out = append(out, "verify "+cmp.Or(v.Mode, VerifyHEAD)+" signatures, keys from Secret "+v.SecretRef.Name)
	}
	if len(g.SparseCheckout) > 0 {
		out = append(out, "sparse checkout: "+strings.Join(g.SparseCheckout, ", "))
	}
	if g.RecurseSubmodules {
		out = append(out, "submodules")
	}
	for _, inc := range g.Include {
		r := inc.Repository
		line := "include " + redact.URL(r.URL) + " (" + r.Ref.Describe() + "): " + cmp.Or(inc.FromPath, "/") + " -> " + inc.IncludeToPath()
		if r.SecretRef != nil {
			line += ", credentials from Secret " + r.SecretRef.Name
		}
		out = append(out, line)
	}
	return out
}

// details returns the verification keys' Secret and plain HTTP.
func (o *OCISource) details() []string {
	var out []string
	if v := o.Verify; v != nil && v.SecretRef != nil {
		out = append(out, "verify "+cmp.Or(v.Provider, VerifyCosign)+" signatures, keys from Secret "+v.SecretRef.Name)
	}
	if v := o.Verify; v != nil && v.SecretRef == nil {
		ids := fmt.Sprintf("of %d identities", len(v.MatchOIDCIdentity))
		if len(v.MatchOIDCIdentity) == 0 {
			ids = "of any identity"
		}
		root := "Sigstore's public-good trusted root (TUF)"
		if v.TrustedRootSecretRef != nil {
			root = "trusted root from Secret " + v.TrustedRootSecretRef.Name
		}
		out = append(out, fmt.Sprintf("verify keyless %s signatures %s, %s", cmp.Or(v.Provider, VerifyCosign), ids, root))
	}
	if o.Insecure {
		out = append(out, "plain HTTP (insecure)")
	}
	return out
}

// details returns the region requests are signed for.
func (b *BucketSource) details() []string {
	if b.Region == "" {
		return nil
	}
	return []string{"region " + b.Region}
}
