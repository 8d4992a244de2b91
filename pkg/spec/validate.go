package spec

import (
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/robfig/cron/v3"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gitsync/gitsync/pkg/redact"
)

// maxAffixLength bounds namePrefix and nameSuffix, as Flux does.
const maxAffixLength = 200

var (
	// commitSHA is a full SHA-1 object name. Abbreviations are refused:
	// they can become ambiguous as the repository grows.
	commitSHA = lazyRegexp(`^[0-9a-f]{40}$`)
	// varName is a substitution variable name, as Flux accepts them.
	varName = lazyRegexp(`^[_[:alpha:]][_[:alpha:][:digit:]]*$`)
	// namePrefix and nameSuffix allow only what can start or end a DNS-1123
	// subdomain name, so that prefixed names stay valid object names.
	namePrefix = lazyRegexp(`^[a-z0-9][-a-z0-9.]*$`)
	nameSuffix = lazyRegexp(`^[-a-z0-9.]*[a-z0-9]$`)
	// imageTag is the OCI distribution grammar of a tag.
	imageTag = lazyRegexp(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	// imageDigest is a sha256 or sha512 digest.
	imageDigest = lazyRegexp(`^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$`)
)

func validateTypeMeta(tm metav1.TypeMeta) field.ErrorList {
	var errs field.ErrorList
	switch tm.APIVersion {
	case APIVersion:
	case "":
		errs = append(errs, field.Required(field.NewPath("apiVersion"), "must be "+APIVersion))
	default:
		errs = append(errs, field.NotSupported(field.NewPath("apiVersion"), tm.APIVersion, []string{APIVersion}))
	}
	switch tm.Kind {
	case Kind:
	case "":
		errs = append(errs, field.Required(field.NewPath("kind"), "must be "+Kind))
	default:
		errs = append(errs, field.NotSupported(field.NewPath("kind"), tm.Kind, []string{Kind}))
	}
	return errs
}

func validateObjectMeta(m *metav1.ObjectMeta, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case m.Name == "":
		errs = append(errs, field.Required(p.Child("name"), "the sync's name"))
	case len(m.Name) > MaxNameLength:
		errs = append(errs, field.Invalid(p.Child("name"), m.Name,
			fmt.Sprintf("must be no more than %d characters: the CronJob %s%s may have at most 52", MaxNameLength, ConfigMapPrefix, m.Name)))
	default:
		errs = append(errs, dns1123Label(p.Child("name"), m.Name)...)
	}
	if m.Namespace != "" {
		errs = append(errs, dns1123Label(p.Child("namespace"), m.Namespace)...)
	}
	// Nothing would honour labels, annotations, uid and the rest: refuse
	// them rather than let them look meaningful.
	rest := *m
	rest.Name, rest.Namespace = "", ""
	b, err := json.Marshal(rest)
	if err != nil {
		return append(errs, field.InternalError(p, err))
	}
	var set map[string]json.RawMessage
	if err := json.Unmarshal(b, &set); err != nil {
		return append(errs, field.InternalError(p, err))
	}
	for _, k := range sortedKeys(set) {
		errs = append(errs, field.Forbidden(p.Child(k), "only name and namespace may be set"))
	}
	return errs
}

func (s *SyncSpec) validate(p *field.Path) field.ErrorList {
	errs := s.Source.validate(p.Child("source"))

	specPath, pathOK := cleanRelative(s.Path)
	if !pathOK {
		errs = append(errs, field.Invalid(p.Child("path"), s.Path,
			"must be a relative path inside the source: no leading / and no .. above the root"))
	}
	if s.Schedule != "" {
		errs = append(errs, validateSchedule(p.Child("schedule"), s.Schedule)...)
	}
	if s.TargetNamespace != "" {
		errs = append(errs, dns1123Label(p.Child("targetNamespace"), s.TargetNamespace)...)
	}
	errs = append(errs, validateAffix(p.Child("namePrefix"), s.NamePrefix, namePrefix(),
		"may contain only lowercase letters, digits, '-' and '.', and must start with a letter or digit")...)
	errs = append(errs, validateAffix(p.Child("nameSuffix"), s.NameSuffix, nameSuffix(),
		"may contain only lowercase letters, digits, '-' and '.', and must end with a letter or digit")...)
	if cm := s.CommonMetadata; cm != nil {
		errs = append(errs, metav1validation.ValidateLabels(cm.Labels, p.Child("commonMetadata", "labels"))...)
		errs = append(errs, apivalidation.ValidateAnnotations(cm.Annotations, p.Child("commonMetadata", "annotations"))...)
	}
	for i := range s.Patches {
		errs = append(errs, s.Patches[i].validate(p.Child("patches").Index(i))...)
	}
	errs = append(errs, validateImages(p.Child("images"), s.Images)...)
	for i, c := range s.Components {
		cp := p.Child("components").Index(i)
		switch {
		case c == "":
			errs = append(errs, field.Required(cp, "a path relative to spec.path"))
		case pathOK:
			if _, ok := cleanRelative(path.Join(specPath, c)); !ok || strings.HasPrefix(c, "/") {
				errs = append(errs, field.Invalid(cp, c,
					"must be a path relative to spec.path that stays inside the source"))
			}
		}
	}
	if pb := s.PostBuild; pb != nil {
		errs = append(errs, pb.validate(p.Child("postBuild"))...)
	}
	errs = append(errs, s.Decryption.validate(p.Child("decryption"))...)
	errs = append(errs, validateDuration(p.Child("timeout"), s.Timeout)...)
	errs = append(errs, validateDuration(p.Child("runTimeout"), s.RunTimeout)...)
	for i, hc := range s.HealthChecks {
		errs = append(errs, hc.validate(p.Child("healthChecks").Index(i))...)
	}
	errs = append(errs, validateHealthCheckExprs(p.Child("healthCheckExprs"), s.HealthCheckExprs)...)
	if s.ServiceAccountName != "" {
		errs = append(errs, dns1123Subdomain(p.Child("serviceAccountName"), s.ServiceAccountName)...)
	}
	errs = append(errs, s.KubeConfig.validate(p.Child("kubeConfig"))...)
	errs = append(errs, s.validateHelm(p)...)
	errs = append(errs, s.validateOCI(p)...)
	errs = append(errs, s.Flux.validate(p.Child("flux"))...)
	errs = append(errs, validateNotify(p.Child("notify"), s.Notify)...)
	errs = append(errs, s.Metrics.validate(p.Child("metrics"))...)
	errs = append(errs, s.validateImageUpdate(p)...)
	return errs
}

func (s *Source) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch set := s.members(); len(set) {
	case 0:
		errs = append(errs, field.Required(p, "set exactly one source kind: "+strings.Join(sourceKindNames, " or ")))
	case 1:
	default:
		names := make([]string, len(set))
		for i, m := range set {
			names[i] = m.name
		}
		errs = append(errs, field.Forbidden(p, "set exactly one source kind, not "+strings.Join(names, " and ")))
	}
	if s.Git != nil {
		errs = append(errs, s.Git.validate(p.Child("git"))...)
	}
	if s.Helm != nil {
		errs = append(errs, s.Helm.validate(p.Child("helm"))...)
	}
	if s.OCI != nil {
		errs = append(errs, s.OCI.validate(p.Child("oci"))...)
	}
	if s.Bucket != nil {
		errs = append(errs, s.Bucket.validate(p.Child("bucket"))...)
	}
	return errs
}

func (g *GitSource) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	scheme := ""
	if g.URL == "" {
		errs = append(errs, field.Required(p.Child("url"), "the repository URL"))
	} else {
		var problem string
		scheme, problem = gitURLScheme(g.URL)
		if problem != "" {
			errs = append(errs, field.Invalid(p.Child("url"), redact.URL(g.URL), problem))
		}
	}
	if scheme == SchemeHTTP && !g.Insecure {
		errs = append(errs, field.Invalid(p.Child("url"), redact.URL(g.URL),
			"plain http:// is allowed only with insecure: true; use https://"))
	}
	if g.Insecure && scheme != SchemeHTTP && scheme != "" {
		errs = append(errs, field.Forbidden(p.Child("insecure"),
			"only allowed with an http:// URL: it permits plain HTTP and does not disable TLS verification"))
	}
	if scheme == SchemeSSH && g.SecretRef == nil {
		errs = append(errs, field.Required(p.Child("secretRef"),
			"an SSH URL needs a Secret with identity and known_hosts"))
	}
	if g.SecretRef != nil {
		errs = append(errs, validateRefName(p.Child("secretRef", "name"), g.SecretRef.Name)...)
	}
	switch g.Provider {
	case "", GitProviderGeneric:
	case GitProviderGitHub:
		if g.SecretRef == nil {
			errs = append(errs, field.Required(p.Child("secretRef"),
				"provider github needs a Secret with githubAppID, githubAppInstallationID (or githubAppInstallationOwner) and githubAppPrivateKey"))
		}
		if scheme != "" && scheme != SchemeHTTPS {
			errs = append(errs, field.Invalid(p.Child("provider"), g.Provider, "a GitHub App authenticates over HTTPS only: use an https:// URL"))
		}
	default:
		errs = append(errs, field.NotSupported(p.Child("provider"), g.Provider, []string{GitProviderGeneric, GitProviderGitHub}))
	}
	errs = append(errs, g.Ref.validate(p.Child("ref"))...)
	errs = append(errs, validateDuration(p.Child("timeout"), g.Timeout)...)
	errs = append(errs, g.validateExtras(p)...)
	return errs
}

func (r GitRef) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	var set []string
	for _, f := range []struct{ name, value string }{
		{"branch", r.Branch}, {"tag", r.Tag}, {"semver", r.SemVer}, {"name", r.Name}, {"commit", r.Commit},
	} {
		if f.value != "" {
			set = append(set, f.name)
		}
	}
	commitOnBranch := len(set) == 2 && r.Branch != "" && r.Commit != ""
	if len(set) > 1 && !commitOnBranch {
		errs = append(errs, field.Invalid(p, r,
			"set one of branch, tag, semver, name or commit (commit may be combined with branch), not "+strings.Join(set, " and ")))
	}
	if r.Branch != "" && plumbing.NewBranchReferenceName(r.Branch).Validate() != nil {
		errs = append(errs, field.Invalid(p.Child("branch"), r.Branch, "not a valid Git branch name"))
	}
	if r.Tag != "" && plumbing.NewTagReferenceName(r.Tag).Validate() != nil {
		errs = append(errs, field.Invalid(p.Child("tag"), r.Tag, "not a valid Git tag name"))
	}
	if r.SemVer != "" {
		if _, err := semver.NewConstraint(r.SemVer); err != nil {
			errs = append(errs, field.Invalid(p.Child("semver"), r.SemVer, "not a semver range"))
		}
	}
	if r.Name != "" {
		n := plumbing.ReferenceName(r.Name)
		if !(n == plumbing.HEAD || strings.HasPrefix(r.Name, "refs/") && n.Validate() == nil) {
			errs = append(errs, field.Invalid(p.Child("name"), r.Name,
				"must be HEAD or a valid full Git reference such as refs/heads/main or refs/pull/1/head"))
		}
	}
	if r.Commit != "" && !commitSHA().MatchString(r.Commit) {
		errs = append(errs, field.Invalid(p.Child("commit"), r.Commit, "must be a full 40-character lowercase hex SHA-1"))
	}
	return errs
}

func validateSchedule(p *field.Path, s string) field.ErrorList {
	// Kubernetes refuses time zones inside a CronJob schedule.
	if strings.Contains(s, "TZ") {
		return field.ErrorList{field.Invalid(p, s, "may not set a time zone (TZ= or CRON_TZ=)")}
	}
	// ParseStandard is what Kubernetes validates CronJob schedules with.
	if _, err := cron.ParseStandard(s); err != nil {
		return field.ErrorList{field.Invalid(p, s, "not a cron schedule: "+err.Error())}
	}
	return nil
}

func validateAffix(p *field.Path, v string, re *regexp.Regexp, rule string) field.ErrorList {
	switch {
	case v == "":
		return nil
	case len(v) > maxAffixLength:
		return field.ErrorList{field.TooLong(p, v, maxAffixLength)}
	case !re.MatchString(v):
		return field.ErrorList{field.Invalid(p, v, rule)}
	}
	return nil
}

func (pt *Patch) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if t := pt.Target; t != nil {
		tp := p.Child("target")
		if t.LabelSelector != "" {
			if _, err := labels.Parse(t.LabelSelector); err != nil {
				errs = append(errs, field.Invalid(tp.Child("labelSelector"), t.LabelSelector, err.Error()))
			}
		}
		if t.AnnotationSelector != "" {
			if _, err := labels.Parse(t.AnnotationSelector); err != nil {
				errs = append(errs, field.Invalid(tp.Child("annotationSelector"), t.AnnotationSelector, err.Error()))
			}
		}
	}
	pp := p.Child("patch")
	if strings.TrimSpace(pt.Patch) == "" {
		return append(errs, field.Required(pp, "a strategic merge patch or a JSON 6902 patch"))
	}
	doc, err := parsePatch(pt.Patch)
	if err != nil {
		return append(errs, field.Invalid(pp, field.OmitValueType{}, "not valid YAML: "+err.Error()))
	}
	switch d := doc.(type) {
	case map[string]any:
		if pt.Target == nil && !namesObject(d) {
			errs = append(errs, field.Required(p.Child("target"),
				"a strategic merge patch without kind and metadata.name needs a target"))
		}
	case []any:
		if pt.Target == nil {
			errs = append(errs, field.Required(p.Child("target"), "a JSON 6902 patch needs a target"))
		}
		if len(d) == 0 {
			errs = append(errs, field.Invalid(pp, field.OmitValueType{}, "a JSON 6902 patch needs at least one operation"))
		}
		for i, op := range d {
			if problem := json6902Problem(op); problem != "" {
				errs = append(errs, field.Invalid(pp, field.OmitValueType{}, "operation "+strconv.Itoa(i)+": "+problem))
			}
		}
	default:
		errs = append(errs, field.Invalid(pp, field.OmitValueType{},
			"must be a strategic merge patch (a YAML mapping) or a JSON 6902 patch (a YAML list of operations)"))
	}
	return errs
}

// namesObject reports whether a strategic merge patch names its target by
// kind and metadata.name.
func namesObject(patch map[string]any) bool {
	kind, _ := patch["kind"].(string)
	meta, _ := patch["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	return kind != "" && name != ""
}

// json6902Problem returns what is wrong with one JSON 6902 operation, or "".
func json6902Problem(v any) string {
	op, ok := v.(map[string]any)
	if !ok {
		return "must be a mapping with op and path"
	}
	name, _ := op["op"].(string)
	p, pathOK := op["path"].(string)
	switch {
	case name == "":
		return "op is required"
	case !pathOK:
		return "path is required"
	case p != "" && !strings.HasPrefix(p, "/"):
		return fmt.Sprintf("path %q must be a JSON pointer starting with /", p)
	}
	_, hasValue := op["value"]
	from, _ := op["from"].(string)
	switch name {
	case "add", "replace", "test":
		if !hasValue {
			return name + " needs a value"
		}
	case "move", "copy":
		if from == "" {
			return name + " needs from"
		}
	case "remove":
	default:
		return fmt.Sprintf("op %q is not one of add, remove, replace, move, copy, test", name)
	}
	return ""
}

func validateImages(p *field.Path, images []Image) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, img := range images {
		ip := p.Index(i)
		switch {
		case img.Name == "":
			errs = append(errs, field.Required(ip.Child("name"), "the image name to replace, without tag or digest"))
		case seen[img.Name]:
			errs = append(errs, field.Duplicate(ip.Child("name"), img.Name))
		default:
			if _, err := name.NewRepository(img.Name); err != nil {
				errs = append(errs, field.Invalid(ip.Child("name"), img.Name, "not an image name without tag or digest"))
			}
		}
		seen[img.Name] = true
		if img.NewName == "" && img.NewTag == "" && img.Digest == "" {
			errs = append(errs, field.Required(ip, "set newName, newTag or digest"))
		}
		if img.NewName != "" {
			if _, err := name.NewRepository(img.NewName); err != nil {
				errs = append(errs, field.Invalid(ip.Child("newName"), img.NewName, "not an image name without tag or digest"))
			}
		}
		if img.NewTag != "" && !imageTag().MatchString(img.NewTag) {
			errs = append(errs, field.Invalid(ip.Child("newTag"), img.NewTag, "not a valid image tag"))
		}
		if img.Digest != "" && !imageDigest().MatchString(img.Digest) {
			errs = append(errs, field.Invalid(ip.Child("digest"), img.Digest, "must be sha256:<64 hex digits> or sha512:<128 hex digits>"))
		}
	}
	return errs
}

// validateDataRef checks a reference to a ConfigMap or Secret of the
// sync's namespace (substituteFrom, valuesFrom).
func validateDataRef(p *field.Path, kind, name string) field.ErrorList {
	var errs field.ErrorList
	switch kind {
	case "ConfigMap", "Secret":
	case "":
		errs = append(errs, field.Required(p.Child("kind"), "ConfigMap or Secret"))
	default:
		errs = append(errs, field.NotSupported(p.Child("kind"), kind, []string{"ConfigMap", "Secret"}))
	}
	return append(errs, validateRefName(p.Child("name"), name)...)
}

func (pb *PostBuild) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, k := range sortedKeys(pb.Substitute) {
		if !varName().MatchString(k) {
			errs = append(errs, field.Invalid(p.Child("substitute").Key(k), k,
				"must be a variable name: a letter or _, then letters, digits or _"))
		}
	}
	seen := map[SubstituteReference]bool{}
	for i, ref := range pb.SubstituteFrom {
		rp := p.Child("substituteFrom").Index(i)
		errs = append(errs, validateDataRef(rp, ref.Kind, ref.Name)...)
		key := SubstituteReference{Kind: ref.Kind, Name: ref.Name}
		if seen[key] && ref.Name != "" {
			errs = append(errs, field.Duplicate(rp, ref.Kind+"/"+ref.Name))
		}
		seen[key] = true
	}
	return errs
}

func (hc HealthCheck) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if hc.APIVersion != "" {
		if _, err := schema.ParseGroupVersion(hc.APIVersion); err != nil {
			errs = append(errs, field.Invalid(p.Child("apiVersion"), hc.APIVersion, "must be version or group/version"))
		}
	}
	if hc.Kind == "" {
		errs = append(errs, field.Required(p.Child("kind"), "the kind of the object to check"))
	}
	if hc.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), "the name of the object to check"))
	}
	if hc.Namespace != "" {
		errs = append(errs, dns1123Label(p.Child("namespace"), hc.Namespace)...)
	}
	return errs
}

// MaxDuration bounds every duration of the spec. A run is a short batch
// job: a day is already far beyond any sensible timeout, and the bound keeps
// the sums built from these durations (the Job's activeDeadlineSeconds is
// spec.timeout plus two Git timeouts plus a margin) far from overflowing.
const MaxDuration = 24 * time.Hour

func validateDuration(p *field.Path, d *Duration) field.ErrorList {
	switch {
	case d == nil:
		return nil
	case d.invalid != "":
		var bad any = d.invalid
		var s string
		if json.Unmarshal([]byte(d.invalid), &s) == nil {
			bad = s
		}
		return field.ErrorList{field.Invalid(p, bad, `must be a duration such as "90s" or "1m30s"`)}
	case d.Duration <= 0:
		return field.ErrorList{field.Invalid(p, d.Duration.String(), "must be greater than 0")}
	case d.Duration > MaxDuration:
		return field.ErrorList{field.Invalid(p, d.Duration.String(), "must be at most "+MaxDuration.String())}
	}
	return nil
}

// validateRefName checks the name of a referenced ConfigMap or Secret.
func validateRefName(p *field.Path, v string) field.ErrorList {
	if v == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	return dns1123Subdomain(p, v)
}

func dns1123Label(p *field.Path, v string) field.ErrorList {
	if msgs := validation.IsDNS1123Label(v); len(msgs) > 0 {
		return field.ErrorList{field.Invalid(p, v, strings.Join(msgs, "; "))}
	}
	return nil
}

func dns1123Subdomain(p *field.Path, v string) field.ErrorList {
	if msgs := validation.IsDNS1123Subdomain(v); len(msgs) > 0 {
		return field.ErrorList{field.Invalid(p, v, strings.Join(msgs, "; "))}
	}
	return nil
}
