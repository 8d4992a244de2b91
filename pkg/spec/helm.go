package spec

import (
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/google/go-containerregistry/pkg/name"
	yaml3 "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gitsync/gitsync/pkg/redact"
)

// Helm chart sources and the helm section of a Sync: what Flux spreads over
// HelmRepository, HelmChart and HelmRelease. The chart comes either from
// spec.source.helm (an HTTP(S) repository with an index.yaml, or an OCI
// registry) or from a directory of the Git source named by spec.path when
// spec.helm is set; spec.helm says how the chart is rendered.

const (
	// DefaultHelmTimeout bounds one Helm repository operation (index or tag
	// listing, chart download) when spec.source.helm.timeout is not set;
	// it is Flux's default.
	DefaultHelmTimeout = 60 * time.Second
	// DefaultHelmVersion is the version constraint when
	// spec.source.helm.version is not set: the highest stable version, as
	// in Flux.
	DefaultHelmVersion = "*"

	// CRDsCreate creates the CRDs of the chart's crds/ directories that do
	// not exist yet and leaves existing ones unchanged. It is the default.
	CRDsCreate = "Create"
	// CRDsCreateReplace creates missing CRDs and updates existing ones.
	CRDsCreateReplace = "CreateReplace"
	// CRDsSkip leaves the chart's crds/ directories alone.
	CRDsSkip = "Skip"

	// PostRenderCombined post-renders the chart's objects and hooks in
	// one stream; it is the default, as in Helm v4 and Flux.
	PostRenderCombined = "combined"
	// PostRenderSeparate post-renders objects and hooks in two streams.
	PostRenderSeparate = "separate"
	// PostRenderNoHooks post-renders only the objects (Helm 3's way).
	PostRenderNoHooks = "nohooks"

	// DefaultValuesKey is the data key read by a valuesFrom entry without
	// valuesKey, as in Flux.
	DefaultValuesKey = "values.yaml"

	// maxReleaseNameLength is Helm's limit on release names.
	maxReleaseNameLength = 53
)

var (
	// releaseName is Helm's release name rule: a DNS-1123 subdomain
	// (lowercase alphanumerics, '-' and '.').
	releaseName = lazyRegexp(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	// valuesKey and targetPath are the patterns Flux enforces on
	// valuesFrom entries. targetPath admits no '=' or ',', which would
	// otherwise be read as further assignments.
	valuesKey  = lazyRegexp(`^[\-._a-zA-Z0-9]+$`)
	targetPath = lazyRegexp(`^([a-zA-Z0-9_\-.\\/]|\[[0-9]{1,5}\])+$`)
	// chartName admits what chart repositories use in practice; it keeps
	// out what could change the URL or path built from it.
	chartName = lazyRegexp(`^[A-Za-z0-9][A-Za-z0-9_.+-]*$`)
)

// HelmSource is a chart in a Helm repository, as Flux's HelmRepository
// (url, secretRef, passCredentials, insecure, timeout) and HelmChart
// (chart, version) together.
type HelmSource struct {
	// URL is https://... for a repository serving index.yaml (http://
	// with Insecure), or oci://host[:port]/path for an OCI registry.
	URL string `json:"url"`
	// Chart is the chart's name. Required for https:// and http://. For
	// oci:// the chart is URL/Chart; without Chart the URL itself is the
	// chart's repository (as Flux's OCIRepository).
	Chart string `json:"chart,omitempty"`
	// Version is an exact version or a Masterminds/semver/v3 range; the
	// highest version that satisfies it is used. Default
	// DefaultHelmVersion ("*": the highest stable version).
	Version string `json:"version,omitempty"`
	// SecretRef names a Secret in the sync's namespace with credentials:
	// username and password (or bearerToken), tls.crt and tls.key for a
	// client certificate, ca.crt for a private CA, and for OCI
	// .dockerconfigjson.
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`
	// PassCredentials sends the credentials also when a chart is
	// downloaded from another host than the index's. Default false.
	PassCredentials bool `json:"passCredentials,omitempty"`
	// Insecure permits an http:// repository URL, and plain HTTP to an
	// oci:// registry. It does not disable TLS verification.
	Insecure bool `json:"insecure,omitempty"`
	// Timeout bounds one repository operation. Default DefaultHelmTimeout.
	Timeout *Duration `json:"timeout,omitempty"`
}

// HelmSpec says how a chart is rendered, as Flux's HelmRelease. It is set
// for a chart from spec.source.helm (where it may be omitted: every field
// has a default) and marks spec.path of a Git source as a chart directory.
// The release namespace is spec.targetNamespace, else the sync's namespace.
type HelmSpec struct {
	// ReleaseName is the Helm release name (.Release.Name), at most 53
	// characters. Default: the sync's name (see Sync.HelmReleaseName).
	ReleaseName string `json:"releaseName,omitempty"`
	// Values are merged over the chart's values, after ValuesFrom.
	Values map[string]any `json:"values,omitempty"`
	// ValuesFrom reads values from ConfigMaps and Secrets in the sync's
	// namespace, merged in order (later entries win); Values win over all.
	ValuesFrom []ValuesReference `json:"valuesFrom,omitempty"`
	// ValuesFiles are files inside the chart, merged in order, that
	// replace the chart's default values (values.yaml is used only when
	// listed), as Flux's HelmChart valuesFiles.
	ValuesFiles []string `json:"valuesFiles,omitempty"`
	// CRDs is the policy for the chart's crds/ directories: CRDsCreate
	// (default), CRDsCreateReplace or CRDsSkip.
	CRDs string `json:"crds,omitempty"`
	// PostRenderers change the rendered manifests, in order.
	PostRenderers []PostRenderer `json:"postRenderers,omitempty"`
	// PostRenderStrategy says whether hooks are post-rendered:
	// PostRenderCombined (default), PostRenderSeparate or
	// PostRenderNoHooks.
	PostRenderStrategy string `json:"postRenderStrategy,omitempty"`
	// DisableSchemaValidation skips validating the values against the
	// chart's values.schema.json.
	DisableSchemaValidation bool `json:"disableSchemaValidation,omitempty"`
	// Test runs the chart's tests after an install or upgrade, as Flux's
	// HelmRelease spec.test.
	Test *HelmTest `json:"test,omitempty"`
}

// HelmTest says whether and how a chart's tests (its hooks of the test
// event) run after each install or upgrade: not on a run that only
// corrects drift or finds nothing to do, as helm-controller runs them
// after its actions only.
type HelmTest struct {
	// Enable runs the tests.
	Enable bool `json:"enable,omitempty"`
	// Timeout bounds the tests together. Default: spec.timeout.
	Timeout *Duration `json:"timeout,omitempty"`
	// IgnoreFailures records failed tests in the run's message and
	// does not fail the run.
	IgnoreFailures bool `json:"ignoreFailures,omitempty"`
	// Filters choose tests by name (their object's metadata.name): with
	// any entry that does not exclude, only the tests so named run; an
	// entry with exclude skips the test so named.
	Filters HelmTestFilters `json:"filters,omitempty"`
}

// HelmTestFilter names a test to run, or with Exclude one to skip.
type HelmTestFilter struct {
	Name    string `json:"name"`
	Exclude bool   `json:"exclude,omitempty"`
}

// HelmTestTimeout returns how long the chart's tests may take after an
// install or upgrade: spec.helm.test.timeout, else spec.timeout; 0 when
// no test runs.
func (s *SyncSpec) HelmTestTimeout() time.Duration {
	if s.Helm == nil || !s.Helm.Test.Enabled() {
		return 0
	}
	if t := s.Helm.Test.Timeout; t != nil {
		return t.Duration
	}
	if s.Timeout != nil {
		return s.Timeout.Duration
	}
	return DefaultTimeout
}

// Enabled reports whether t runs tests; t may be nil.
func (t *HelmTest) Enabled() bool { return t != nil && t.Enable }

// HelmTestFilters choose a chart's tests by name.
type HelmTestFilters []HelmTestFilter

// Runs reports whether the filters let the test named name run: a name
// an exclude entry names never does; with include entries only the
// names they list do (Helm's --filter name=... and !name=...).
func (fs HelmTestFilters) Runs(name string) bool {
	included, anyInclude := false, false
	for _, f := range fs {
		switch {
		case f.Exclude && f.Name == name:
			return false
		case !f.Exclude:
			anyInclude = true
			included = included || f.Name == name
		}
	}
	return included || !anyInclude
}

// ValuesReference names a ConfigMap or Secret holding Helm values, as
// Flux's HelmRelease valuesFrom.
type ValuesReference struct {
	// Kind is ConfigMap or Secret.
	Kind string `json:"kind"`
	// Name of the ConfigMap or Secret.
	Name string `json:"name"`
	// ValuesKey is the data key to read. Default DefaultValuesKey.
	ValuesKey string `json:"valuesKey,omitempty"`
	// TargetPath, when set, puts the key's whole content at this dotted
	// path (Helm --set syntax, e.g. a.b[0].c) instead of merging it as a
	// YAML mapping.
	TargetPath string `json:"targetPath,omitempty"`
	// Optional tolerates a missing object or key.
	Optional bool `json:"optional,omitempty"`
}

// PostRenderer changes the rendered manifests. Exactly one kind must be
// set.
type PostRenderer struct {
	// Kustomize applies patches and image overrides with kustomize.
	Kustomize *KustomizePostRenderer `json:"kustomize,omitempty"`
}

// KustomizePostRenderer is a kustomize post-renderer, as Flux's.
type KustomizePostRenderer struct {
	// Patches are strategic merge or JSON 6902 patches.
	Patches []Patch `json:"patches,omitempty"`
	// Images replace image names, tags or digests.
	Images []Image `json:"images,omitempty"`
}

// IsHelm reports whether the sync renders a Helm chart: from a Helm
// repository, or from a Git directory when spec.helm is set.
func (s *SyncSpec) IsHelm() bool {
	return s.Source.Helm != nil || s.Helm != nil
}

// HelmReleaseName returns the release name of a Helm sync:
// spec.helm.releaseName, or the sync's name.
func (s *Sync) HelmReleaseName() string {
	if h := s.Spec.Helm; h != nil && h.ReleaseName != "" {
		return h.ReleaseName
	}
	return s.Name
}

// CRDPolicy returns spec.helm.crds with its default applied.
func (h *HelmSpec) CRDPolicy() string {
	if h == nil || h.CRDs == "" {
		return CRDsCreate
	}
	return h.CRDs
}

// setHelmDefaults fills in the defaults of the Helm fields.
func (s *SyncSpec) setHelmDefaults() {
	if hs := s.Source.Helm; hs != nil {
		if hs.Version == "" {
			hs.Version = DefaultHelmVersion
		}
		if hs.Timeout == nil {
			hs.Timeout = NewDuration(DefaultHelmTimeout)
		}
	}
	if h := s.Helm; h != nil {
		if h.CRDs == "" {
			h.CRDs = CRDsCreate
		}
		if h.PostRenderStrategy == "" {
			h.PostRenderStrategy = PostRenderCombined
		}
		for i := range h.ValuesFrom {
			if h.ValuesFrom[i].ValuesKey == "" {
				h.ValuesFrom[i].ValuesKey = DefaultValuesKey
			}
		}
	}
}

// validateHelm checks what is particular to Helm syncs: the helm section,
// and the Kustomization fields that mean nothing to a chart.
func (s *SyncSpec) validateHelm(p *field.Path) field.ErrorList {
	if !s.IsHelm() {
		return nil
	}
	var errs field.ErrorList
	if s.Source.Helm != nil {
		if c, ok := cleanRelative(s.Path); ok && c != "." {
			errs = append(errs, field.Forbidden(p.Child("path"),
				"a chart from spec.source.helm has no path; to render a chart directory of a Git source, use spec.source.git with spec.helm"))
		}
	}
	if s.Helm != nil && s.Source.Helm == nil && s.Source.Git == nil && s.Source.OCI == nil && s.Source.Bucket == nil {
		errs = append(errs, field.Required(p.Child("source"),
			"spec.helm needs a chart: spec.source.helm, or spec.source.git, spec.source.oci or spec.source.bucket with spec.path naming the chart directory"))
	}
	// Fields of a Kustomization that a chart cannot honour: refuse them
	// rather than leave them looking meaningful.
	for _, f := range []struct {
		name, hint string
		set        bool
	}{
		{"namePrefix", "", s.NamePrefix != ""},
		{"nameSuffix", "", s.NameSuffix != ""},
		{"patches", "; use spec.helm.postRenderers[].kustomize.patches", len(s.Patches) > 0},
		{"images", "; use spec.helm.postRenderers[].kustomize.images", len(s.Images) > 0},
		{"components", "", len(s.Components) > 0},
		{"postBuild", "; use spec.helm.values or valuesFrom", s.PostBuild != nil},
	} {
		if f.set {
			errs = append(errs, field.Forbidden(p.Child(f.name), "not used when rendering a Helm chart"+f.hint))
		}
	}
	if s.Helm != nil {
		errs = append(errs, s.Helm.validate(p.Child("helm"))...)
	}
	return errs
}

func (h *HelmSource) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	scheme := ""
	up := p.Child("url")
	// The URL is echoed only redacted: it may hold a token.
	shown := redact.URL(h.URL)
	switch {
	case h.URL == "":
		errs = append(errs, field.Required(up, "https://... (a repository with index.yaml) or oci://... (an OCI registry)"))
	case strings.HasPrefix(h.URL, "https://"):
		scheme = "https"
	case strings.HasPrefix(h.URL, "http://"):
		scheme = "http"
		if !h.Insecure {
			errs = append(errs, field.Invalid(up, shown, "plain http:// is allowed only with insecure: true; use https://"))
		}
	case strings.HasPrefix(h.URL, "oci://"):
		scheme = "oci"
	default:
		errs = append(errs, field.Invalid(up, shown, "must start with https:// (a repository with index.yaml) or oci:// (an OCI registry)"))
	}
	switch scheme {
	case "https", "http":
		if problem := httpURLProblem(h.URL); problem != "" {
			errs = append(errs, field.Invalid(up, shown, problem))
		}
		if h.Chart == "" {
			errs = append(errs, field.Required(p.Child("chart"), "the chart's name in the repository"))
		}
	case "oci":
		repo := strings.TrimSuffix(strings.TrimPrefix(h.URL, "oci://"), "/")
		if h.Chart != "" {
			repo += "/" + h.Chart
		}
		if _, err := name.NewRepository(repo, name.StrictValidation); err != nil || !strings.Contains(repo, "/") {
			errs = append(errs, field.Invalid(up, shown,
				"must be oci://host[:port]/path, a registry repository without tag or digest (the chart is url/chart)"))
		}
	}
	if h.Chart != "" && !chartName().MatchString(h.Chart) {
		errs = append(errs, field.Invalid(p.Child("chart"), h.Chart,
			"a chart name: letters, digits, '-', '_', '.' and '+', starting with a letter or digit"))
	}
	if h.Version != "" {
		if _, err := semver.NewConstraint(h.Version); err != nil {
			errs = append(errs, field.Invalid(p.Child("version"), h.Version, "not a version or semver range"))
		}
	}
	if h.Insecure && scheme != "http" && scheme != "oci" && scheme != "" {
		errs = append(errs, field.Forbidden(p.Child("insecure"),
			"only allowed with an http:// or oci:// URL: it permits plain HTTP and does not disable TLS verification"))
	}
	if h.SecretRef != nil {
		errs = append(errs, validateRefName(p.Child("secretRef", "name"), h.SecretRef.Name)...)
	}
	errs = append(errs, validateDuration(p.Child("timeout"), h.Timeout)...)
	return errs
}

// httpURLProblem returns what is wrong with an http(s) repository URL, or
// "". Credentials in the URL are refused: the spec is readable by anyone
// who can read the namespace's ConfigMaps.
func httpURLProblem(raw string) string {
	rest := raw[strings.Index(raw, "://")+3:]
	host, _, _ := strings.Cut(rest, "/")
	switch {
	case host == "":
		return "has no host"
	case strings.Contains(host, "@"):
		return "may not hold credentials; put them in the Secret named by secretRef"
	case strings.ContainsAny(raw, "?#"):
		return "may not have a query or fragment"
	}
	return ""
}

func (h *HelmSpec) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if h.ReleaseName != "" {
		rp := p.Child("releaseName")
		switch {
		case len(h.ReleaseName) > maxReleaseNameLength:
			errs = append(errs, field.TooLong(rp, h.ReleaseName, maxReleaseNameLength))
		case !releaseName().MatchString(h.ReleaseName):
			errs = append(errs, field.Invalid(rp, h.ReleaseName,
				"a Helm release name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"))
		}
	}
	seen := map[ValuesReference]bool{}
	for i, ref := range h.ValuesFrom {
		rp := p.Child("valuesFrom").Index(i)
		errs = append(errs, validateDataRef(rp, ref.Kind, ref.Name)...)
		if ref.ValuesKey != "" && (len(ref.ValuesKey) > 253 || !valuesKey().MatchString(ref.ValuesKey)) {
			errs = append(errs, field.Invalid(rp.Child("valuesKey"), ref.ValuesKey,
				"a data key: letters, digits, '-', '_' and '.', at most 253 characters"))
		}
		if ref.TargetPath != "" && (len(ref.TargetPath) > 250 || !targetPath().MatchString(ref.TargetPath)) {
			errs = append(errs, field.Invalid(rp.Child("targetPath"), ref.TargetPath,
				"a dotted path such as a.b[0].c: letters, digits, '_', '-', '.', '/', '\\' and [index], at most 250 characters"))
		}
		key := ref
		key.Optional = false
		if key.ValuesKey == "" {
			key.ValuesKey = DefaultValuesKey
		}
		if seen[key] && ref.Name != "" {
			errs = append(errs, field.Duplicate(rp, ref.Kind+"/"+ref.Name+" "+key.ValuesKey))
		}
		seen[key] = true
	}
	for i, f := range h.ValuesFiles {
		fp := p.Child("valuesFiles").Index(i)
		if c, ok := cleanRelative(f); f == "" || !ok || c == "." {
			errs = append(errs, field.Invalid(fp, f, "must be a file path relative to the chart directory that stays inside it"))
		}
	}
	if t := h.Test; t != nil {
		tp := p.Child("test")
		errs = append(errs, validateDuration(tp.Child("timeout"), t.Timeout)...)
		for i, f := range t.Filters {
			if f.Name == "" || len(f.Name) > 253 {
				errs = append(errs, field.Invalid(tp.Child("filters").Index(i).Child("name"), f.Name, "a test's name: 1 to 253 characters"))
			}
		}
	}
	switch h.CRDs {
	case "", CRDsCreate, CRDsCreateReplace, CRDsSkip:
	default:
		errs = append(errs, field.NotSupported(p.Child("crds"), h.CRDs, []string{CRDsCreate, CRDsCreateReplace, CRDsSkip}))
	}
	switch h.PostRenderStrategy {
	case "", PostRenderCombined, PostRenderSeparate, PostRenderNoHooks:
	default:
		errs = append(errs, field.NotSupported(p.Child("postRenderStrategy"), h.PostRenderStrategy,
			[]string{PostRenderCombined, PostRenderSeparate, PostRenderNoHooks}))
	}
	for i, pr := range h.PostRenderers {
		pp := p.Child("postRenderers").Index(i)
		if pr.Kustomize == nil {
			errs = append(errs, field.Required(pp.Child("kustomize"), "the only kind of post-renderer"))
			continue
		}
		kp := pp.Child("kustomize")
		if len(pr.Kustomize.Patches) == 0 && len(pr.Kustomize.Images) == 0 {
			errs = append(errs, field.Required(kp, "set patches or images"))
		}
		for j := range pr.Kustomize.Patches {
			errs = append(errs, pr.Kustomize.Patches[j].validate(kp.Child("patches").Index(j))...)
		}
		errs = append(errs, validateImages(kp.Child("images"), pr.Kustomize.Images)...)
	}
	return errs
}

// keepScalarsAsTextOutsideValues does what keepScalarsAsText does, except
// for the values of spec.helm.values: Helm values are typed (replicas: 3 is
// a number, as in Helm and Flux), while every other Sync field is a string
// that must keep the text written. Mapping keys inside values stay strings,
// as JSON needs them; dates inside values stay strings, as Helm reads them.
func keepScalarsAsTextOutsideValues(doc *yaml3.Node) {
	var typed []*yaml3.Node
	if values := helmValuesNode(doc); values != nil {
		collectNumbers(values, &typed)
	}
	tags := make([]string, len(typed))
	for i, n := range typed {
		tags[i] = n.Tag
	}
	keepScalarsAsText(doc)
	for i, n := range typed {
		n.Tag = tags[i]
	}
}

// helmValuesNode returns the node of spec.helm.values in doc, or nil.
func helmValuesNode(doc *yaml3.Node) *yaml3.Node {
	n := doc
	if n.Kind == yaml3.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	for _, key := range []string{"spec", "helm", "values"} {
		if n.Kind != yaml3.MappingNode {
			return nil
		}
		var next *yaml3.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	return n
}

// collectNumbers appends the scalars below n, mapping keys excluded, that
// YAML reads as integers or floats.
func collectNumbers(n *yaml3.Node, out *[]*yaml3.Node) {
	switch n.Kind {
	case yaml3.ScalarNode:
		switch n.ShortTag() {
		case "!!int", "!!float":
			*out = append(*out, n)
		}
	case yaml3.MappingNode:
		for i, c := range n.Content {
			if i%2 == 1 {
				collectNumbers(c, out)
			}
		}
	case yaml3.SequenceNode:
		for _, c := range n.Content {
			collectNumbers(c, out)
		}
	}
}
