// Package spec defines the Sync spec: the one YAML document per sync, stored
// in ConfigMap gitsync-NAME under key sync.yaml, that says where manifests come
// from and how they are rendered and applied. It is what Flux splits into a
// source (GitRepository) and a Kustomization, and it reuses Flux's field names
// where the meaning is the same so that a Flux user can read it at once.
//
// Parse is the only way a spec enters gitsync: it decodes strictly (unknown
// fields are errors, named by their path), fills in defaults and validates,
// reporting every problem at once with its field path.
package spec

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/names"
)

const (
	// Group is the API group of the Sync spec.
	Group = "gitsync.io"
	// Version is the only version of the Sync spec this package reads.
	Version = "v1alpha1"
	// APIVersion is the apiVersion every Sync document must carry.
	APIVersion = Group + "/" + Version
	// Kind is the kind every Sync document must carry.
	Kind = "Sync"

	// ConfigMapKey is the data key of the spec ConfigMap that holds the YAML.
	ConfigMapKey = "sync.yaml"
	// ConfigMapPrefix prefixes a sync's name to name its spec ConfigMap and
	// CronJob (names.Prefix).
	ConfigMapPrefix = names.Prefix

	// MaxNameLength is the longest sync name. The CronJob gitsync-NAME may
	// have at most 52 characters (Kubernetes appends a timestamp suffix to
	// name its Jobs), which leaves 44 for NAME.
	MaxNameLength = names.MaxSyncName

	// FluxDefaultBranch is what Flux's GitRepository checks out when its ref
	// sets nothing. A Sync does not default to it: an empty ref follows the
	// remote's HEAD (GitSource.Ref). A Flux object converted into a Sync or
	// a unit sets it explicitly, so that it means what it meant in Flux.
	FluxDefaultBranch = "master"
	// DefaultGitTimeout bounds one Git operation (ls-remote, fetch) when
	// spec.source.git.timeout is not set; it is Flux's default.
	DefaultGitTimeout = 60 * time.Second
	// DefaultTimeout bounds apply, prune and health checks of one run when
	// spec.timeout is not set.
	DefaultTimeout = 5 * time.Minute
	// DefaultSchedule is the CronJob schedule when spec.schedule is not set:
	// every five minutes.
	DefaultSchedule = "*/5 * * * *"
	// DefaultPrune is the value of spec.prune when it is not set.
	DefaultPrune = true
)

// ConfigMapName returns the name of the ConfigMap that holds the spec of the
// sync named sync.
func ConfigMapName(sync string) string { return names.Spec(sync) }

// Sync is one sync: where its manifests come from and how they are applied.
// Only metadata.name and metadata.namespace may be set; the rest of
// ObjectMeta is rejected by Validate because nothing would honour it.
type Sync struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired state.
	Spec SyncSpec `json:"spec"`
}

// New returns a Sync named name in namespace with apiVersion and kind set,
// for callers that build a spec in Go rather than parse one.
func New(name, namespace string) *Sync {
	return &Sync{
		TypeMeta:   metav1.TypeMeta{APIVersion: APIVersion, Kind: Kind},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
	}
}

// SyncSpec is the desired state of a sync: one source, and the Flux
// Kustomization settings that turn it into applied objects.
type SyncSpec struct {
	// Source says where the manifests come from. Exactly one kind of source
	// must be set.
	Source Source `json:"source"`

	// Path is the directory inside the source holding a kustomization.yaml
	// or plain YAML manifests. It is relative to the source root and cannot
	// leave it. Default "./" (the root); Default writes it as "./dir".
	Path string `json:"path,omitempty"`

	// Schedule is the cron schedule (5 fields, or a descriptor such as
	// @hourly) of the sync's CronJob. Flux's interval has no equivalent:
	// gitsync runs to completion on a schedule. Default DefaultSchedule.
	Schedule string `json:"schedule,omitempty"`

	// Suspend stops scheduled runs; the plugin mirrors it into the CronJob.
	Suspend bool `json:"suspend,omitempty"`

	// TargetNamespace sets the namespace of every namespaced object.
	TargetNamespace string `json:"targetNamespace,omitempty"`
	// NamePrefix is prepended to the name of every object.
	NamePrefix string `json:"namePrefix,omitempty"`
	// NameSuffix is appended to the name of every object.
	NameSuffix string `json:"nameSuffix,omitempty"`
	// CommonMetadata is added to every object, overriding equal keys.
	CommonMetadata *CommonMetadata `json:"commonMetadata,omitempty"`
	// Patches are strategic merge or JSON 6902 patches applied after the
	// kustomize build of Path.
	Patches []Patch `json:"patches,omitempty"`
	// Images replace image names, tags or digests.
	Images []Image `json:"images,omitempty"`
	// Components are paths, relative to Path, of kustomize Components to
	// include.
	Components []string `json:"components,omitempty"`
	// PostBuild substitutes ${var} references in the rendered manifests.
	PostBuild *PostBuild `json:"postBuild,omitempty"`
	// Decryption decrypts SOPS-encrypted files of the render (Flux's
	// decryption). Default: none, and an encrypted file fails the run.
	// See decryption.go.
	Decryption *Decryption `json:"decryption,omitempty"`

	// Prune deletes objects of an earlier run that the current render no
	// longer contains. Flux requires the field; gitsync defaults it to
	// DefaultPrune (true). Use PruneEnabled to read it.
	Prune *bool `json:"prune,omitempty"`
	// AllowEmpty lets a render with no objects prune everything the sync
	// applied before. Without it an empty render fails the run, because an
	// emptied path is far more often a mistake than an intent.
	AllowEmpty bool `json:"allowEmpty,omitempty"`
	// Force recreates objects whose update fails on an immutable field.
	Force bool `json:"force,omitempty"`
	// Adopt takes over objects that another sync (or another ApplySet)
	// labelled as its own. Without it such an object fails the run, naming
	// both syncs; the annotation gitsync.io/adopt: enabled asks for it per
	// object. Objects no sync labelled are adopted either way, and the
	// run's summary names them.
	Adopt bool `json:"adopt,omitempty"`
	// ManageGitsync lets the render hold gitsync's own objects (a sync's
	// spec ConfigMap, CronJob, ServiceAccount, RBAC, state ConfigMaps,
	// Lease), as the root sync that bootstrap writes needs. Without it a
	// run refuses, before applying anything, any such object of any sync:
	// otherwise a tenant's repository could rewrite a more privileged
	// sync's spec and take over its rights.
	ManageGitsync bool `json:"manageGitsync,omitempty"`
	// Wait waits for every applied object to become ready; HealthChecks are
	// then ignored, as in Flux.
	Wait bool `json:"wait,omitempty"`
	// Timeout bounds apply, prune and health checks of one run.
	// Default DefaultTimeout (Flux derives it from its interval instead).
	Timeout *Duration `json:"timeout,omitempty"`
	// RunTimeout bounds a whole run, the units of the Flux objects in its
	// tree included: the Job's activeDeadlineSeconds, past which the Job
	// controller stops it. It is never less than Timeout plus the source's
	// fetch budget plus a margin, which is also its default. A run whose
	// units' timeouts may need more says so (docs/flux.md, "Run timeout").
	RunTimeout *Duration `json:"runTimeout,omitempty"`
	// HealthChecks are objects that must become ready after apply when Wait
	// is false.
	HealthChecks []HealthCheck `json:"healthChecks,omitempty"`
	// HealthCheckExprs, as Flux's field, judge the objects of an
	// apiVersion and kind by CEL expressions instead of kstatus, wherever
	// the run waits for them (wait, healthChecks). See docs/health.md.
	HealthCheckExprs []CustomHealthCheck `json:"healthCheckExprs,omitempty"`

	// ServiceAccountName, as in Flux, names a ServiceAccount of the sync's
	// namespace that every request for the sync's objects (apply, prune,
	// drift check, health checks, Helm hooks) is made as, through
	// impersonation. The spec, its Secrets, the state, the Lease and the
	// Events stay on the Job's own identity. Default: the Job's identity
	// for everything. See docs/security.md (multi-tenancy).
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// KubeConfig, as in Flux, applies the sync's objects to the cluster of
	// a kubeconfig held in a Secret of the sync's namespace; the spec, its
	// Secrets and the state stay in the sync's own cluster. With
	// ServiceAccountName the requests in that cluster impersonate the
	// ServiceAccount there. Default: the sync's own cluster. See
	// kubeconfig.go.
	KubeConfig *KubeConfigReference `json:"kubeConfig,omitempty"`

	// Helm renders a Helm chart, as Flux's HelmRelease: the chart of
	// Source.Helm, or with a Git source the chart directory Path names.
	// Optional with Source.Helm. See helm.go.
	Helm *HelmSpec `json:"helm,omitempty"`

	// Flux says how a run treats the Flux objects its render holds. See
	// flux.go.
	Flux *FluxSpec `json:"flux,omitempty"`

	// Notify lists who is told what a run did (chat, webhooks, commit
	// status). Not part of the digest. See notify.go.
	Notify []NotifyProvider `json:"notify,omitempty"`
	// Metrics says where a run pushes its metrics. Not part of the digest.
	// See notify.go.
	Metrics *MetricsSpec `json:"metrics,omitempty"`
	// DependsOn lists syncs that must have applied their latest revision
	// and be healthy before a run of this one applies anything (Flux's
	// dependsOn); a dependency's successful run starts this one's. Not
	// part of the digest. See dependson.go.
	DependsOn []DependencyReference `json:"dependsOn,omitempty"`
	// ImageUpdate commits the tags image policies choose to the Git
	// source and applies that commit in the same run (Flux's image
	// automation). See imageupdate.go.
	ImageUpdate *ImageUpdateSpec `json:"imageUpdate,omitempty"`
}

// PruneEnabled reports whether pruning is on, applying the default when
// Prune is unset.
func (s *SyncSpec) PruneEnabled() bool {
	if s.Prune == nil {
		return DefaultPrune
	}
	return *s.Prune
}

// Source says where a sync's manifests come from. It is a union: exactly one
// member must be set. Later source kinds (oci, bucket) are added as further
// members.
type Source struct {
	// Git is a Git repository, as Flux's GitRepository.
	Git *GitSource `json:"git,omitempty"`
	// Helm is a chart in a Helm repository (HTTP(S) index or OCI
	// registry), as Flux's HelmRepository and HelmChart.
	Helm *HelmSource `json:"helm,omitempty"`
	// OCI is an artifact in an OCI registry, as Flux's OCIRepository.
	// See oci.go.
	OCI *OCISource `json:"oci,omitempty"`
	// Bucket is an S3-compatible bucket, as Flux's Bucket. See bucket.go.
	Bucket *BucketSource `json:"bucket,omitempty"`
}

// GitSource is a Git repository, as Flux's GitRepository spec.
type GitSource struct {
	// URL is https://..., ssh://..., scp-like [user@]host:path, or
	// http://... when Insecure is true.
	URL string `json:"url"`
	// Insecure permits a plain http:// URL. It does not disable TLS
	// verification, and it is rejected on any other URL so that nobody
	// believes it does.
	Insecure bool `json:"insecure,omitempty"`
	// Ref selects what to check out. Default (nothing set): the branch the
	// remote's HEAD names, as git clone checks out, resolved at every run
	// (ls-remote's symref); the revision recorded names it
	// (main@sha1:...).
	Ref GitRef `json:"ref,omitzero"`
	// SecretRef names a Secret in the sync's namespace with credentials:
	// username and password, or bearerToken, for HTTP(S); identity (and its
	// password) and known_hosts for SSH; ca.crt for a private CA. Required
	// for SSH URLs, because host keys must be pinned.
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`
	// Provider is how the source authenticates (Flux's provider):
	// GitProviderGeneric (default) with the Secret's credentials as they
	// are, or GitProviderGitHub as a GitHub App installation (the Secret's
	// githubApp* keys; HTTPS only).
	Provider string `json:"provider,omitempty"`
	// Timeout bounds one Git operation. Default DefaultGitTimeout.
	Timeout *Duration `json:"timeout,omitempty"`
	// Verify checks commit or tag signatures before anything is applied
	// (Flux's verify). Default: no check. See gitextras.go.
	Verify *GitVerify `json:"verify,omitempty"`
	// Ignore holds exclusion rules in .gitignore syntax (Flux's ignore).
	// Default: Flux's default exclusions.
	Ignore *string `json:"ignore,omitempty"`
	// SparseCheckout lists the directories to fetch and check out (Flux's
	// sparseCheckout). Default: the whole tree.
	SparseCheckout []string `json:"sparseCheckout,omitempty"`
	// RecurseSubmodules fetches submodules with the repository's
	// credentials (Flux's recurseSubmodules). Default false.
	RecurseSubmodules bool `json:"recurseSubmodules,omitempty"`
	// Include copies paths of other repositories into this one before
	// render (Flux's include). Default: none.
	Include []GitInclude `json:"include,omitempty"`
}

// GitRef selects a Git revision. At most one field may be set, except that
// Commit may be combined with Branch (the commit is then fetched from that
// branch). Flux accepts any combination and lets one win
// (commit > name > semver > tag > branch); gitsync rejects the ambiguous ones
// instead, so what is written is what is checked out.
type GitRef struct {
	// Branch to check out.
	Branch string `json:"branch,omitempty"`
	// Tag to check out.
	Tag string `json:"tag,omitempty"`
	// SemVer is a Masterminds/semver/v3 constraint; the highest tag that
	// satisfies it is checked out.
	SemVer string `json:"semver,omitempty"`
	// Name is a full reference such as refs/heads/main or refs/pull/1/head,
	// or HEAD for the remote's default branch.
	Name string `json:"name,omitempty"`
	// Commit is a full 40-character lowercase SHA-1.
	Commit string `json:"commit,omitempty"`
}

// LocalObjectReference names an object in the sync's namespace.
type LocalObjectReference struct {
	// Name of the referent.
	Name string `json:"name"`
}

// CommonMetadata is added to every rendered object.
type CommonMetadata struct {
	// Labels to set.
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations to set.
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Patch is an inline strategic merge patch (a YAML mapping) or JSON 6902
// patch (a YAML list of operations) and the objects it applies to.
type Patch struct {
	// Patch is the patch document.
	Patch string `json:"patch"`
	// Target selects the objects to patch. Required for JSON 6902 patches;
	// a strategic merge patch without one applies to the object its own
	// kind and metadata.name name.
	Target *Selector `json:"target,omitempty"`
}

// Selector selects objects; an object must match every field that is set.
type Selector struct {
	// Group is the API group.
	Group string `json:"group,omitempty"`
	// Version is the API version.
	Version string `json:"version,omitempty"`
	// Kind is the kind.
	Kind string `json:"kind,omitempty"`
	// Name is the object's name (kustomize reads it as a regular expression).
	Name string `json:"name,omitempty"`
	// Namespace is the object's namespace.
	Namespace string `json:"namespace,omitempty"`
	// LabelSelector is a label selector expression such as "app=web,tier!=db".
	LabelSelector string `json:"labelSelector,omitempty"`
	// AnnotationSelector is a selector expression over annotations.
	AnnotationSelector string `json:"annotationSelector,omitempty"`
}

// Image replaces the name, tag or digest of an image.
type Image struct {
	// Name is the image name to match, without tag or digest.
	Name string `json:"name"`
	// NewName replaces the name.
	NewName string `json:"newName,omitempty"`
	// NewTag replaces the tag.
	NewTag string `json:"newTag,omitempty"`
	// Digest replaces the tag with a digest; NewTag is then ignored.
	Digest string `json:"digest,omitempty"`
}

// PostBuild substitutes variables in the rendered manifests.
type PostBuild struct {
	// Substitute maps variable names to values.
	Substitute map[string]string `json:"substitute,omitempty"`
	// SubstituteFrom reads variables from ConfigMaps and Secrets in the
	// sync's namespace; Substitute wins over them, and later entries win
	// over earlier ones.
	SubstituteFrom []SubstituteReference `json:"substituteFrom,omitempty"`
}

// SubstituteReference names a ConfigMap or Secret whose data keys are
// variable names.
type SubstituteReference struct {
	// Kind is ConfigMap or Secret.
	Kind string `json:"kind"`
	// Name of the ConfigMap or Secret.
	Name string `json:"name"`
	// Optional tolerates a missing object, read as empty.
	Optional bool `json:"optional,omitempty"`
}

// CustomHealthCheck judges the objects of one apiVersion and kind by CEL
// expressions on the live object, as Flux's CustomHealthCheck: the first of
// inProgress, failed and current that is true gives the status, and none
// means in progress.
type CustomHealthCheck struct {
	// APIVersion of the objects (group/version); as in Flux, objects of
	// any version of the group are judged.
	APIVersion string `json:"apiVersion"`
	// Kind of the objects.
	Kind string `json:"kind"`
	// Current is true when the object has reached its desired state.
	Current string `json:"current"`
	// InProgress, optional, is true while it has not yet.
	InProgress string `json:"inProgress,omitempty"`
	// Failed, optional, is true when it has failed to; the run then
	// fails at once instead of at its timeout.
	Failed string `json:"failed,omitempty"`
}

// HealthCheck names an object that must become ready after apply.
type HealthCheck struct {
	// APIVersion of the object; empty means the server's preferred version.
	APIVersion string `json:"apiVersion,omitempty"`
	// Kind of the object.
	Kind string `json:"kind"`
	// Name of the object.
	Name string `json:"name"`
	// Namespace of the object; empty for cluster-scoped objects, and for
	// namespaced ones it means targetNamespace if set, else the sync's
	// namespace.
	Namespace string `json:"namespace,omitempty"`
}
