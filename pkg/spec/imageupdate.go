package spec

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"text/template"

	"github.com/go-git/go-git/v5/config"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gitsync/gitsync/pkg/imagepolicy"
)

// spec.imageUpdate is Flux's image automation in one run (docs/
// image-automation.md): the policies (Flux's ImageRepository and
// ImagePolicy, merged) choose tags, the setter markers under the path are
// rewritten, and the change is committed and pushed before the run
// applies that commit.

// DefaultImageAuthorName and DefaultImageAuthorEmail are not defined: Flux
// requires an author, and so does gitsync.

// ImageUpdateSpec is spec.imageUpdate.
type ImageUpdateSpec struct {
	// Policies choose the tags. At least one is required.
	Policies []ImagePolicySpec `json:"policies"`
	// Path is the directory, relative to the repository root, whose YAML
	// files' markers are updated (Flux's update.path). Default "./": the
	// whole repository.
	Path string `json:"path,omitempty"`
	// Git says how to commit and push (Flux's spec.git).
	Git ImageUpdateGit `json:"git"`
}

// ImagePolicySpec is one policy: Flux's ImagePolicy with its
// ImageRepository inline.
type ImagePolicySpec struct {
	// Name is the POLICY of the markers "NAMESPACE:POLICY".
	Name string `json:"name"`
	// Namespace is the NAMESPACE of the markers. Default: the sync's
	// namespace.
	Namespace string `json:"namespace,omitempty"`
	// ImageRepository is the repository scanned.
	ImageRepository ImageRepositorySpec `json:"imageRepository"`
	// Policy picks the latest tag: semver, alphabetical or numerical.
	Policy imagepolicy.Choice `json:"policy"`
	// FilterTags selects and extracts tags before the policy compares.
	FilterTags *imagepolicy.FilterTags `json:"filterTags,omitempty"`
	// DigestReflectionPolicy is Flux's: Never (default) leaves digests
	// out; IfNotPresent and Always look the chosen tag's manifest digest
	// up at every run (a run keeps no status to remember it by), so that
	// whole-image markers become NAME:TAG@DIGEST and :digest markers can
	// be set.
	DigestReflectionPolicy string `json:"digestReflectionPolicy,omitempty"`
}

// The values of digestReflectionPolicy.
const (
	DigestReflectNever        = "Never"
	DigestReflectIfNotPresent = "IfNotPresent"
	DigestReflectAlways       = "Always"
)

// ReflectsDigest reports whether the policy looks the digest up.
func (p *ImagePolicySpec) ReflectsDigest() bool {
	return p.DigestReflectionPolicy == DigestReflectIfNotPresent || p.DigestReflectionPolicy == DigestReflectAlways
}

// ImageRepositorySpec is Flux's ImageRepository spec, as far as a run
// needs it.
type ImageRepositorySpec struct {
	// Image is the repository, without tag or digest:
	// "ghcr.io/org/app", or "nginx" for Docker Hub.
	Image string `json:"image"`
	// SecretRef names a Secret of type kubernetes.io/dockerconfigjson (or
	// with username and password) in the sync's namespace.
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`
	// Insecure allows plain HTTP.
	Insecure bool `json:"insecure,omitempty"`
	// ExclusionList holds regular expressions of tags never considered.
	// Default: Flux's ["^.*\\.sig$"].
	ExclusionList []string `json:"exclusionList,omitempty"`
	// Timeout bounds the scan. Default DefaultGitTimeout (60s, Flux's).
	Timeout *Duration `json:"timeout,omitempty"`
}

// ImageUpdateGit is Flux's ImageUpdateAutomation spec.git, without
// checkout: the sync's source ref is the branch checked out.
type ImageUpdateGit struct {
	// Commit says who commits and how the message reads.
	Commit ImageCommit `json:"commit"`
	// Push says where to push. Default: the checkout branch.
	Push *ImagePush `json:"push,omitempty"`
}

// ImageCommit is Flux's spec.git.commit.
type ImageCommit struct {
	// Author of the commit. Required.
	Author CommitUser `json:"author"`
	// MessageTemplate is a Go text/template over .Changed.Changes (each
	// with OldValue, NewValue, Setter, File, Line). Default: a message
	// listing every change.
	MessageTemplate string `json:"messageTemplate,omitempty"`
	// SigningKey names a Secret whose git.asc holds an armored OpenPGP
	// private key (and passphrase, its passphrase) that signs the commit.
	SigningKey *SigningKey `json:"signingKey,omitempty"`
}

// CommitUser is a commit's author.
type CommitUser struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// SigningKey is Flux's spec.git.commit.signingKey.
type SigningKey struct {
	SecretRef LocalObjectReference `json:"secretRef"`
}

// ImagePush is Flux's spec.git.push.
type ImagePush struct {
	// Branch is pushed to instead of the checkout branch: a branch for
	// review, which the run does not apply.
	Branch string `json:"branch,omitempty"`
	// Refspec is pushed too, e.g. "refs/heads/main:refs/heads/auto".
	Refspec string `json:"refspec,omitempty"`
}

// PushBranch returns the branch the update is pushed to; "" means the
// checkout branch.
func (u *ImageUpdateSpec) PushBranch() string {
	if u.Git.Push == nil {
		return ""
	}
	return u.Git.Push.Branch
}

// PolicySpec returns p as imagepolicy.Compile takes it.
func (p *ImagePolicySpec) PolicySpec() imagepolicy.Spec {
	return imagepolicy.Spec{Policy: p.Policy, FilterTags: p.FilterTags, ExclusionList: p.ImageRepository.ExclusionList}
}

// ImageUpdateSecrets returns the Secrets spec.imageUpdate reads, in spec
// order.
func (s *SyncSpec) ImageUpdateSecrets() []SecretUse {
	u := s.ImageUpdate
	if u == nil {
		return nil
	}
	var out []SecretUse
	for i, p := range u.Policies {
		if p.ImageRepository.SecretRef != nil {
			out = append(out, SecretUse{Name: p.ImageRepository.SecretRef.Name,
				Field: fmt.Sprintf("spec.imageUpdate.policies[%d].imageRepository.secretRef", i)})
		}
	}
	if k := u.Git.Commit.SigningKey; k != nil {
		out = append(out, SecretUse{Name: k.SecretRef.Name, Field: "spec.imageUpdate.git.commit.signingKey.secretRef"})
	}
	return out
}

func (s *SyncSpec) validateImageUpdate(p *field.Path) field.ErrorList {
	u := s.ImageUpdate
	if u == nil {
		return nil
	}
	p = p.Child("imageUpdate")
	var errs field.ErrorList
	if g := s.Source.Git; g == nil {
		errs = append(errs, field.Invalid(p, "", "needs a Git source (spec.source.git): the update is committed there"))
	} else {
		r := g.Ref
		if r.Tag != "" || r.SemVer != "" || r.Name != "" || r.Commit != "" {
			errs = append(errs, field.Invalid(p, "", "needs spec.source.git.ref to name a branch (or nothing: the default branch); a tag, semver, name or commit cannot be pushed to"))
		}
		if len(g.SparseCheckout) > 0 {
			errs = append(errs, field.Invalid(p, "", "cannot be combined with spec.source.git.sparseCheckout: the update commits from a whole checkout"))
		}
	}
	if _, ok := cleanRelative(u.Path); !ok {
		errs = append(errs, field.Invalid(p.Child("path"), u.Path, "must be a relative path inside the repository"))
	}
	if len(u.Policies) == 0 {
		errs = append(errs, field.Required(p.Child("policies"), "at least one policy"))
	}
	seen := map[string]bool{}
	for i := range u.Policies {
		pp := p.Child("policies").Index(i)
		pol := &u.Policies[i]
		errs = append(errs, dns1123Subdomain(pp.Child("name"), pol.Name)...)
		if pol.Namespace != "" {
			errs = append(errs, dns1123Label(pp.Child("namespace"), pol.Namespace)...)
		}
		key := pol.Namespace + ":" + pol.Name
		if seen[key] {
			errs = append(errs, field.Duplicate(pp.Child("name"), pol.Name))
		}
		seen[key] = true
		ir := pol.ImageRepository
		irp := pp.Child("imageRepository")
		if ir.Image == "" {
			errs = append(errs, field.Required(irp.Child("image"), "a repository such as ghcr.io/org/app"))
		} else if _, err := imagepolicy.ParseImage(ir.Image, ir.Insecure); err != nil {
			errs = append(errs, field.Invalid(irp.Child("image"), ir.Image, err.Error()))
		}
		if ir.SecretRef != nil {
			errs = append(errs, dns1123Subdomain(irp.Child("secretRef", "name"), ir.SecretRef.Name)...)
		}
		errs = append(errs, validateDuration(irp.Child("timeout"), ir.Timeout)...)
		switch pol.DigestReflectionPolicy {
		case "", DigestReflectNever, DigestReflectIfNotPresent, DigestReflectAlways:
		default:
			errs = append(errs, field.NotSupported(pp.Child("digestReflectionPolicy"), pol.DigestReflectionPolicy,
				[]string{DigestReflectNever, DigestReflectIfNotPresent, DigestReflectAlways}))
		}
		if _, err := imagepolicy.Compile(pol.PolicySpec()); err != nil {
			var fe *imagepolicy.FieldError
			if errors.As(err, &fe) {
				fp := pp
				if strings.HasPrefix(fe.Field, "exclusionList") {
					fp = irp
				}
				errs = append(errs, field.Invalid(fieldPath(fp, fe.Field), "", fe.Err.Error()))
			} else {
				errs = append(errs, field.Invalid(pp, "", err.Error()))
			}
		}
	}
	gp := p.Child("git")
	a := u.Git.Commit.Author
	ap := gp.Child("commit", "author")
	if a.Name == "" {
		errs = append(errs, field.Required(ap.Child("name"), "the commit author's name"))
	}
	if a.Email == "" {
		errs = append(errs, field.Required(ap.Child("email"), "the commit author's email"))
	} else if _, err := mail.ParseAddress(a.Email); err != nil {
		errs = append(errs, field.Invalid(ap.Child("email"), a.Email, "not an email address"))
	}
	if t := u.Git.Commit.MessageTemplate; t != "" {
		if _, err := template.New("m").Parse(t); err != nil {
			errs = append(errs, field.Invalid(gp.Child("commit", "messageTemplate"), "", err.Error()))
		}
	}
	if k := u.Git.Commit.SigningKey; k != nil {
		errs = append(errs, dns1123Subdomain(gp.Child("commit", "signingKey", "secretRef", "name"), k.SecretRef.Name)...)
	}
	if push := u.Git.Push; push != nil {
		if push.Branch != "" {
			if b := push.Branch; strings.ContainsAny(b, " ~^:?*[\\") || strings.Contains(b, "..") ||
				strings.HasPrefix(b, "-") || strings.HasPrefix(b, "/") || strings.HasSuffix(b, "/") || strings.HasPrefix(b, "refs/") {
				errs = append(errs, field.Invalid(gp.Child("push", "branch"), b, "must be a branch name such as image-updates (no refs/heads/ prefix)"))
			}
		}
		if push.Refspec != "" {
			if err := config.RefSpec(push.Refspec).Validate(); err != nil || !strings.Contains(push.Refspec, ":") {
				errs = append(errs, field.Invalid(gp.Child("push", "refspec"), push.Refspec, "must be SRC:DST, e.g. refs/heads/main:refs/heads/auto"))
			}
		}
	}
	return errs
}

// fieldPath appends a dotted, possibly indexed path ("a.b[1]") to p.
func fieldPath(p *field.Path, dotted string) *field.Path {
	for _, part := range strings.Split(dotted, ".") {
		name, idx, ok := strings.Cut(part, "[")
		p = p.Child(name)
		if ok {
			var i int
			if _, err := fmt.Sscanf(strings.TrimSuffix(idx, "]"), "%d", &i); err == nil {
				p = p.Index(i)
			}
		}
	}
	return p
}
