package flux

import (
	"time"

	"github.com/gitsync/gitsync/pkg/apply"
	"github.com/gitsync/gitsync/pkg/spec"
)

// API groups of the Flux kinds this package decodes.
const (
	SourceGroup    = "source.toolkit.fluxcd.io"
	KustomizeGroup = "kustomize.toolkit.fluxcd.io"
	HelmGroup      = "helm.toolkit.fluxcd.io"
)

// Kinds this package decodes.
const (
	KindGitRepository  = "GitRepository"
	KindOCIRepository  = "OCIRepository"
	KindHelmRepository = "HelmRepository"
	KindHelmChart      = "HelmChart"
	KindBucket         = "Bucket"
	KindKustomization  = "Kustomization"
	KindHelmRelease    = "HelmRelease"
)

// Defaults Flux applies, and so does Decode.
const (
	// DefaultBranch is checked out when a GitRepository's ref names
	// nothing else.
	DefaultBranch = "master"
	// DefaultOCITag is pulled when an OCIRepository's ref names nothing.
	DefaultOCITag = "latest"
	// DefaultSourceTimeout bounds one operation of a source (clone, pull,
	// index download, bucket listing) when its timeout is not set.
	DefaultSourceTimeout = 60 * time.Second
	// DefaultHelmTimeout is a HelmRelease's timeout when not set.
	DefaultHelmTimeout = 5 * time.Minute
	// MinKustomizationTimeout is the shortest timeout of a Kustomization:
	// kustomize-controller raises shorter ones to it.
	MinKustomizationTimeout = 30 * time.Second
	// DefaultChartVersion is the chart version range when not set: the
	// highest stable version.
	DefaultChartVersion = "*"
	// MaxReleaseNameLength is Helm's limit on release names;
	// helm-controller shortens longer defaults (see ReleaseName).
	MaxReleaseNameLength = 53
)

// Values of enumerated fields that callers branch on.
const (
	// ReconcileStrategyChartVersion makes a new chart artifact only when
	// the chart's version changes (the default).
	ReconcileStrategyChartVersion = "ChartVersion"
	// ReconcileStrategyRevision makes one for every source revision.
	ReconcileStrategyRevision = "Revision"

	// DeletionPolicyMirrorPrune deletes a removed Kustomization's objects
	// when its prune is true (the default).
	DeletionPolicyMirrorPrune = "MirrorPrune"
	// DeletionPolicyDelete deletes them whatever prune says.
	DeletionPolicyDelete = "Delete"
	// DeletionPolicyWaitForTermination deletes them and waits until they
	// are gone.
	DeletionPolicyWaitForTermination = "WaitForTermination"
	// DeletionPolicyOrphan leaves them in the cluster.
	DeletionPolicyOrphan = "Orphan"

	// DriftEnabled corrects the drift of a HelmRelease's objects on runs
	// where nothing of it changed (gitsync's default for every unit).
	DriftEnabled = "enabled"
	// DriftWarn reports the drift and leaves it.
	DriftWarn = "warn"
	// DriftDisabled does not look for drift (helm-controller's default).
	DriftDisabled = "disabled"

	// SubstituteWithVariables substitutes only when at least one variable
	// is defined (the default).
	SubstituteWithVariables = "WithVariables"
	// SubstituteAlways substitutes even without variables, so that
	// defaults such as ${var:=x} apply.
	SubstituteAlways = "Always"

	// HelmRepositoryDefault is an HTTP(S) Helm repository with an index.
	HelmRepositoryDefault = "default"
	// HelmRepositoryOCI is an OCI registry holding charts.
	HelmRepositoryOCI = "oci"

	// OCILayerExtract extracts the selected layer (the default).
	OCILayerExtract = "extract"
	// OCILayerCopy keeps the selected layer as it is.
	OCILayerCopy = "copy"
)

// ID names a Flux object: its kind, namespace and name. Kinds are unique
// across Flux's API groups, so the group is not part of it.
type ID struct {
	Kind      string
	Namespace string
	Name      string
}

// String returns Kind/namespace/name, the form every message uses.
func (id ID) String() string { return id.Kind + "/" + id.Namespace + "/" + id.Name }

// Meta is what every decoded object carries besides its spec.
type Meta struct {
	// ID is the object's kind, namespace and name.
	ID ID
	// APIVersion is the apiVersion the object was written with.
	APIVersion string
	// Labels and Annotations are the object's own.
	Labels      map[string]string
	Annotations map[string]string
}

// Metadata returns m; it makes every decoded type an Object.
func (m *Meta) Metadata() *Meta { return m }

// Object is a decoded Flux object: *GitRepository, *OCIRepository,
// *HelmRepository, *HelmChart, *Bucket, *Kustomization or *HelmRelease.
type Object interface {
	// Metadata returns the object's identity and metadata.
	Metadata() *Meta
}

// Unit is an object a run executes: *Kustomization or *HelmRelease.
type Unit interface {
	Object
	// Dependencies returns the units that must succeed first (dependsOn,
	// namespaces defaulted to the unit's own).
	Dependencies() []ID
	// SourceRef returns the object the unit reads its manifests or chart
	// from, namespace defaulted.
	SourceRef() ID
	// Suspended reports spec.suspend.
	Suspended() bool
}

// GitRepository is a source.toolkit.fluxcd.io GitRepository.
type GitRepository struct {
	Meta
	// URL is the repository: http(s):// or ssh://.
	URL string
	// Ref is what to check out, reduced to the one reference Flux's
	// checkout uses: Commit (with Branch when both are set), else Name,
	// else Tag, else SemVer, else Branch (DefaultBranch when nothing is
	// set). Flux's API documentation ranks SemVer above Tag, but its
	// checkout (fluxcd/pkg/git/gogit) tries Tag first; this follows the
	// checkout.
	Ref spec.GitRef
	// SecretRef names a Secret in the object's namespace holding
	// credentials; "" for none.
	SecretRef string
	// Provider is spec.provider: "" or spec.GitProviderGeneric, or
	// spec.GitProviderGitHub (a GitHub App; others are refused).
	Provider string
	// Timeout bounds one Git operation. Default DefaultSourceTimeout.
	Timeout time.Duration
	// Suspend keeps the revision the last run used instead of resolving
	// the ref again.
	Suspend bool
	// Verify checks commit or tag signatures; nil for no check.
	Verify *GitVerify
	// Ignore holds exclusion rules in .gitignore syntax; nil for Flux's
	// default exclusions (and the repository's .sourceignore files).
	Ignore *string
	// SparseCheckout lists the directories to check out; nil for all.
	SparseCheckout []string
	// RecurseSubmodules checks out submodules with the repository's
	// credentials.
	RecurseSubmodules bool
	// Include copies paths of other GitRepositories of the same
	// namespace into the checkout, in order.
	Include []GitInclude
}

// GitVerify is a GitRepository's spec.verify.
type GitVerify struct {
	// Mode is HEAD (the default; "head" is accepted), Tag or TagAndHEAD.
	Mode string
	// SecretRef names the Secret with the trusted public keys, in the
	// GitRepository's namespace.
	SecretRef string
}

// GitInclude is one entry of a GitRepository's spec.include.
type GitInclude struct {
	// Repository is the included GitRepository, in the including one's
	// namespace.
	Repository ID
	// FromPath is the path of the included repository to copy; "" for
	// its root.
	FromPath string
	// ToPath is where it goes; default the included GitRepository's
	// name, as in Flux.
	ToPath string
}

// OCIRepository is a source.toolkit.fluxcd.io OCIRepository: an artifact
// in an OCI registry.
type OCIRepository struct {
	Meta
	// URL is oci://host/repository.
	URL string
	// Ref says which artifact: Digest wins over SemVer (with the optional
	// SemverFilter regular expression on tags), which wins over Tag.
	// Tag is DefaultOCITag when nothing is set.
	Ref OCIRef
	// LayerSelector picks the layer; nil for the first one, extracted.
	LayerSelector *OCILayerSelector
	// SecretRef names a Secret with registry credentials
	// (.dockerconfigjson); "" for none.
	SecretRef string
	// CertSecretRef names a Secret with tls.crt, tls.key and ca.crt; ""
	// for none.
	CertSecretRef string
	// Insecure permits plain HTTP to the registry.
	Insecure bool
	// Timeout bounds one registry operation. Default
	// DefaultSourceTimeout.
	Timeout time.Duration
	// Suspend keeps the revision the last run used.
	Suspend bool
	// Verify checks the artifact's cosign signature; nil for no check.
	Verify *OCIVerify
	// Ignore holds exclusion rules in .gitignore syntax; nil for Flux's
	// default exclusions.
	Ignore *string
}

// OCIVerify is an OCIRepository's spec.verify: key-based cosign
// signatures (SecretRef) or keyless ones (MatchOIDCIdentity, verified
// offline against TrustedRootSecretRef).
type OCIVerify struct {
	// Provider is "cosign" (the default).
	Provider string
	// SecretRef names the Secret whose *.pub keys are the trusted cosign
	// public keys, in the OCIRepository's namespace.
	SecretRef string
	// MatchOIDCIdentity lists the accepted keyless signers (regular
	// expressions on the OIDC issuer and subject).
	MatchOIDCIdentity []OIDCIdentityMatch
	// TrustedRootSecretRef names the Secret whose trusted_root.json is
	// Sigstore's trusted root, in the OCIRepository's namespace.
	TrustedRootSecretRef string
}

// OIDCIdentityMatch is one entry of spec.verify.matchOIDCIdentity.
type OIDCIdentityMatch struct {
	Issuer, Subject string
}

// OCIRef selects an OCI artifact.
type OCIRef struct {
	Digest       string
	SemVer       string
	SemverFilter string
	Tag          string
}

// OCILayerSelector selects the layer of an OCI artifact to use.
type OCILayerSelector struct {
	// MediaType of the layer; "" for the first layer.
	MediaType string
	// Operation is OCILayerExtract (default) or OCILayerCopy.
	Operation string
}

// HelmRepository is a source.toolkit.fluxcd.io HelmRepository.
type HelmRepository struct {
	Meta
	// URL is http(s):// for a repository with an index.yaml, oci:// for a
	// registry.
	URL string
	// Type is HelmRepositoryDefault or HelmRepositoryOCI, consistent with
	// URL.
	Type string
	// SecretRef names a Secret with username and password (or, for OCI,
	// .dockerconfigjson); "" for none.
	SecretRef string
	// CertSecretRef names a Secret with tls.crt, tls.key and ca.crt; ""
	// for none. Flux prefers it over TLS keys in SecretRef.
	CertSecretRef string
	// PassCredentials sends the credentials to chart URLs on other hosts.
	PassCredentials bool
	// Insecure permits plain HTTP to an OCI registry.
	Insecure bool
	// Timeout bounds one index download or registry operation. Default
	// DefaultSourceTimeout.
	Timeout time.Duration
	// Suspend keeps the index the last run used.
	Suspend bool
}

// HelmChart is a source.toolkit.fluxcd.io HelmChart: a chart taken from a
// HelmRepository, GitRepository or Bucket in its own namespace.
type HelmChart struct {
	Meta
	// Chart is the chart name (HelmRepository) or its path in the source.
	Chart string
	// Version is a semver range. Default DefaultChartVersion. Flux
	// ignores it for charts from Git and buckets.
	Version string
	// SourceRef is where the chart comes from; its namespace is the
	// HelmChart's.
	SourceRef ID
	// ReconcileStrategy is ReconcileStrategyChartVersion (default) or
	// ReconcileStrategyRevision.
	ReconcileStrategy string
	// ValuesFiles replace the chart's values.yaml, merged in order.
	// A v1beta1/v1beta2 valuesFile comes first.
	ValuesFiles []string
	// IgnoreMissingValuesFiles skips listed files that do not exist.
	IgnoreMissingValuesFiles bool
	// Suspend keeps the chart the last run used.
	Suspend bool
	// Verify checks the cosign signature of a chart of an OCI
	// HelmRepository; nil when not set.
	Verify *OCIVerify
}

// Bucket is a source.toolkit.fluxcd.io Bucket on an S3-compatible server.
type Bucket struct {
	Meta
	// Endpoint is the server's host[:port].
	Endpoint string
	// BucketName is the bucket.
	BucketName string
	// Prefix filters the keys server-side.
	Prefix string
	// Region of the bucket; "" for the server's default.
	Region string
	// Insecure permits plain HTTP.
	Insecure bool
	// SecretRef names a Secret with accesskey and secretkey; "" for none.
	SecretRef string
	// CertSecretRef names a Secret with tls.crt, tls.key and ca.crt; ""
	// for none.
	CertSecretRef string
	// Timeout bounds one operation. Default DefaultSourceTimeout.
	Timeout time.Duration
	// Suspend keeps the revision the last run used.
	Suspend bool
	// Ignore holds exclusion rules in .gitignore syntax; nil for Flux's
	// default exclusions.
	Ignore *string
}

// Kustomization is a kustomize.toolkit.fluxcd.io Kustomization.
type Kustomization struct {
	Meta
	// Source is the GitRepository, OCIRepository or Bucket to render
	// from; its namespace defaults to the Kustomization's.
	Source ID
	// Path is the directory in the source; "./" when not set.
	Path string
	// Prune deletes objects of an earlier run that the render no longer
	// has. Flux requires the field.
	Prune bool
	// DeletionPolicy says what happens to the objects when the
	// Kustomization itself is removed: one of the DeletionPolicy values,
	// default DeletionPolicyMirrorPrune.
	DeletionPolicy string
	// Timeout bounds apply, health checks and prune. Default: the
	// interval minus 30 s, and never less than MinKustomizationTimeout,
	// as kustomize-controller computes it.
	Timeout time.Duration
	// DependsOn are the Kustomizations that must succeed first;
	// ReadyExprs the dependsOn entries' readyExpr, by dependency.
	DependsOn  []ID
	ReadyExprs map[ID]string
	// TargetNamespace, NamePrefix and NameSuffix as in a Sync spec.
	TargetNamespace string
	NamePrefix      string
	NameSuffix      string
	// CommonMetadata is set on every object.
	CommonMetadata *spec.CommonMetadata
	// Patches, in order. The v1beta1/v1beta2 patchesJson6902 and then
	// patchesStrategicMerge are appended, the order in which kustomize
	// moves them into patches when it loads a kustomization.
	Patches []spec.Patch
	// Images override image names, tags and digests.
	Images []spec.Image
	// Components are kustomize Components, relative to Path.
	Components []string
	// IgnoreMissingComponents drops components that do not exist.
	IgnoreMissingComponents bool
	// PostBuild substitutes variables; nil when not set.
	PostBuild *PostBuild
	// Decryption decrypts SOPS-encrypted files; nil when not set. Its
	// SecretRef is nil when not set: the run then uses the sync's keys,
	// as Flux uses kustomize-controller's (pkg/syncrun decrypt.go).
	Decryption *spec.Decryption
	// HealthChecks are waited for after apply when Wait is false.
	HealthChecks []spec.HealthCheck
	// HealthCheckExprs judge the objects of their kinds by CEL instead of
	// kstatus wherever the unit waits (v1 only, as in Flux).
	HealthCheckExprs []spec.CustomHealthCheck
	// Force recreates objects whose update hits an immutable field.
	Force bool
	// Ignore are spec.ignore: fields of existing objects left to other
	// writers at every apply (apply.IgnoreRule).
	Ignore []apply.IgnoreRule
	// Wait waits for every applied object to become ready.
	Wait bool
	// Suspend: the unit is not run; its objects stay as they are.
	Suspend bool
	// ServiceAccountName and KubeConfig say as whom and in which cluster
	// the unit's objects are applied, as spec.Sync's fields of the same
	// names, relative to the Kustomization's namespace.
	ServiceAccountName string
	KubeConfig         *spec.KubeConfigReference
}

// PostBuild is a Kustomization's postBuild.
type PostBuild struct {
	// Strategy is SubstituteWithVariables (default) or SubstituteAlways.
	Strategy string
	// Substitute holds inline variables; they win over SubstituteFrom.
	Substitute map[string]string
	// SubstituteFrom reads variables from ConfigMaps and Secrets in the
	// Kustomization's namespace, later entries winning.
	SubstituteFrom []spec.SubstituteReference
}

// Dependencies implements Unit.
func (k *Kustomization) Dependencies() []ID { return k.DependsOn }

// SourceRef implements Unit.
func (k *Kustomization) SourceRef() ID { return k.Source }

// Suspended implements Unit.
func (k *Kustomization) Suspended() bool { return k.Suspend }

// HelmRelease is a helm.toolkit.fluxcd.io HelmRelease.
type HelmRelease struct {
	Meta
	// Chart is spec.chart: a chart from a HelmRepository, GitRepository
	// or Bucket, for which helm-controller would create a HelmChart. Nil
	// when ChartRef is set.
	Chart *ChartTemplate
	// ChartRef is spec.chartRef: an OCIRepository or HelmChart, namespace
	// defaulted. Zero when Chart is set.
	ChartRef ID
	// ReleaseName is the Helm release name: spec.releaseName, else
	// [targetNamespace-]name, shortened as helm-controller does when
	// longer than MaxReleaseNameLength.
	ReleaseName string
	// ReleaseNamespace is spec.targetNamespace, else the HelmRelease's
	// namespace.
	ReleaseNamespace string
	// StorageNamespace is where Helm would store the release; default the
	// HelmRelease's namespace. gitsync writes no Helm storage; it is kept
	// for conversion and for adopting releases Flux made.
	StorageNamespace string
	// DependsOn are the HelmReleases that must succeed first;
	// ReadyExprs the dependsOn entries' readyExpr, by dependency.
	DependsOn  []ID
	ReadyExprs map[ID]string
	// Timeout bounds each Kubernetes operation of an action (hooks,
	// waits). Default DefaultHelmTimeout.
	Timeout time.Duration
	// HealthCheckExprs judge the objects of their kinds by CEL instead of
	// kstatus when an action waits (v2 only, as in Flux).
	HealthCheckExprs []spec.CustomHealthCheck
	// Install applies to the first run of the unit, Upgrade to the
	// following ones.
	Install HelmAction
	Upgrade HelmAction
	// Test is spec.test.
	Test HelmTest
	// Values are merged over ValuesFrom.
	Values map[string]any
	// ValuesFrom read values from ConfigMaps and Secrets in the
	// HelmRelease's namespace.
	ValuesFrom []spec.ValuesReference
	// CommonMetadata is set on every rendered object.
	CommonMetadata *spec.CommonMetadata
	// PostRenderers change the rendered manifests, in order.
	PostRenderers []spec.PostRenderer
	// PostRenderStrategy is spec.PostRenderCombined (default),
	// PostRenderSeparate or PostRenderNoHooks.
	PostRenderStrategy string
	// DriftMode is spec.driftDetection.mode: DriftEnabled, DriftWarn or
	// DriftDisabled; "" when not set, which gitsync runs as DriftDisabled,
	// helm-controller's default.
	DriftMode string
	// DriftIgnore are spec.driftDetection.ignore: fields of existing
	// objects that a drift correction leaves to other writers; an upgrade
	// applies every field, as helm-controller does.
	DriftIgnore []apply.IgnoreRule
	// Suspend: the unit is not run.
	Suspend bool
	// ServiceAccountName and KubeConfig as in Kustomization.
	ServiceAccountName string
	KubeConfig         *spec.KubeConfigReference
}

// ChartTemplate is a HelmRelease's spec.chart.spec.
type ChartTemplate struct {
	// Chart is the chart name, or its path in a Git or bucket source.
	Chart string
	// Version is a semver range. Default DefaultChartVersion.
	Version string
	// SourceRef is the HelmRepository, GitRepository or Bucket, namespace
	// defaulted to the HelmRelease's.
	SourceRef ID
	// ReconcileStrategy is ReconcileStrategyChartVersion (default) or
	// ReconcileStrategyRevision.
	ReconcileStrategy string
	// ValuesFiles replace the chart's values.yaml, merged in order; a
	// v2beta1/v2beta2 valuesFile comes first.
	ValuesFiles []string
	// IgnoreMissingValuesFiles skips listed files that do not exist.
	IgnoreMissingValuesFiles bool
	// Verify checks the cosign signature of a chart of an OCI
	// HelmRepository; nil when not set.
	Verify *OCIVerify
}

// HelmTest is a HelmRelease's spec.test: the chart's tests after each
// install or upgrade.
type HelmTest struct {
	Enable bool
	// Timeout bounds the tests together. Default: the HelmRelease's
	// Timeout.
	Timeout        time.Duration
	IgnoreFailures bool
	Filters        spec.HelmTestFilters
}

// HelmAction is how a HelmRelease installs (first run) or upgrades.
type HelmAction struct {
	// Timeout of the action. Default: the HelmRelease's Timeout.
	Timeout time.Duration
	// CRDs is the policy for the chart's crds/ directory: spec.CRDsCreate
	// (install default), spec.CRDsCreateReplace or spec.CRDsSkip (upgrade
	// default).
	CRDs string
	// Wait waits for the release's objects to become ready (Flux's
	// default; disableWait turns it off).
	Wait bool
	// WaitForJobs also waits for Jobs to complete (when Wait).
	WaitForJobs bool
	// DisableHooks skips the chart's hooks.
	DisableHooks bool
	// DisableSchemaValidation skips values.schema.json.
	DisableSchemaValidation bool
	// CreateNamespace creates the release namespace (install only).
	CreateNamespace bool
	// IgnoreTestFailures is remediation.ignoreTestFailures: whether failed
	// tests after this action leave the unit succeeded; nil when not set
	// (then Test.IgnoreFailures says).
	IgnoreTestFailures *bool
}

// IgnoresTestFailures reports whether failed tests after action a leave
// the unit succeeded: a's remediation.ignoreTestFailures, else
// spec.test.ignoreFailures, as in helm-controller.
func (h *HelmRelease) IgnoresTestFailures(a HelmAction) bool {
	if a.IgnoreTestFailures != nil {
		return *a.IgnoreTestFailures
	}
	return h.Test.IgnoreFailures
}

// Dependencies implements Unit.
func (h *HelmRelease) Dependencies() []ID { return h.DependsOn }

// SourceRef implements Unit: the chart template's source, or ChartRef.
func (h *HelmRelease) SourceRef() ID {
	if h.Chart != nil {
		return h.Chart.SourceRef
	}
	return h.ChartRef
}

// Suspended implements Unit.
func (h *HelmRelease) Suspended() bool { return h.Suspend }
