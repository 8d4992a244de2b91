package flux

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gitsync/gitsync/pkg/spec"
)

// The Flux Operator's ResourceSet and ResourceSetInputProvider
// (fluxcd.controlplane.io, docs/resourceset.md). A ResourceSet is a unit:
// its render evaluates its templates once per input set (resourceset_build.go)
// and the run applies, prunes, waits for and records the objects as a
// Kustomization's. A ResourceSetInputProvider is read like a source: the
// ResourceSets naming it in inputsFrom read its inputs. Only providers of
// type Static are run; a ResourceSet reading another type fails, naming it.

// OperatorGroup is the API group of the Flux Operator's kinds.
const OperatorGroup = "fluxcd.controlplane.io"

// The Flux Operator's kinds this package decodes.
const (
	KindResourceSet              = "ResourceSet"
	KindResourceSetInputProvider = "ResourceSetInputProvider"
)

// Values of the Flux Operator's fields that callers branch on.
const (
	// InputProviderStatic exports one input set: its defaultValues and
	// an id.
	InputProviderStatic = "Static"
	// InputStrategyFlatten concatenates the input sets of the
	// ResourceSet and of its providers (the default).
	InputStrategyFlatten = "Flatten"
	// InputStrategyPermute makes the Cartesian product of them, each
	// provider's set under its normalised name.
	InputStrategyPermute = "Permute"
	// DefaultResourceSetTimeout bounds a ResourceSet's pass when its
	// fluxcd.controlplane.io/reconcileTimeout annotation does not, as
	// the Flux Operator.
	DefaultResourceSetTimeout = 5 * time.Minute
	// MaxPermutations is the Flux Operator's limit on the input sets
	// Permute makes.
	MaxPermutations = 10000
)

// Annotations of the Flux Operator that a run reads.
const (
	// AnnotationOperatorReconcile set to "disabled" on a ResourceSet
	// suspends it; on a generated object, leaves it out of the set.
	AnnotationOperatorReconcile = OperatorGroup + "/reconcile"
	// AnnotationOperatorTimeout is a ResourceSet's timeout.
	AnnotationOperatorTimeout = OperatorGroup + "/reconcileTimeout"
)

// operatorRefusedAnnotations are annotations of generated objects that ask
// the Flux Operator for work gitsync does not do; an object carrying one
// fails the ResourceSet rather than being applied without it.
var operatorRefusedAnnotations = map[string]string{
	OperatorGroup + "/copyFrom":              "copying a ConfigMap's or Secret's data from another object is not supported",
	OperatorGroup + "/convertKubeConfigFrom": "converting a kubeconfig from another object is not supported",
	OperatorGroup + "/checksumFrom":          "checksums of other objects are not supported",
}

var operatorVersions = []string{"v1"}

// ResourceSet is a fluxcd.controlplane.io ResourceSet.
type ResourceSet struct {
	Meta
	// Inputs are spec.inputs, as written.
	Inputs []map[string]any
	// InputsFrom are the providers of more input sets.
	InputsFrom []ProviderRef
	// InputStrategy is InputStrategyFlatten (default) or
	// InputStrategyPermute; IncludeEmptyProviders its includeEmptyProviders.
	InputStrategy         string
	IncludeEmptyProviders bool
	// Resources are spec.resources, templates of one object each;
	// ResourcesTemplate spec.resourcesTemplate, a multi-document one.
	Resources         []map[string]any
	ResourcesTemplate string
	// CommonMetadata is set on every generated object; nil for none.
	CommonMetadata *spec.CommonMetadata
	// DependsOn are the units that must be done first (Kustomizations,
	// HelmReleases and ResourceSets of the run); ReadyExprs holds ReadyWhenDone
	// for those named without ready: true, which need only exist.
	DependsOn  []ID
	ReadyExprs map[ID]string
	// ServiceAccountName is impersonated for the generated objects.
	ServiceAccountName string
	// Wait waits for the generated objects' health.
	Wait bool
	// Timeout bounds the unit's pass.
	Timeout time.Duration
	// Disabled is set by the annotation fluxcd.controlplane.io/reconcile:
	// disabled: the ResourceSet is suspended.
	Disabled bool
}

// ProviderRef is one entry of a ResourceSet's spec.inputsFrom: a provider
// of the ResourceSet's namespace by Name, or those Selector matches.
type ProviderRef struct {
	Name     string
	Selector labels.Selector
}

// ResourceSetInputProvider is a fluxcd.controlplane.io
// ResourceSetInputProvider.
type ResourceSetInputProvider struct {
	Meta
	// Type is spec.type; only InputProviderStatic is run.
	Type string
	// DefaultValues are spec.defaultValues.
	DefaultValues map[string]any
}

// Dependencies implements Unit.
func (rs *ResourceSet) Dependencies() []ID { return rs.DependsOn }

// SourceRef implements Unit: a ResourceSet reads no source, its providers
// are found by Graph.Sources.
func (rs *ResourceSet) SourceRef() ID { return ID{} }

// Suspended implements Unit.
func (rs *ResourceSet) Suspended() bool { return rs.Disabled }

// DependencyReadyExprs implements ReadyExprs.
func (rs *ResourceSet) DependencyReadyExprs() map[ID]string { return rs.ReadyExprs }

// isOperatorObject reports whether a kind of group is one of the Flux
// Operator kinds a run executes or reads (others, such as FluxInstance,
// are applied as they are).
func isOperatorObject(group, kind string) bool {
	return group == OperatorGroup && (kind == KindResourceSet || kind == KindResourceSetInputProvider)
}

// resourceSetSources returns the providers ResourceSet rs reads: its
// inputsFrom by name (each must be in the graph, else ErrNotFound) and by
// selector (those of its namespace the graph holds), each once, ordered by
// namespace and name as the Flux Operator orders them.
func (g *Graph) resourceSetSources(rs *ResourceSet) ([]Object, error) {
	seen := map[ID]bool{}
	var out []Object
	for i, ref := range rs.InputsFrom {
		if ref.Name != "" {
			id := ID{Kind: KindResourceSetInputProvider, Namespace: rs.ID.Namespace, Name: ref.Name}
			o, ok := g.objects[id]
			if !ok {
				return nil, fmt.Errorf("%s: spec.inputsFrom[%d] %s: %w in this run", rs.ID, i, id, ErrNotFound)
			}
			if !seen[id] {
				seen[id] = true
				out = append(out, o)
			}
			continue
		}
		for id, o := range g.objects {
			if id.Kind != KindResourceSetInputProvider || id.Namespace != rs.ID.Namespace || seen[id] {
				continue
			}
			if ref.Selector.Matches(labels.Set(o.Metadata().Labels)) {
				seen[id] = true
				out = append(out, o)
			}
		}
	}
	slices.SortFunc(out, func(a, b Object) int {
		return strings.Compare(a.Metadata().ID.String(), b.Metadata().ID.String())
	})
	return out, nil
}

// resourceSetUnitKinds are the kinds a ResourceSet's dependsOn may name:
// units of the run, by group.
var resourceSetUnitKinds = map[string]string{
	KindKustomization: KustomizeGroup,
	KindHelmRelease:   HelmGroup,
	KindResourceSet:   OperatorGroup,
}

const (
	noteRSDependsOn = "units of this run that must be done first: Kustomizations, HelmReleases and ResourceSets; " +
		"with `ready: true` they must have succeeded (see [Order](flux.md#order)), without it only have run. " +
		"Other kinds (objects in the cluster) are refused"
	noteRSProviderOther = "used by provider types gitsync does not run: a ResourceSet reading such a provider fails, naming it"
)

// resourceSetSchemas are the schemas of the Flux Operator's kinds. They
// are kept apart from schemas() because docs/flux.md's generated tables
// cover Flux's own kinds; docs/resourceset.md documents these.
func resourceSetSchemas() []*kindSchema {
	return []*kindSchema{
		{group: OperatorGroup, kind: KindResourceSet, versions: operatorVersions, spec: []field{
			commonMetadataF(),
			mapF("inputStrategy", tObject, "how the input sets of the ResourceSet and its providers combine").sub(
				mapF("name", tString, "`Flatten` (default) or `Permute`").req().oneOf(InputStrategyFlatten, InputStrategyPermute),
				mapF("includeEmptyProviders", tBool, "with `Permute`, a provider without inputs makes no set at all"),
			),
			mapF("inputs", tFreeList, "input sets, `<< inputs.KEY >>` in the templates"),
			mapF("inputsFrom", tObjects, "ResourceSetInputProviders of the ResourceSet's namespace, found in the run").sub(
				mapF("apiVersion", tString, "`fluxcd.controlplane.io/v1`").oneOf(OperatorGroup+"/v1"),
				mapF("kind", tString, "`ResourceSetInputProvider`").oneOf(KindResourceSetInputProvider),
				mapF("name", tString, "the provider's name; or selector"),
				mapF("selector", tObject, "the providers whose labels match").sub(
					mapF("matchLabels", tStringMap, "labels"),
					mapF("matchExpressions", tObjects, "label expressions").sub(
						mapF("key", tString, "label").req(),
						mapF("operator", tString, "operator").req().oneOf("In", "NotIn", "Exists", "DoesNotExist"),
						mapF("values", tStrings, "values"),
					),
				),
			),
			mapF("resources", tFreeList, "objects, each a template evaluated once per input set"),
			mapF("resourcesTemplate", tString, "a multi-document YAML template evaluated once per input set"),
			refF("steps", "steps applied one after the other, each waited for: not run by gitsync yet; "+
				"use `resources` or `resourcesTemplate`, and `dependsOn` between ResourceSets", ""),
			mapF("dependsOn", tObjects, noteRSDependsOn).sub(
				mapF("apiVersion", tString, "group/version of the dependency").req(),
				mapF("kind", tString, "`Kustomization`, `HelmRelease` or `ResourceSet`").req().
					refusing("other kinds are refused", func(v any) string {
						if _, ok := resourceSetUnitKinds[v.(string)]; ok {
							return ""
						}
						return fmt.Sprintf("a %s is not a unit of the run: gitsync orders units of the run only "+
							"(Kustomization, HelmRelease, ResourceSet), and does not wait for objects in the cluster", v)
					}),
				mapF("name", tString, "name").req(),
				mapF("namespace", tString, "namespace; default the ResourceSet's"),
				mapF("ready", tBool, "the dependency must have succeeded in this run; without it, only have run"),
				refF("readyExpr", "the Flux Operator evaluates it over the dependency's object in the cluster, which "+
					"gitsync does not create; use `ready: true`", ""),
			),
			mapF("serviceAccountName", tString, noteSAName),
			mapF("wait", tBool, "wait for every generated object's health, within the timeout "+
				"(annotation `fluxcd.controlplane.io/reconcileTimeout`, default 5m)"),
		}},
		{group: OperatorGroup, kind: KindResourceSetInputProvider, versions: operatorVersions, spec: []field{
			mapF("type", tString, "`Static` is run; any other type fails the ResourceSets reading the provider").req().oneOf(
				InputProviderStatic, "GitHubBranch", "GitHubTag", "GitHubPullRequest", "GitLabBranch", "GitLabTag",
				"GitLabMergeRequest", "GitLabEnvironment", "AzureDevOpsBranch", "AzureDevOpsPullRequest", "AzureDevOpsTag",
				"AWSCodeCommitBranch", "AWSCodeCommitTag", "AWSCodeCommitPullRequest", "GiteaBranch", "GiteaTag",
				"GiteaPullRequest", "OCIArtifactTag", "ACRArtifactTag", "ECRArtifactTag", "GARArtifactTag",
				"ExternalService", "ExternalArtifact"),
			mapF("defaultValues", tFree, "the input set a Static provider exports, with `id`"),
			ignF("url", tString, noteRSProviderOther),
			ignF("serviceAccountName", tString, noteRSProviderOther),
			ignF("secretRef", tObject, noteRSProviderOther).sub(ignF("name", tString, "").req()),
			ignF("certSecretRef", tObject, noteRSProviderOther).sub(ignF("name", tString, "").req()),
			ignF("insecure", tBool, noteRSProviderOther),
			ignF("filter", tObject, noteRSProviderOther).sub(
				ignF("includeBranch", tString, ""), ignF("excludeBranch", tString, ""),
				ignF("includeTag", tString, ""), ignF("excludeTag", tString, ""),
				ignF("includeEnvironment", tString, ""), ignF("excludeEnvironment", tString, ""),
				ignF("labels", tStrings, ""), ignF("limit", tInt, ""), ignF("semver", tString, ""),
			),
			ignF("skip", tObject, noteRSProviderOther).sub(ignF("labels", tStrings, "")),
			ignF("schedule", tFreeList, noteRSProviderOther),
			ignF("selectors", tFreeList, noteRSProviderOther),
		}},
	}
}

func decodeResourceSet(d *decoder, meta Meta, r reader) *ResourceSet {
	ns := meta.ID.Namespace
	rs := &ResourceSet{
		Meta:               meta,
		Inputs:             r.freeList("inputs"),
		InputStrategy:      orDefault(r.obj("inputStrategy").str("name"), InputStrategyFlatten),
		Resources:          r.freeList("resources"),
		ResourcesTemplate:  r.str("resourcesTemplate"),
		CommonMetadata:     commonMetadata(r),
		ServiceAccountName: r.str("serviceAccountName"),
		Wait:               r.boolean("wait"),
		Timeout:            DefaultResourceSetTimeout,
		Disabled:           strings.EqualFold(meta.Annotations[AnnotationOperatorReconcile], "disabled"),
	}
	if len(rs.Inputs) == 0 {
		rs.Inputs = nil
	}
	if len(rs.Resources) == 0 {
		rs.Resources = nil
	}
	rs.IncludeEmptyProviders = r.obj("inputStrategy").boolean("includeEmptyProviders")
	if s, ok := meta.Annotations[AnnotationOperatorTimeout]; ok {
		t, err := time.ParseDuration(s)
		if err != nil || t <= 0 {
			d.errorf("metadata.annotations."+AnnotationOperatorTimeout, ErrInvalid, "%q is not a duration such as 30s, 5m or 1h30m", s)
		} else {
			rs.Timeout = t
		}
	}
	for i, in := range r.list("inputsFrom") {
		in.str("apiVersion")
		in.str("kind")
		ref := ProviderRef{Name: in.str("name")}
		p := fmt.Sprintf("%s[%d]", r.at("inputsFrom"), i)
		if in.has("selector") == (ref.Name != "") {
			d.errorf(p, ErrInvalid, "exactly one of name and selector must be set")
			continue
		}
		if in.has("selector") {
			s, ok := d.labelSelector(in.obj("selector"), p+".selector")
			if !ok {
				continue
			}
			ref.Selector = s
		}
		rs.InputsFrom = append(rs.InputsFrom, ref)
	}
	for i, dep := range r.list("dependsOn") {
		kind := dep.str("kind")
		p := fmt.Sprintf("%s[%d]", r.at("dependsOn"), i)
		gv, err := schema.ParseGroupVersion(dep.str("apiVersion"))
		if group, ok := resourceSetUnitKinds[kind]; ok && (err != nil || gv.Group != group) {
			d.errorf(p+".apiVersion", ErrInvalid, "a %s is of group %s", kind, group)
			continue
		}
		id := ID{Kind: kind, Namespace: orDefault(dep.str("namespace"), ns), Name: dep.str("name")}
		rs.DependsOn = append(rs.DependsOn, id)
		if !dep.boolean("ready") {
			// Only that it exists: in a run, that its pass is over,
			// whatever its outcome.
			if rs.ReadyExprs == nil {
				rs.ReadyExprs = map[ID]string{}
			}
			rs.ReadyExprs[id] = ReadyWhenDone
		}
	}
	return rs
}

func decodeResourceSetInputProvider(meta Meta, r reader) *ResourceSetInputProvider {
	return &ResourceSetInputProvider{Meta: meta, Type: r.str("type"), DefaultValues: r.free("defaultValues")}
}

// ReadyWhenDone is the readyExpr of a dependency that need only have run,
// whatever its outcome: a ResourceSet's dependsOn without ready: true.
// The run judges it without evaluating CEL.
const ReadyWhenDone = "true"
