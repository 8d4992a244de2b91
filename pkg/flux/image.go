package flux

import (
	"errors"
	"strings"
	"text/template"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/gitsync/gitsync/pkg/imagepolicy"
)

// Flux's image automation kinds (image-reflector-controller and
// image-automation-controller): ImageRepository and ImagePolicy are read
// like sources, an ImageUpdateAutomation is a unit that commits the tags
// the policies of its namespace choose to its GitRepository (see
// docs/image-automation.md).

// ImageGroup is the API group of Flux's image automation kinds.
const ImageGroup = "image.toolkit.fluxcd.io"

// Image automation kinds this package decodes.
const (
	KindImageRepository       = "ImageRepository"
	KindImagePolicy           = "ImagePolicy"
	KindImageUpdateAutomation = "ImageUpdateAutomation"
)

// MinImageScanTimeout is the shortest scan timeout, as Flux's GetTimeout.
const MinImageScanTimeout = time.Second

// ImageRepository is an image.toolkit.fluxcd.io ImageRepository: the
// registry repository whose tags policies choose from.
type ImageRepository struct {
	Meta
	// Image is the repository without tag or digest.
	Image string
	// SecretRef names a Secret with registry credentials; CertSecretRef
	// one with tls.crt, tls.key and ca.crt. "" for none.
	SecretRef, CertSecretRef string
	// Insecure permits plain HTTP.
	Insecure bool
	// ExclusionList holds regular expressions of tags never considered;
	// nil for Flux's default.
	ExclusionList []string
	// Timeout bounds one scan: spec.timeout, else spec.interval, at least
	// MinImageScanTimeout, as Flux.
	Timeout time.Duration
}

// ImagePolicy is an image.toolkit.fluxcd.io ImagePolicy.
type ImagePolicy struct {
	Meta
	// ImageRepositoryRef is the ImageRepository, namespace defaulted.
	ImageRepositoryRef ID
	// Policy picks the latest tag.
	Policy imagepolicy.Choice
	// FilterTags selects and extracts tags; nil for all tags.
	FilterTags *imagepolicy.FilterTags
	// DigestReflectionPolicy is Never (default), IfNotPresent or Always.
	DigestReflectionPolicy string
	// Suspend: the policy is not resolved; markers naming it are left as
	// they are.
	Suspend bool
}

// ImageUpdateAutomation is an image.toolkit.fluxcd.io
// ImageUpdateAutomation: a unit that runs before the units reading its
// GitRepository.
type ImageUpdateAutomation struct {
	Meta
	// Source is the GitRepository, namespace defaulted.
	Source ID
	// CheckoutBranch is spec.git.checkout.ref.branch; "" for the
	// GitRepository's branch.
	CheckoutBranch string
	// AuthorName and AuthorEmail sign the commit.
	AuthorName, AuthorEmail string
	// SigningKeySecret names a Secret with git.asc (and passphrase) in
	// the automation's namespace; "" for unsigned commits.
	SigningKeySecret string
	// MessageTemplate and MessageTemplateValues make the message.
	MessageTemplate       string
	MessageTemplateValues map[string]string
	// PushBranch is spec.git.push.branch ("" for the checkout branch);
	// PushRefspec is pushed too.
	PushBranch, PushRefspec string
	// PolicySelector selects the ImagePolicies of the namespace;
	// labels.Everything() when not set.
	PolicySelector labels.Selector
	// Path is spec.update.path; "" for the repository root.
	Path string
	// Suspend: the automation does not run.
	Suspend bool
}

// Dependencies implements Unit: an automation waits for nothing.
func (a *ImageUpdateAutomation) Dependencies() []ID { return nil }

// SourceRef implements Unit.
func (a *ImageUpdateAutomation) SourceRef() ID { return a.Source }

// Suspended implements Unit.
func (a *ImageUpdateAutomation) Suspended() bool { return a.Suspend }

// Selects reports whether the automation uses policy p: of its namespace
// and matching its policySelector (a policy that could not be decoded,
// whose labels are unknown, counts as selected, so that it fails the
// automation rather than being passed over).
func (a *ImageUpdateAutomation) Selects(p Object) bool {
	m := p.Metadata()
	if m.ID.Kind != KindImagePolicy || m.ID.Namespace != a.ID.Namespace {
		return false
	}
	if _, ok := p.(*ImagePolicy); !ok {
		return true
	}
	return a.PolicySelector.Matches(labels.Set(m.Labels))
}

const (
	noteImageSA      = "the image pull secrets of a ServiceAccount; put the credentials in `secretRef`"
	noteImageSuspend = "`true` is refused: a run keeps no scan result to fall back on; suspend the ImagePolicy or the ImageUpdateAutomation instead"
	noteCheckoutRef  = "the update is committed on a branch: name it in `branch`"
)

var imageVersions = []string{"v1", "v1beta2"}

// imageSchemas are the schemas of the image automation kinds.
func imageSchemas() []*kindSchema {
	return []*kindSchema{
		{group: ImageGroup, kind: KindImageRepository, versions: imageVersions, spec: []field{
			mapF("image", tString, "the repository without tag or digest; `nginx` is Docker Hub's `library/nginx`").req(),
			ignF("interval", tDuration, noteInterval+"; the repository is scanned at every run of an automation using it").req(),
			mapF("timeout", tDuration, "bounds the scan; default `interval`, at least 1s, as Flux"),
			secretRefF("secretRef", "registry credentials: `.dockerconfigjson`, or `username`/`password`"),
			secretRefF("certSecretRef", "`tls.crt`, `tls.key`, `ca.crt`"),
			refF("proxySecretRef", noteProxy, ""),
			refF("serviceAccountName", noteImageSA, ""),
			ignF("suspend", tBool, "false is what gitsync does").refusing(noteImageSuspend,
				refuseTrue("a run keeps no scan result to fall back on: suspend the ImagePolicy or the ImageUpdateAutomation instead")),
			ignF("accessFrom", tAny, "the objects of one sync come from one repository; cross-namespace references "+
				"are refused with `--no-cross-namespace-refs` (see [Order](#order))"),
			mapF("exclusionList", tStrings, "regular expressions of tags never considered; default `^.*\\.sig$`; at most 25"),
			ignF("provider", tString, "`generic` is what gitsync does").
				oneOf("generic", "aws", "azure", "gcp").refusing(noteProvider, refuseUnlessGeneric),
			mapF("insecure", tBool, "plain HTTP to the registry"),
		}},
		{group: ImageGroup, kind: KindImagePolicy, versions: imageVersions, spec: []field{
			mapF("imageRepositoryRef", tObject, "the ImageRepository").req().sub(
				mapF("name", tString, "name").req(),
				mapF("namespace", tString, "namespace; default the ImagePolicy's"),
			),
			mapF("policy", tObject, "exactly one of `semver`, `alphabetical`, `numerical`").req().sub(
				mapF("semver", tObject, "the highest version in a range").sub(mapF("range", tString, "a semver range").req()),
				mapF("alphabetical", tObject, "the last tag in order").sub(
					mapF("order", tString, "`asc` (default) or `desc`").oneOf("asc", "desc")),
				mapF("numerical", tObject, "the last number in order").sub(
					mapF("order", tString, "`asc` (default) or `desc`").oneOf("asc", "desc")),
			),
			mapF("filterTags", tObject, "select tags, and the value the policy compares").sub(
				mapF("pattern", tString, "a Go regular expression tags must match"),
				mapF("extract", tString, "`$name`/`$1` expansion of the match: the value compared"),
			),
			mapF("digestReflectionPolicy", tString, "`Never` (default); `IfNotPresent` and `Always` look the digest up at "+
				"every run").oneOf("Always", "IfNotPresent", "Never"),
			ignF("interval", tDuration, "the digest is looked up at every run"),
			mapF("suspend", tBool, "the policy is not resolved: markers naming it are left as they are"),
		}},
		{group: ImageGroup, kind: KindImageUpdateAutomation, versions: imageVersions, spec: []field{
			mapF("sourceRef", tObject, "the GitRepository updated and pushed to, with its credentials").req().sub(
				ignF("apiVersion", tString, noteRefAPIVersion),
				mapF("kind", tString, "`GitRepository`").req().oneOf(KindGitRepository),
				mapF("name", tString, "name").req(),
				mapF("namespace", tString, "namespace; default the automation's"),
			),
			mapF("git", tObject, "how to check out, commit and push (required in practice, as in Flux)").req().sub(
				mapF("checkout", tObject, "the branch updated; default the GitRepository's").sub(
					mapF("ref", tObject, "the reference").req().sub(
						mapF("branch", tString, "a branch"),
						refF("tag", noteCheckoutRef, ""),
						refF("semver", noteCheckoutRef, ""),
						refF("name", noteCheckoutRef, ""),
						refF("commit", noteCheckoutRef, ""),
					),
				),
				mapF("commit", tObject, "the commit").req().sub(
					mapF("author", tObject, "author and committer").req().sub(
						mapF("name", tString, "name; gitsync requires it"),
						mapF("email", tString, "email").req(),
					),
					mapF("signingKey", tObject, "an OpenPGP key signing the commit").sub(
						secretRefF("secretRef", "`git.asc` (and `passphrase`), in the automation's namespace").req(),
						ignF("type", tString, "`gpg` is what gitsync does").only("v1").oneOf("gpg", "ssh").
							refusing("`ssh` is refused: only OpenPGP signing", refuseExcept("only OpenPGP (gpg) signing is supported", "gpg")),
					),
					mapF("messageTemplate", tString, "a Go template over `.Changed.Changes` and `.Values`"),
					mapF("messageTemplateValues", tStringMap, "`.Values` of the template"),
				),
				mapF("push", tObject, "where to push; default the checkout branch").sub(
					mapF("branch", tString, "push here instead, for review: that commit is not applied by the run"),
					mapF("refspec", tString, "pushed too, `SRC:DST`"),
					refF("options", "Git push options", ""),
				),
			),
			ignF("interval", tDuration, noteInterval+"; the automation runs at every run of the sync").req(),
			mapF("policySelector", tObject, "the ImagePolicies of the namespace used; default all").sub(
				mapF("matchLabels", tStringMap, "labels"),
				mapF("matchExpressions", tObjects, "label expressions").sub(
					mapF("key", tString, "label").req(),
					mapF("operator", tString, "operator").req().oneOf("In", "NotIn", "Exists", "DoesNotExist"),
					mapF("values", tStrings, "values"),
				),
			),
			mapF("update", tObject, "which files").sub(
				mapF("strategy", tString, "`Setters`, the only strategy").oneOf("Setters"),
				mapF("path", tString, "directory whose YAML files' markers are updated; default the repository root"),
			),
			mapF("suspend", tBool, "the automation does not run; units reading the repository apply it as it is"),
		}},
	}
}

func decodeImageRepository(d *decoder, meta Meta, r reader) *ImageRepository {
	ir := &ImageRepository{
		Meta:          meta,
		Image:         r.str("image"),
		SecretRef:     r.obj("secretRef").str("name"),
		CertSecretRef: r.obj("certSecretRef").str("name"),
		Insecure:      r.boolean("insecure"),
		Timeout:       max(r.duration("timeout", r.duration("interval", 0)), MinImageScanTimeout),
	}
	if r.has("exclusionList") {
		ir.ExclusionList = r.strs("exclusionList")
	}
	if _, err := imagepolicy.ParseImage(ir.Image, ir.Insecure); err != nil {
		d.errorf("spec.image", ErrInvalid, "%v", err)
	}
	if _, err := imagepolicy.Compile(imagepolicy.Spec{Policy: imagepolicy.Choice{Alphabetical: &imagepolicy.Ordered{}},
		ExclusionList: ir.ExclusionList}); err != nil {
		d.errorf("spec", ErrInvalid, "%v", err)
	}
	return ir
}

func decodeImagePolicy(d *decoder, meta Meta, r reader) *ImagePolicy {
	ref := r.obj("imageRepositoryRef")
	p := &ImagePolicy{
		Meta:                   meta,
		ImageRepositoryRef:     ID{Kind: KindImageRepository, Namespace: orDefault(ref.str("namespace"), meta.ID.Namespace), Name: ref.str("name")},
		DigestReflectionPolicy: orDefault(r.str("digestReflectionPolicy"), "Never"),
		Suspend:                r.boolean("suspend"),
	}
	pol := r.obj("policy")
	if pol.has("semver") {
		p.Policy.SemVer = &imagepolicy.SemVer{Range: pol.obj("semver").str("range")}
	}
	if pol.has("alphabetical") {
		p.Policy.Alphabetical = &imagepolicy.Ordered{Order: pol.obj("alphabetical").str("order")}
	}
	if pol.has("numerical") {
		p.Policy.Numerical = &imagepolicy.Ordered{Order: pol.obj("numerical").str("order")}
	}
	if r.has("filterTags") {
		ft := r.obj("filterTags")
		p.FilterTags = &imagepolicy.FilterTags{Pattern: ft.str("pattern"), Extract: ft.str("extract")}
	}
	if _, err := imagepolicy.Compile(imagepolicy.Spec{Policy: p.Policy, FilterTags: p.FilterTags}); err != nil {
		var fe *imagepolicy.FieldError
		if errors.As(err, &fe) {
			d.errorf("spec."+fe.Field, ErrInvalid, "%v", fe.Err)
		} else {
			d.errorf("spec.policy", ErrInvalid, "%v", err)
		}
	}
	return p
}

func decodeImageUpdateAutomation(d *decoder, meta Meta, r reader) *ImageUpdateAutomation {
	ns := meta.ID.Namespace
	src := r.obj("sourceRef")
	g := r.obj("git")
	c := g.obj("commit")
	a := &ImageUpdateAutomation{
		Meta:                  meta,
		Source:                ID{Kind: src.str("kind"), Namespace: orDefault(src.str("namespace"), ns), Name: src.str("name")},
		CheckoutBranch:        g.obj("checkout").obj("ref").str("branch"),
		AuthorName:            c.obj("author").str("name"),
		AuthorEmail:           c.obj("author").str("email"),
		SigningKeySecret:      c.obj("signingKey").obj("secretRef").str("name"),
		MessageTemplate:       c.str("messageTemplate"),
		MessageTemplateValues: c.strMap("messageTemplateValues"),
		PushBranch:            g.obj("push").str("branch"),
		PushRefspec:           g.obj("push").str("refspec"),
		Path:                  r.obj("update").str("path"),
		Suspend:               r.boolean("suspend"),
		PolicySelector:        labels.Everything(),
	}
	_ = r.obj("update").str("strategy") // Setters, the only one
	if a.AuthorName == "" {
		d.errorf("spec.git.commit.author.name", ErrUnsupported, "required by gitsync (Flux leaves it optional)")
	}
	if a.MessageTemplate != "" {
		if _, err := template.New("m").Parse(a.MessageTemplate); err != nil {
			d.errorf("spec.git.commit.messageTemplate", ErrInvalid, "%v", err)
		}
	}
	if rs := a.PushRefspec; rs != "" && (strings.HasPrefix(rs, "+") || !strings.Contains(rs, ":") || strings.HasPrefix(rs, ":")) {
		d.errorf("spec.git.push.refspec", ErrInvalid, "must be SRC:DST, such as refs/heads/main:refs/heads/auto (no force, no delete)")
	}
	if r.has("policySelector") {
		if s, ok := d.labelSelector(r.obj("policySelector"), "spec.policySelector"); ok {
			a.PolicySelector = s
		}
	}
	return a
}
