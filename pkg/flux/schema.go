package flux

import (
	"fmt"
	"regexp"
	"slices"
	"sync"
)

// The schema below is the one place that says, for every field of every
// Flux kind this package reads, what gitsync does with it. Decode walks a
// rendered object against it, and docs/flux.md's field tables are
// generated from it (TestDocsTables), so the code and the documentation
// cannot disagree.

// treatment is what gitsync does with a field.
type treatment int

const (
	// mapped fields are read into the decoded type.
	mapped treatment = iota + 1
	// ignored fields are accepted and have no effect, because they do not
	// apply to a tool that runs to completion; the note says what gitsync
	// does instead.
	ignored
	// refused fields make Decode fail, naming the object and the field.
	refused
)

// valueType is the JSON shape a field must have.
type valueType int

const (
	tString    valueType = iota + 1
	tBool                // true or false
	tInt                 // an integer
	tDuration            // a Go duration string, as Flux's CRDs require
	tStringMap           // an object of strings
	tStrings             // a list of strings
	tObject              // an object with the listed fields
	tObjects             // a list of objects with the listed fields
	tFree                // any object (Helm values)
	tFreeList            // a list of any objects (strategic merge patches)
	tAny                 // any value, not looked into (refused as a whole)
)

// field describes one field of a Flux kind.
type field struct {
	name string
	typ  valueType
	how  treatment
	// note documents the field: what a mapped field becomes and its
	// default, what gitsync does instead of an ignored one, why a refused
	// one is refused.
	note string
	// issue names the gitsync issue that will support a refused field.
	issue string
	// versions lists the API versions that have the field; nil for all
	// versions of the kind.
	versions []string
	required bool
	enum     []string
	pattern  *regexp.Regexp
	// patternText says in words what pattern accepts; the value itself
	// is not quoted in errors, since a URL may hold credentials.
	patternText string
	// refuseValue refuses some values of a mapped or ignored field: it
	// returns why, or "" to accept the value.
	refuseValue func(v any) string
	// refuseNote documents refuseValue.
	refuseNote string
	// evenEmpty refuses a refused field even when its value is empty
	// (for ignore, an empty string still means something in Flux).
	evenEmpty bool
	fields    []field
}

func mapF(name string, typ valueType, note string) field {
	return field{name: name, typ: typ, how: mapped, note: note}
}

func ignF(name string, typ valueType, note string) field {
	return field{name: name, typ: typ, how: ignored, note: note}
}

func refF(name, note, issue string) field {
	return field{name: name, typ: tAny, how: refused, note: note, issue: issue}
}

func (f field) req() field               { f.required = true; return f }
func (f field) only(vs ...string) field  { f.versions = vs; return f }
func (f field) oneOf(vs ...string) field { f.enum = vs; return f }
func (f field) sub(fs ...field) field    { f.fields = fs; return f }
func (f field) match(re, text string) field {
	f.pattern, f.patternText = regexp.MustCompile(re), text
	return f
}
func (f field) refusing(note string, fn func(any) string) field {
	f.refuseValue, f.refuseNote = fn, note
	return f
}

// inVersion reports whether the field exists in API version v.
func (f *field) inVersion(v string) bool {
	return f.versions == nil || slices.Contains(f.versions, v)
}

// kindSchema is the schema of one Flux kind, all versions together.
type kindSchema struct {
	group    string
	kind     string
	versions []string // newest first
	spec     []field
}

// Versions of each API group that Decode reads.
var (
	sourceVersions    = []string{"v1", "v1beta2", "v1beta1"}
	kustomizeVersions = []string{"v1", "v1beta2", "v1beta1"}
	helmVersions      = []string{"v2", "v2beta2", "v2beta1"}
)

// Reasons shared by several kinds.
const (
	noteInterval = "gitsync runs when the sync's CronJob fires (`spec.schedule`), and the whole tree converges " +
		"in that run; there is no per-object interval"
	noteIntervalTimeout = noteInterval + ". Only the default of `timeout` is derived from it, as Flux does"
	noteRetryInterval   = "a failed unit is tried again at the sync's next run"
	noteSuspend         = "the object is not resolved again: the run keeps the revision it used last"
	noteAccessFrom      = "Flux never implemented it"
	noteGitImpl         = "Flux ignores it too: go-git is its only implementation"
	noteRefAPIVersion   = "the kind and name identify the object; each kind exists once across Flux's groups"
	noteSecretRef       = "name of a Secret in the object's namespace"
	noteSAName          = "a ServiceAccount of the object's namespace that every request for the unit's objects " +
		"impersonates (apply, prune, drift, health checks, hooks); the state stays on the job's identity"
	noteKubeConfig = "another cluster to apply to: the kubeconfig in a Secret of the object's namespace; exec and " +
		"auth-provider plugins and file paths are refused"
	noteDecryption  = "SOPS decryption of manifests and generator files as they are read (docs/sops.md)"
	noteCEL         = "CEL expressions"
	noteChartVerify = "check the cosign signature of a chart of an OCI HelmRepository (its tag's manifest) before it is " +
		"rendered; refused for a chart from an HTTP repository, Git or a bucket, as in Flux"
	noteIgnoreMapped = "exclusion rules in `.gitignore` syntax, replacing Flux's default exclusions; " +
		"`.sourceignore` files of the tree apply too. Not set: Flux's default exclusions"
	noteProxy       = "a proxy Secret; set HTTPS_PROXY in the Job's environment instead"
	noteCloudSA     = "cloud workload identity; use `secretRef`"
	noteProvider    = "any other provider is refused: cloud workload identity is not supported, credentials come from `secretRef`"
	noteHealthExprs = "custom health checks in CEL"
	noteTimeout     = "bounds one operation of the source; default 60s"
)

// durationRE is the pattern Flux's CRDs give durations.
var durationRE = regexp.MustCompile(`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`)

// refuseUnlessGeneric refuses a provider other than "generic".
func refuseUnlessGeneric(v any) string {
	if s, _ := v.(string); s != "" && s != "generic" {
		return fmt.Sprintf("provider %q is not supported: only generic, with credentials from secretRef", s)
	}
	return ""
}

// refuseTrue refuses true, with why.
func refuseTrue(why string) func(any) string {
	return func(v any) string {
		if b, _ := v.(bool); b {
			return why
		}
		return ""
	}
}

// refuseExcept refuses every value but the listed ones, with why.
func refuseExcept(why string, ok ...string) func(any) string {
	return func(v any) string {
		if s, _ := v.(string); s != "" && !slices.Contains(ok, s) {
			return fmt.Sprintf("%q is not supported: %s", s, why)
		}
		return ""
	}
}

// Fields shared by several kinds.
func kubeConfigF() field {
	return mapF("kubeConfig", tObject, noteKubeConfig).sub(
		mapF("secretRef", tObject, "the Secret holding the kubeconfig").req().sub(
			mapF("name", tString, noteSecretRef).req(),
			mapF("key", tString, "the key; default `value`, else `value.yaml`"),
		),
		refF("configMapRef", "cloud provider identity for the remote cluster", ""),
	)
}

func secretRefF(name, note string) field {
	return mapF(name, tObject, note).sub(mapF("name", tString, noteSecretRef).req())
}

func selectorF(name string) field {
	return mapF(name, tObject, "the objects to patch; all set fields must match").sub(
		selectorFields("API group", "name (a regular expression, as in kustomize)")...)
}

// selectorFields are the fields of a kustomize selector (a patch's and an
// ignore rule's target), the group's and the name's notes as given.
func selectorFields(group, name string) []field {
	return []field{
		mapF("group", tString, group),
		mapF("version", tString, "API version"),
		mapF("kind", tString, "kind"),
		mapF("name", tString, name),
		mapF("namespace", tString, "namespace"),
		mapF("labelSelector", tString, "label selector expression"),
		mapF("annotationSelector", tString, "selector expression over annotations"),
	}
}

func patchesF() field {
	return mapF("patches", tObjects, "strategic merge or JSON 6902 patches, as a Sync's `patches`").sub(
		mapF("patch", tString, "the patch document").req(),
		selectorF("target"),
	)
}

func imagesF() field {
	return mapF("images", tObjects, "image overrides, as a Sync's `images`").sub(
		mapF("name", tString, "image to match").req(),
		mapF("newName", tString, "new name"),
		mapF("newTag", tString, "new tag"),
		mapF("digest", tString, "new digest; wins over newTag"),
	)
}

func patchesSMF() field {
	return mapF("patchesStrategicMerge", tFreeList, "appended to `patches` (after `patchesJson6902`), one "+
		"strategic merge patch each, as kustomize does when it loads a kustomization")
}

func patchesJSONF() field {
	return mapF("patchesJson6902", tObjects, "appended to `patches`, one JSON 6902 patch each").sub(
		mapF("patch", tObjects, "the operations").req().sub(
			mapF("op", tString, "operation").req().oneOf("test", "remove", "add", "replace", "move", "copy"),
			mapF("path", tString, "JSON pointer").req(),
			mapF("from", tString, "JSON pointer"),
			mapF("value", tAny, "any JSON value"),
		),
		selectorF("target").req(),
	)
}

// ignoreRulesF is a Kustomization's spec.ignore and a HelmRelease's
// spec.driftDetection.ignore: apply.IgnoreRule.
func ignoreRulesF(note string) field {
	return mapF("ignore", tObjects, note).sub(
		mapF("paths", tStrings, "JSON pointers (RFC 6901) to the fields, such as `/spec/replicas`; a list element "+
			"by its index in the rendered list").req(),
		mapF("target", tObject, "the objects the rule applies to; all set fields must match. Not set: every object of the unit").sub(
			selectorFields("API group (a regular expression matching the whole group, as all below)", "name")...),
	)
}

func commonMetadataF() field {
	return mapF("commonMetadata", tObject, "labels and annotations set on every object").sub(
		mapF("labels", tStringMap, "labels"),
		mapF("annotations", tStringMap, "annotations"),
	)
}

func dependsOnF(kind string, readyExprIn ...string) field {
	return mapF("dependsOn", tObjects, "the "+kind+"s that must succeed first in the same run; "+
		"see [Order](#order)").sub(
		mapF("name", tString, "name").req(),
		mapF("namespace", tString, "namespace; default the dependent's"),
		mapF("readyExpr", tString, "a CEL expression that decides, instead of the dependency's success in this run, "+
			"whether it is ready: `dep` is the dependency's object, `self` the dependent's; see [readyExpr](#readyexpr)").only(readyExprIn...),
	)
}

// cosignVerifyF is the verify of an OCIRepository, a HelmChart and a
// HelmRelease's chart template: cosign signatures of an OCI artifact, by
// keys or keyless; whose names the object that holds the Secrets.
func cosignVerifyF(whose, note string) field {
	return mapF("verify", tObject, note).sub(
		mapF("provider", tString, "`cosign` (default)").oneOf("cosign", "notation").
			refusing("`notation` is refused: only cosign signatures are verified", refuseExcept("only cosign signatures are verified", "cosign")),
		secretRefF("secretRef", "the trusted cosign public keys (`*.pub`), read in "+whose+" namespace; "+
			"without it, signatures are keyless, as in Flux"),
		mapF("matchOIDCIdentity", tObjects, "keyless (Fulcio/Rekor) signers accepted, any one of them; "+
			"without it, as in Flux, a cosign v2 signature by any identity verifies and a cosign v3 bundle does not").sub(
			mapF("issuer", tString, "regular expression on the certificate's OIDC issuer").req(),
			mapF("subject", tString, "regular expression on the certificate's subject (SAN)").req(),
		),
		secretRefF("trustedRootSecretRef", "`trusted_root.json` (Sigstore's trusted root: Fulcio CAs, Rekor keys), "+
			"read in "+whose+" namespace, the only trust, offline (a private Sigstore, no network); "+
			"without it, as in Flux, the trusted root of Sigstore's public-good instance, fetched through TUF "+
			"(`GITSYNC_SIGSTORE_TUF_URL` and `GITSYNC_SIGSTORE_TUF_ROOT` name a mirror)"),
	)
}

// healthCheckExprsF is Kustomization's and HelmRelease's healthCheckExprs,
// read as a Sync's (docs/health.md); the expressions are compiled at decode.
func healthCheckExprsF(versions ...string) field {
	return mapF("healthCheckExprs", tObjects, noteHealthExprs+": expressions that judge the objects of a kind instead "+
		"of kstatus wherever the unit waits, as a Sync's `healthCheckExprs` (docs/health.md)").only(versions...).sub(
		mapF("apiVersion", tString, "group/version of the objects; any version of the group matches, as in Flux").req(),
		mapF("kind", tString, "kind").req(),
		mapF("current", tString, "true when the object is ready").req(),
		mapF("inProgress", tString, "true while it is not ready yet; checked first"),
		mapF("failed", tString, "true when it failed: the run fails at once; checked second"),
	)
}

// operatorSchemas are the Flux Operator's kinds Decode reads
// (resourceset.go), apart from schemas: docs/flux.md's tables are Flux's.
var operatorSchemas = sync.OnceValue(resourceSetSchemas)

// schemas lists every kind Decode reads, built on first use: a run with no
// Flux object in its tree (and every run's start) does not pay for it.
var schemas = sync.OnceValue(func() []*kindSchema {
	return append([]*kindSchema{
		{group: SourceGroup, kind: KindGitRepository, versions: sourceVersions, spec: []field{
			mapF("url", tString, "the repository: `http://`, `https://` or `ssh://`").req().match(`^(http|https|ssh)://`, "an http://, https:// or ssh:// URL"),
			secretRefF("secretRef", "credentials: `username`/`password` or `bearerToken`, `identity`/`known_hosts`, `ca.crt`"),
			mapF("provider", tString, "`generic` (default): the Secret's credentials as they are; `github`: a GitHub App "+
				"installation, from the Secret's `githubAppID`, `githubAppInstallationID` (or `githubAppInstallationOwner`), "+
				"`githubAppPrivateKey` and `githubAppBaseURL` (GitHub Enterprise Server), over HTTPS").only("v1").
				oneOf("generic", "aws", "azure", "github").
				refusing("`azure` and `aws` are refused: cloud workload identity is not supported", refuseExcept(
					"cloud workload identity is not supported; credentials come from secretRef (or a GitHub App, provider github)", "generic", "github")),
			refF("serviceAccountName", noteCloudSA, "").only("v1"),
			ignF("interval", tDuration, noteInterval).req(),
			mapF("timeout", tDuration, noteTimeout),
			mapF("ref", tObject, "what to check out; with nothing set the branch `master`, as Flux. "+
				"When several are set, Flux's checkout order decides: commit (with branch), name, tag, semver, branch").sub(
				mapF("branch", tString, "a branch"),
				mapF("tag", tString, "a tag"),
				mapF("semver", tString, "the highest tag in a semver range"),
				mapF("name", tString, "a full reference such as `refs/pull/1/head`").only("v1", "v1beta2"),
				mapF("commit", tString, "a commit SHA"),
			),
			mapF("verify", tObject, "check the signature of the commit or tag before anything of it is applied: "+
				"an unsigned commit or tag, or one signed by a key the Secret does not hold, fails every unit "+
				"reading the repository, naming the commit or tag").sub(
				mapF("mode", tString, "`HEAD` (default; `head` is accepted), `Tag` or `TagAndHEAD`; the tag modes need "+
					"`ref.tag`, `ref.semver` or a `ref.name` under `refs/tags/`").oneOf("HEAD", "head", "Tag", "TagAndHEAD"),
				secretRefF("secretRef", "armored OpenPGP public keys (any key, as in Flux; `*.asc` by convention) and SSH "+
					"public keys (`*.sshpub`), read in the GitRepository's namespace").req(),
			),
			refF("proxySecretRef", noteProxy, "").only("v1"),
			mapF("ignore", tString, noteIgnoreMapped),
			mapF("suspend", tBool, noteSuspend),
			mapF("recurseSubmodules", tBool, "check out submodules with the repository's credentials"),
			mapF("include", tObjects, "copy a path of another GitRepository of the same namespace into the checkout "+
				"before render, in order; the included one's URL, `ref` and `secretRef` are used, and its `verify`, "+
				"`include`, `sparseCheckout`, `recurseSubmodules` and `ignore` are refused there").sub(
				mapF("repository", tObject, "the GitRepository").req().sub(mapF("name", tString, "its name").req()),
				mapF("fromPath", tString, "path in the included repository; default its root"),
				mapF("toPath", tString, "path in the checkout; default the included GitRepository's name"),
			),
			mapF("sparseCheckout", tStrings, "fetch and check out only these directories").only("v1"),
			ignF("gitImplementation", tString, noteGitImpl).only("v1beta2", "v1beta1"),
			ignF("accessFrom", tAny, noteAccessFrom).only("v1beta2", "v1beta1"),
		}},
		{group: SourceGroup, kind: KindOCIRepository, versions: []string{"v1", "v1beta2"}, spec: []field{
			mapF("url", tString, "`oci://host/repository`").req().match(`^oci://`, "an oci:// URL"),
			mapF("ref", tObject, "which artifact: digest, else the highest tag in semver (filtered by semverFilter), "+
				"else tag; default tag `latest`").sub(
				mapF("digest", tString, "a digest"),
				mapF("semver", tString, "a semver range"),
				mapF("semverFilter", tString, "a regular expression tags must match"),
				mapF("tag", tString, "a tag"),
			),
			mapF("layerSelector", tObject, "which layer to use").sub(
				mapF("mediaType", tString, "media type of the layer; default the first layer"),
				mapF("operation", tString, "`extract` (default) or `copy`").oneOf(OCILayerExtract, OCILayerCopy),
			),
			ignF("provider", tString, "`generic` is what gitsync does").
				oneOf("generic", "aws", "azure", "gcp").refusing(noteProvider, refuseUnlessGeneric),
			secretRefF("secretRef", "registry credentials (`.dockerconfigjson`)"),
			cosignVerifyF("the OCIRepository's", "check the artifact's cosign signature before anything of it is applied; a "+
				"layer whose digest does not match is always refused"),
			refF("serviceAccountName", noteCloudSA, ""),
			secretRefF("certSecretRef", "`tls.crt`, `tls.key`, `ca.crt`"),
			refF("proxySecretRef", noteProxy, ""),
			ignF("interval", tDuration, noteInterval).req(),
			mapF("timeout", tDuration, noteTimeout),
			mapF("ignore", tString, noteIgnoreMapped),
			mapF("insecure", tBool, "plain HTTP to the registry"),
			mapF("suspend", tBool, noteSuspend),
		}},
		{group: SourceGroup, kind: KindHelmRepository, versions: sourceVersions, spec: []field{
			mapF("url", tString, "`http(s)://` (a repository with an `index.yaml`) or `oci://`").req().match(`^(http|https|oci)://`, "an http://, https:// or oci:// URL"),
			secretRefF("secretRef", "`username`/`password`; for OCI also `.dockerconfigjson`"),
			secretRefF("certSecretRef", "`tls.crt`, `tls.key`, `ca.crt`; wins over TLS keys in `secretRef`").only("v1", "v1beta2"),
			mapF("passCredentials", tBool, "send the credentials to chart URLs on other hosts"),
			ignF("interval", tDuration, noteInterval),
			mapF("insecure", tBool, "plain HTTP to an OCI registry").only("v1", "v1beta2"),
			mapF("timeout", tDuration, "bounds one index download or registry operation; default 60s"),
			mapF("suspend", tBool, noteSuspend),
			ignF("accessFrom", tAny, noteAccessFrom),
			mapF("type", tString, "`default` or `oci`; must agree with the URL").only("v1", "v1beta2").
				oneOf(HelmRepositoryDefault, HelmRepositoryOCI),
			ignF("provider", tString, "`generic` is what gitsync does").only("v1", "v1beta2").
				oneOf("generic", "aws", "azure", "gcp").refusing(noteProvider, refuseUnlessGeneric),
		}},
		{group: SourceGroup, kind: KindHelmChart, versions: sourceVersions, spec: []field{
			mapF("chart", tString, "chart name, or path in a Git or bucket source").req(),
			mapF("version", tString, "semver range; default `*`"),
			mapF("sourceRef", tObject, "the HelmRepository, GitRepository or Bucket, in the HelmChart's namespace").req().sub(
				ignF("apiVersion", tString, noteRefAPIVersion),
				mapF("kind", tString, "kind").req().oneOf(KindHelmRepository, KindGitRepository, KindBucket),
				mapF("name", tString, "name").req(),
			),
			ignF("interval", tDuration, noteInterval).req(),
			mapF("reconcileStrategy", tString, "`ChartVersion` (default): a chart from Git or a bucket is "+
				"rendered again only when its version changes; `Revision`: at every new revision").
				oneOf(ReconcileStrategyChartVersion, ReconcileStrategyRevision),
			mapF("valuesFiles", tStrings, "files replacing the chart's `values.yaml`, merged in order"),
			mapF("valuesFile", tString, "put in front of `valuesFiles`, as Flux merges it first").only("v1beta2", "v1beta1"),
			mapF("ignoreMissingValuesFiles", tBool, "skip listed files that do not exist").only("v1", "v1beta2"),
			mapF("suspend", tBool, noteSuspend),
			cosignVerifyF("the HelmChart's", noteChartVerify),
			ignF("accessFrom", tAny, noteAccessFrom).only("v1beta2", "v1beta1"),
		}},
		{group: SourceGroup, kind: KindBucket, versions: sourceVersions, spec: []field{
			ignF("provider", tString, "`generic` (S3 API) is what gitsync does").
				oneOf("generic", "aws", "gcp", "azure").refusing(noteProvider, refuseUnlessGeneric),
			mapF("bucketName", tString, "the bucket").req(),
			mapF("endpoint", tString, "the server, `host[:port]`").req(),
			refF("sts", "temporary credentials from a security token service", "").only("v1", "v1beta2"),
			mapF("insecure", tBool, "plain HTTP"),
			mapF("region", tString, "region of the bucket"),
			mapF("prefix", tString, "only keys with this prefix").only("v1", "v1beta2"),
			secretRefF("secretRef", "`accesskey` and `secretkey`"),
			refF("serviceAccountName", noteCloudSA, "").only("v1"),
			secretRefF("certSecretRef", "`tls.crt`, `tls.key`, `ca.crt`").only("v1", "v1beta2"),
			refF("proxySecretRef", noteProxy, "").only("v1", "v1beta2"),
			ignF("interval", tDuration, noteInterval).req(),
			mapF("timeout", tDuration, noteTimeout),
			mapF("ignore", tString, noteIgnoreMapped),
			mapF("suspend", tBool, noteSuspend),
			ignF("accessFrom", tAny, noteAccessFrom).only("v1beta2", "v1beta1"),
		}},
		{group: KustomizeGroup, kind: KindKustomization, versions: kustomizeVersions, spec: []field{
			commonMetadataF().only("v1", "v1beta2"),
			dependsOnF("Kustomization", "v1"),
			mapF("decryption", tObject, noteDecryption).sub(
				mapF("provider", tString, "`sops`, the only provider").req().oneOf("sops"),
				secretRefF("secretRef", "age identities (`*.agekey`) and OpenPGP private keys (`*.asc`), in the "+
					"Kustomization's namespace. Without it, the keys of the sync's own `spec.decryption` are used, as "+
					"kustomize-controller uses its controller-level keys (`--sops-age-secret`): none when the sync "+
					"has no `spec.decryption`; refused for a Kustomization of another namespace than the sync's when "+
					"the namespace's lockdown refuses cross-namespace references"),
				refF("serviceAccountName", noteCloudSA, "").only("v1"),
			),
			ignF("interval", tDuration, noteIntervalTimeout).req(),
			ignF("retryInterval", tDuration, noteRetryInterval),
			kubeConfigF(),
			mapF("path", tString, "directory in the source; default the root"),
			mapF("postBuild", tObject, "variable substitution, with Flux's own library").sub(
				mapF("substituteStrategy", tString, "`WithVariables` (default): substitute when a variable is defined; "+
					"`Always`").only("v1").oneOf(SubstituteWithVariables, SubstituteAlways),
				mapF("substitute", tStringMap, "inline variables; they win over `substituteFrom`"),
				mapF("substituteFrom", tObjects, "ConfigMaps and Secrets in the Kustomization's namespace").sub(
					mapF("kind", tString, "`ConfigMap` or `Secret`").req().oneOf("ConfigMap", "Secret"),
					mapF("name", tString, "name").req(),
					mapF("optional", tBool, "a missing object counts as empty").only("v1", "v1beta2"),
				),
			),
			mapF("prune", tBool, "delete what an earlier run applied and the render no longer has (no default, as in Flux)").req(),
			mapF("deletionPolicy", tString, "what removing the Kustomization does to its objects: `MirrorPrune` "+
				"(default: delete them when `prune` is true), `Delete`, `WaitForTermination`, `Orphan`").only("v1").
				oneOf(DeletionPolicyMirrorPrune, DeletionPolicyDelete, DeletionPolicyWaitForTermination, DeletionPolicyOrphan),
			mapF("healthChecks", tObjects, "objects that must become ready when `wait` is false").sub(
				mapF("apiVersion", tString, "API version; default the server's preferred one"),
				mapF("kind", tString, "kind").req(),
				mapF("name", tString, "name").req(),
				mapF("namespace", tString, "namespace"),
			),
			mapF("namePrefix", tString, "prefix of every object's name").only("v1"),
			mapF("nameSuffix", tString, "suffix of every object's name").only("v1"),
			patchesF(),
			patchesSMF().only("v1beta2", "v1beta1"),
			patchesJSONF().only("v1beta2", "v1beta1"),
			imagesF(),
			mapF("serviceAccountName", tString, noteSAName),
			mapF("sourceRef", tObject, "the source to render from").req().sub(
				ignF("apiVersion", tString, noteRefAPIVersion),
				mapF("kind", tString, "`GitRepository`, `OCIRepository`, `Bucket`, or `ExternalArtifact`: an artifact of an "+
					"ArtifactGenerator of the run").req().
					oneOf(KindGitRepository, KindOCIRepository, KindBucket, KindExternalArtifact),
				mapF("name", tString, "name").req(),
				mapF("namespace", tString, "namespace; default the Kustomization's (see `--no-cross-namespace-refs` under [Order](#order))"),
			),
			mapF("suspend", tBool, "the unit is not run; what it applied stays as it is"),
			mapF("targetNamespace", tString, "namespace of every namespaced object"),
			mapF("timeout", tDuration, "bounds apply, health checks and prune; default `interval` minus 30s, at least 30s, as Flux"),
			mapF("force", tBool, "recreate objects whose update hits an immutable field"),
			mapF("wait", tBool, "wait for every applied object to become ready").only("v1", "v1beta2"),
			refF("buildMetadata", "kustomize build metadata annotations", "").only("v1"),
			mapF("components", tStrings, "kustomize Components, relative to `path`").only("v1", "v1beta2"),
			mapF("ignoreMissingComponents", tBool, "drop components that do not exist").only("v1"),
			healthCheckExprsF("v1"),
			ignoreRulesF("fields of existing objects that gitsync leaves to other writers once it no longer owns them, " +
				"at every apply (see [Ignore rules](#ignore-rules))").only("v1"),
			ignF("validation", tString, "gitsync applies server-side, so the API server validates every object; "+
				"Flux ignores the field since v1beta2").only("v1beta2", "v1beta1").oneOf("none", "client", "server"),
		}},
		{group: HelmGroup, kind: KindHelmRelease, versions: helmVersions, spec: []field{
			mapF("chart", tObject, "a chart from a HelmRepository, GitRepository or Bucket; exactly one of `chart` and `chartRef`").sub(
				ignF("metadata", tObject, "labels and annotations of the HelmChart helm-controller would create; "+
					"gitsync creates none").sub(
					ignF("labels", tStringMap, ""),
					ignF("annotations", tStringMap, ""),
				),
				mapF("spec", tObject, "the chart").req().sub(
					mapF("chart", tString, "chart name, or path in a Git or bucket source").req(),
					mapF("version", tString, "semver range; default `*`"),
					mapF("sourceRef", tObject, "where the chart comes from").req().sub(
						ignF("apiVersion", tString, noteRefAPIVersion),
						mapF("kind", tString, "`HelmRepository`, `GitRepository` or `Bucket`").req().
							oneOf(KindHelmRepository, KindGitRepository, KindBucket),
						mapF("name", tString, "name").req(),
						mapF("namespace", tString, "namespace; default the HelmRelease's"),
					),
					ignF("interval", tDuration, noteInterval),
					mapF("reconcileStrategy", tString, "`ChartVersion` (default) or `Revision`, as HelmChart's").
						oneOf(ReconcileStrategyChartVersion, ReconcileStrategyRevision),
					mapF("valuesFiles", tStrings, "files replacing the chart's `values.yaml`, merged in order"),
					mapF("valuesFile", tString, "put in front of `valuesFiles`").only("v2beta2", "v2beta1"),
					mapF("ignoreMissingValuesFiles", tBool, "skip listed files that do not exist").only("v2"),
					cosignVerifyF("the HelmRepository's", noteChartVerify),
				),
			),
			mapF("chartRef", tObject, "an OCIRepository, HelmChart or ExternalArtifact holding the chart").sub(
				ignF("apiVersion", tString, noteRefAPIVersion),
				mapF("kind", tString, "`OCIRepository`, `HelmChart`, or `ExternalArtifact` (an ArtifactGenerator's artifact "+
					"with the chart's directory at its root, rendered again at every new artifact)").req().
					oneOf(KindOCIRepository, KindHelmChart, KindExternalArtifact),
				mapF("name", tString, "name").req(),
				mapF("namespace", tString, "namespace; default the HelmRelease's"),
			),
			ignF("interval", tDuration, noteInterval).req(),
			kubeConfigF(),
			mapF("suspend", tBool, "the unit is not run; what it applied stays as it is"),
			mapF("releaseName", tString, "`.Release.Name`; default `[targetNamespace-]name`, shortened to 53 characters "+
				"with a hash as helm-controller does"),
			mapF("targetNamespace", tString, "the release namespace; default the HelmRelease's"),
			mapF("storageNamespace", tString, "kept with its default (the HelmRelease's namespace) for `convert`; "+
				"gitsync writes no Helm release Secrets: the unit's inventory and history are the record"),
			dependsOnF("HelmRelease", "v2"),
			mapF("timeout", tDuration, "bounds each wait and hook of an action; default 5m"),
			ignF("maxHistory", tInt, "gitsync keeps the unit's own history (the last 10 runs) and writes no Helm releases"),
			mapF("serviceAccountName", tString, noteSAName),
			ignF("persistentClient", tBool, "a detail of helm-controller's Kubernetes client"),
			mapF("driftDetection", tObject, "what a run does about drift when nothing of the unit changed").sub(
				mapF("mode", tString, "`enabled`: drift is corrected; `warn`: drift is reported (log, the unit's message) "+
					"and left; `disabled`: drift is not looked for. Not set: `disabled`, helm-controller's default (a Kustomization "+
					"always corrects drift, as kustomize-controller does)").oneOf(DriftEnabled, DriftWarn, DriftDisabled),
				ignoreRulesF("fields of existing objects that a drift correction leaves to other writers once gitsync "+
					"no longer owns them; an upgrade (a new chart, values or spec) applies every field, as helm-controller "+
					"does (see [Ignore rules](#ignore-rules))"),
			),
			mapF("install", tObject, "the first run of the unit").sub(helmActionFields(true)...),
			mapF("upgrade", tObject, "every later run").sub(helmActionFields(false)...),
			mapF("test", tObject, "the chart's tests (hooks of the `test` event) after each install or upgrade; not "+
				"after a run that only corrects drift, as helm-controller runs them after its actions only").sub(
				mapF("enable", tBool, "run the tests"),
				mapF("timeout", tDuration, "bounds the tests together; default `spec.timeout`"),
				mapF("ignoreFailures", tBool, "a failed test is named in the unit's message and does not fail the unit"),
				mapF("filters", tObjects, "choose tests by their object's name").only("v2", "v2beta2").sub(
					mapF("name", tString, "a test's `metadata.name`").req(),
					mapF("exclude", tBool, "skip the test so named; when every entry excludes, all other tests run"),
				),
			),
			ignF("rollback", tObject, "gitsync does not roll back by itself: a failed run leaves the objects as "+
				"applied and the next run tries again; `kubectl gitsync rollback` pins a recorded revision").sub(
				ignF("timeout", tDuration, ""),
				ignF("disableWait", tBool, ""),
				ignF("disableWaitForJobs", tBool, ""),
				ignF("disableHooks", tBool, ""),
				ignF("recreate", tBool, ""),
				ignF("force", tBool, ""),
				ignF("cleanupOnFail", tBool, ""),
				ignF("serverSideApply", tString, "").only("v2").oneOf("enabled", "disabled", "auto"),
			),
			ignF("uninstall", tObject, "removing a HelmRelease from Git prunes its objects like any unit, "+
				"with background propagation and without Helm's uninstall hooks").sub(
				ignF("timeout", tDuration, ""),
				ignF("disableHooks", tBool, ""),
				ignF("keepHistory", tBool, ""),
				ignF("disableWait", tBool, ""),
				ignF("deletionPropagation", tString, "").oneOf("background", "foreground", "orphan").
					refusing("`foreground` and `orphan` are refused: prune deletes with background propagation", refuseExcept("prune deletes with background propagation", "background")),
			),
			mapF("valuesFrom", tObjects, "values from ConfigMaps and Secrets in the HelmRelease's namespace, merged in order").sub(
				mapF("kind", tString, "`ConfigMap` or `Secret`").req().oneOf("ConfigMap", "Secret"),
				mapF("name", tString, "name").req(),
				mapF("valuesKey", tString, "data key; default `values.yaml`"),
				mapF("targetPath", tString, "put the key's content at this path instead of merging it"),
				mapF("optional", tBool, "tolerate a missing object or key"),
				ignF("literal", tBool, "false is what gitsync does").only("v2").
					refusing("`true` is refused: not supported yet", refuseTrue("literal values are not supported yet")),
			),
			mapF("values", tFree, "values merged over `valuesFrom`"),
			commonMetadataF().only("v2"),
			mapF("postRenderers", tObjects, "kustomize patches and images applied to the rendered chart, in order").sub(
				mapF("kustomize", tObject, "a kustomize post-renderer").sub(
					patchesF(),
					patchesSMF().only("v2beta2", "v2beta1"),
					patchesJSONF().only("v2beta2", "v2beta1"),
					imagesF(),
				),
			),
			mapF("postRenderStrategy", tString, "`combined` (default), `separate` or `nohooks`").only("v2").
				oneOf("nohooks", "combined", "separate"),
			ignF("waitStrategy", tObject, "gitsync waits with kstatus, which is Flux's `poller`").only("v2").sub(
				ignF("name", tString, "").req().oneOf("poller", "legacy"),
			),
			healthCheckExprsF("v2"),
		}},
	}, append(append(generatorSchemas(), imageSchemas()...), notificationSchemas()...)...)
})

// helmActionFields are the fields of a HelmRelease's install (or upgrade).
func helmActionFields(install bool) []field {
	action := "upgrade"
	crds := mapF("crds", tString, "CRDs of the chart's `crds/`: `Create` (default), `CreateReplace` or `Skip`. "+
		"Flux's API documentation gives `Skip` as the upgrade default, but helm-controller applies `Create` to "+
		"both actions, and so does gitsync")
	if install {
		action = "install"
		crds.note = "CRDs of the chart's `crds/`: `Create` (default), `CreateReplace` or `Skip`"
	}
	fs := []field{
		mapF("timeout", tDuration, "timeout of the "+action+"; default `spec.timeout`"),
		ignF("strategy", tObject, noteRetryInterval).only("v2").sub(
			ignF("name", tString, "").req().oneOf("RemediateOnFailure", "RetryOnFailure"),
			ignF("retryInterval", tDuration, ""),
		),
		mapF("remediation", tObject, "only `ignoreTestFailures` has an effect").sub(remediationFields(install)...),
		ignF("disableTakeOwnership", tBool, "false is what gitsync does").
			only("v2").refusing("`true` is refused: server-side apply takes over what gitsync applies",
			refuseTrue("gitsync takes ownership of existing objects (server-side apply)")),
		mapF("disableWait", tBool, "do not wait for the release's objects (Flux waits by default, so does gitsync)"),
		mapF("disableWaitForJobs", tBool, "do not wait for Jobs to complete"),
		mapF("disableHooks", tBool, "do not run the chart's hooks"),
		ignF("disableOpenAPIValidation", tBool, "gitsync applies server-side: the API server validates every object"),
		mapF("disableSchemaValidation", tBool, "skip `values.schema.json`").only("v2"),
		crds.oneOf("Skip", "Create", "CreateReplace"),
	}
	if install {
		return append(fs,
			ignF("replace", tBool, "re-using a deleted release's name is a Helm storage matter; gitsync writes none"),
			ignF("skipCRDs", tBool, "deprecated, and helm-controller no longer reads it; `true` without `crds` is "+
				"refused, so that nobody believes CRDs are skipped: write `crds: Skip` (or `Create`, what Flux does)"),
			mapF("createNamespace", tBool, "create the release namespace"),
			ignF("serverSideApply", tBool, "true is what gitsync does").only("v2").
				refusing("`false` is refused: gitsync always applies server-side", func(v any) string {
					if b, ok := v.(bool); ok && !b {
						return "gitsync always applies server-side"
					}
					return ""
				}),
		)
	}
	return append(fs,
		ignF("force", tBool, "Flux ignores it under server-side apply too; for immutable fields see a Kustomization's `force`"),
		refF("preserveValues", "re-using the last release's values is not declarative", ""),
		ignF("cleanupOnFail", tBool, "objects of a failed run stay in the unit's inventory; the next successful "+
			"run prunes what is no longer rendered"),
		ignF("serverSideApply", tString, "`enabled` and `auto` are what gitsync does").only("v2").
			oneOf("enabled", "disabled", "auto").
			refusing("`disabled` is refused: gitsync always applies server-side", refuseExcept("gitsync always applies server-side", "enabled", "auto")),
		ignF("chartNameChangeStrategy", tString, "a renamed chart is rendered like any other change; objects it "+
			"no longer has are pruned").only("v2").oneOf("InPlaceUpdate", "Reinstall"),
	)
}

func remediationFields(install bool) []field {
	const noRemediation = "gitsync neither retries within a run nor rolls back or uninstalls by itself: the next run tries again"
	fs := []field{
		ignF("retries", tInt, noRemediation),
		mapF("ignoreTestFailures", tBool, "failed tests after this action do not fail the unit; default `spec.test.ignoreFailures`"),
		ignF("remediateLastFailure", tBool, noRemediation),
	}
	if !install {
		fs = append(fs, ignF("strategy", tString, noRemediation).oneOf("rollback", "uninstall"))
	}
	return fs
}

// schemaFor returns the schema of kind in group, or nil.
func schemaFor(group, kind string) *kindSchema {
	for _, list := range [][]*kindSchema{schemas(), operatorSchemas()} {
		for _, s := range list {
			if s.group == group && s.kind == kind {
				return s
			}
		}
	}
	return nil
}
