package spec

import (
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gitsync/gitsync/pkg/redact"
)

// The fields of spec.source.git beyond where and what to fetch: signature
// verification, ignore rules, sparse checkout, submodules and includes,
// each as Flux's GitRepository has it.

// The verification modes of GitVerify.Mode, with Flux's names.
const (
	// VerifyHEAD checks the signature of the commit that is applied.
	VerifyHEAD = "HEAD"
	// VerifyHEADLegacy is Flux's older spelling of VerifyHEAD.
	VerifyHEADLegacy = "head"
	// VerifyTag checks the signature of the annotated tag the ref selects.
	VerifyTag = "Tag"
	// VerifyTagAndHEAD checks the tag and the commit it points to.
	VerifyTagAndHEAD = "TagAndHEAD"
)

// GitVerify is spec.source.git.verify, Flux's GitRepository .spec.verify.
type GitVerify struct {
	// Mode says what is verified: VerifyHEAD, VerifyTag or
	// VerifyTagAndHEAD (VerifyHEADLegacy is accepted). Default HEAD.
	Mode string `json:"mode,omitempty"`
	// SecretRef names a Secret in the sync's namespace with the trusted
	// public keys: armored OpenPGP keys under keys ending in .asc, SSH
	// public keys (authorized_keys or allowed_signers lines) under keys
	// ending in .sshpub. Required.
	SecretRef LocalObjectReference `json:"secretRef"`
}

// GitInclude is one entry of spec.source.git.include, Flux's
// GitRepository .spec.include with the included repository written inline
// instead of referenced by name.
type GitInclude struct {
	// Repository is the repository to include from. Required.
	Repository GitIncludeRepository `json:"repository"`
	// FromPath is the file or directory of the included repository to
	// copy. Default: its root.
	FromPath string `json:"fromPath,omitempty"`
	// ToPath is where the copy goes in this repository's checkout. It
	// must not exist there (or be an empty directory). Default: the last
	// element of the repository's URL without .git ("app" for
	// https://host/org/app.git), where Flux's default is the included
	// GitRepository's name.
	ToPath string `json:"toPath,omitempty"`
}

// GitIncludeRepository is an included repository: the fields of GitSource
// that say where it is and what to take from it.
type GitIncludeRepository struct {
	// URL is https://..., ssh://..., scp-like [user@]host:path, or
	// http://... when Insecure is true.
	URL string `json:"url"`
	// Insecure permits a plain http:// URL, as GitSource.Insecure: it does
	// not disable TLS verification and is rejected on any other URL.
	Insecure bool `json:"insecure,omitempty"`
	// Ref selects what to include. Default: branch DefaultBranch.
	Ref GitRef `json:"ref,omitzero"`
	// SecretRef names a Secret with its credentials, with the keys of
	// GitSource.SecretRef. Required for SSH URLs.
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`
}

// IncludeToPath returns inc's ToPath, or its default.
func (inc *GitInclude) IncludeToPath() string {
	if inc.ToPath != "" {
		return inc.ToPath
	}
	u := strings.TrimRight(inc.Repository.URL, "/")
	if i := strings.LastIndexAny(u, "/:"); i >= 0 {
		u = u[i+1:]
	}
	return strings.TrimSuffix(u, ".git")
}

// ignoreRules returns spec.source.git.ignore: a Git source's tree is
// filtered by ignore rules.
func (g *GitSource) ignoreRules() *string { return g.Ignore }

// moreSecrets returns the Secrets a Git source reads besides its
// credentials: the verification keys and the includes' credentials.
func (g *GitSource) moreSecrets() []SecretUse {
	var out []SecretUse
	if v := g.Verify; v != nil && v.SecretRef.Name != "" {
		out = append(out, SecretUse{Name: v.SecretRef.Name, Field: "spec.source.git.verify.secretRef"})
	}
	for i, inc := range g.Include {
		if ref := inc.Repository.SecretRef; ref != nil {
			out = append(out, SecretUse{Name: ref.Name, Field: fmt.Sprintf("spec.source.git.include[%d].repository.secretRef", i)})
		}
	}
	return out
}

// validateExtras validates verify, sparseCheckout and include.
func (g *GitSource) validateExtras(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if v := g.Verify; v != nil {
		vp := p.Child("verify")
		switch v.Mode {
		case "", VerifyHEAD, VerifyHEADLegacy:
		case VerifyTag, VerifyTagAndHEAD:
			r := g.Ref
			tagRef := r.Commit == "" && (r.Tag != "" || r.SemVer != "" || strings.HasPrefix(r.Name, "refs/tags/"))
			if !tagRef {
				errs = append(errs, field.Invalid(vp.Child("mode"), v.Mode,
					"verifies a tag: set ref.tag, ref.semver or a ref.name under refs/tags/"))
			}
		default:
			errs = append(errs, field.NotSupported(vp.Child("mode"), v.Mode, []string{VerifyHEAD, VerifyTag, VerifyTagAndHEAD}))
		}
		if v.SecretRef.Name == "" {
			errs = append(errs, field.Required(vp.Child("secretRef", "name"), "a Secret with the trusted public keys"))
		} else {
			errs = append(errs, validateRefName(vp.Child("secretRef", "name"), v.SecretRef.Name)...)
		}
	}
	for i, d := range g.SparseCheckout {
		dp := p.Child("sparseCheckout").Index(i)
		c, ok := cleanRelative(strings.TrimPrefix(d, "./"))
		switch {
		case strings.TrimSpace(d) == "":
			errs = append(errs, field.Required(dp, "a directory of the repository"))
		case !ok || c == ".git" || strings.HasPrefix(c, ".git/"):
			errs = append(errs, field.Invalid(dp, d, "must be a directory inside the repository: no leading /, no .. above the root, not .git"))
		}
	}
	for i := range g.Include {
		errs = append(errs, g.Include[i].validate(p.Child("include").Index(i))...)
	}
	return errs
}

// validate validates one include.
func (inc *GitInclude) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	rp := p.Child("repository")
	r := &inc.Repository
	scheme := ""
	if r.URL == "" {
		errs = append(errs, field.Required(rp.Child("url"), "the included repository's URL"))
	} else {
		var problem string
		if scheme, problem = gitURLScheme(r.URL); problem != "" {
			errs = append(errs, field.Invalid(rp.Child("url"), redact.URL(r.URL), problem))
		}
	}
	if scheme == SchemeHTTP && !r.Insecure {
		errs = append(errs, field.Invalid(rp.Child("url"), redact.URL(r.URL), "plain http:// is allowed only with insecure: true; use https://"))
	}
	if r.Insecure && scheme != SchemeHTTP && scheme != "" {
		errs = append(errs, field.Forbidden(rp.Child("insecure"),
			"only allowed with an http:// URL: it permits plain HTTP and does not disable TLS verification"))
	}
	if scheme == SchemeSSH && r.SecretRef == nil {
		errs = append(errs, field.Required(rp.Child("secretRef"), "an SSH URL needs a Secret with identity and known_hosts"))
	}
	if r.SecretRef != nil {
		errs = append(errs, validateRefName(rp.Child("secretRef", "name"), r.SecretRef.Name)...)
	}
	errs = append(errs, r.Ref.validate(rp.Child("ref"))...)
	if r.Ref.Name == string(plumbing.HEAD) {
		errs = append(errs, field.Invalid(rp.Child("ref", "name"), r.Ref.Name, "name a branch or tag: HEAD is not supported for an include"))
	}
	if _, ok := cleanRelative(inc.FromPath); !ok {
		errs = append(errs, field.Invalid(p.Child("fromPath"), inc.FromPath,
			"must be a path inside the included repository: no leading / and no .. above its root"))
	}
	to := inc.IncludeToPath()
	if c, ok := cleanRelative(to); !ok || c == "." || c == ".git" || strings.HasPrefix(c, ".git/") {
		errs = append(errs, field.Invalid(p.Child("toPath"), to,
			"must be a path inside the checkout: below its root, no leading /, no .. above the root, not in .git"))
	}
	return errs
}
