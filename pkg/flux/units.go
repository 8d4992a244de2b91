package flux

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gitsync/gitsync/pkg/apply"
	"github.com/gitsync/gitsync/pkg/health"
	"github.com/gitsync/gitsync/pkg/spec"
)

// Builders of the unit kinds. They run after the schema walk, so every
// value has its declared type; see decode.go.

func decodeKustomization(d *decoder, meta Meta, r reader) *Kustomization {
	ns := meta.ID.Namespace
	src := r.obj("sourceRef")
	k := &Kustomization{
		Meta: meta,
		Source: ID{
			Kind:      src.str("kind"),
			Namespace: orDefault(src.str("namespace"), ns),
			Name:      src.str("name"),
		},
		Path:                    orDefault(r.str("path"), "./"),
		Prune:                   r.boolean("prune"),
		DeletionPolicy:          orDefault(r.str("deletionPolicy"), DeletionPolicyMirrorPrune),
		Timeout:                 kustomizationTimeout(r),
		TargetNamespace:         r.str("targetNamespace"),
		NamePrefix:              r.str("namePrefix"),
		NameSuffix:              r.str("nameSuffix"),
		CommonMetadata:          commonMetadata(r),
		Patches:                 patches(r),
		Images:                  images(r),
		Components:              r.strs("components"),
		IgnoreMissingComponents: r.boolean("ignoreMissingComponents"),
		HealthChecks:            healthChecks(r),
		HealthCheckExprs:        healthCheckExprs(d, r),
		Force:                   r.boolean("force"),
		Ignore:                  ignoreRules(d, r),
		Wait:                    r.boolean("wait"),
		Suspend:                 r.boolean("suspend"),
		ServiceAccountName:      r.str("serviceAccountName"),
		KubeConfig:              kubeConfig(r),
	}
	k.DependsOn, k.ReadyExprs = dependsOn(d, r, KindKustomization, ns)
	if r.has("decryption") {
		d := r.obj("decryption")
		k.Decryption = &spec.Decryption{Provider: d.str("provider")}
		if d.has("secretRef") {
			k.Decryption.SecretRef = &spec.LocalObjectReference{Name: d.obj("secretRef").str("name")}
		}
	}
	if r.has("postBuild") {
		pb := r.obj("postBuild")
		k.PostBuild = &PostBuild{
			Strategy:   orDefault(pb.str("substituteStrategy"), SubstituteWithVariables),
			Substitute: pb.strMap("substitute"),
		}
		for _, s := range pb.list("substituteFrom") {
			k.PostBuild.SubstituteFrom = append(k.PostBuild.SubstituteFrom, spec.SubstituteReference{
				Kind: s.str("kind"), Name: s.str("name"), Optional: s.boolean("optional"),
			})
		}
	}
	return k
}

// kustomizationTimeout is kustomize-controller's GetTimeout: the timeout,
// else the interval minus 30s, and never less than 30s. The v1beta1 API
// type computed it differently (the interval, at least a minute), but the
// controllers of every Flux release that still serves v1beta1 read all
// versions as v1, so v1's rule is what Flux applies to them.
func kustomizationTimeout(r reader) time.Duration {
	t := r.duration("interval", 0) - 30*time.Second
	if r.has("timeout") {
		t = r.duration("timeout", 0)
	}
	return max(t, MinKustomizationTimeout)
}

// dependsOn reads spec.dependsOn: units of the same kind, namespace
// defaulted to the dependent's, and the entries' readyExpr, compiled (nil
// when none has one).
func dependsOn(d *decoder, r reader, kind, ns string) ([]ID, map[ID]string) {
	var ids []ID
	var exprs map[ID]string
	for i, dep := range r.list("dependsOn") {
		id := ID{Kind: kind, Namespace: orDefault(dep.str("namespace"), ns), Name: dep.str("name")}
		ids = append(ids, id)
		src := dep.str("readyExpr")
		if src == "" {
			continue
		}
		if _, err := health.Compile(src); err != nil {
			d.errorf(fmt.Sprintf("%s[%d].readyExpr", r.at("dependsOn"), i), ErrInvalid, "%s", err)
			continue
		}
		if exprs == nil {
			exprs = map[ID]string{}
		}
		exprs[id] = src
	}
	return ids, exprs
}

func commonMetadata(r reader) *spec.CommonMetadata {
	if !r.has("commonMetadata") {
		return nil
	}
	cm := r.obj("commonMetadata")
	return &spec.CommonMetadata{Labels: cm.strMap("labels"), Annotations: cm.strMap("annotations")}
}

// ignoreRules reads the ignore rules at r.ignore, checking each path and
// expression so that a wrong one fails the decode with its field path.
func ignoreRules(d *decoder, r reader) []apply.IgnoreRule {
	var out []apply.IgnoreRule
	for _, ir := range r.list("ignore") {
		rule := apply.IgnoreRule{Paths: ir.strs("paths")}
		if t := ir.obj("target"); t.m != nil {
			rule.Target = &apply.IgnoreTarget{
				Group: t.str("group"), Version: t.str("version"), Kind: t.str("kind"), Name: t.str("name"),
				Namespace: t.str("namespace"), LabelSelector: t.str("labelSelector"), AnnotationSelector: t.str("annotationSelector"),
			}
		}
		for _, e := range rule.Check() {
			d.errorf(ir.path+"."+e.Field, ErrInvalid, "%s", e.Msg)
		}
		out = append(out, rule)
	}
	return out
}

func selector(r reader) *spec.Selector {
	if r.m == nil {
		return nil
	}
	return &spec.Selector{
		Group:              r.str("group"),
		Version:            r.str("version"),
		Kind:               r.str("kind"),
		Name:               r.str("name"),
		Namespace:          r.str("namespace"),
		LabelSelector:      r.str("labelSelector"),
		AnnotationSelector: r.str("annotationSelector"),
	}
}

// patches reads patches, then the deprecated patchesJson6902 and
// patchesStrategicMerge in the order kustomize appends them to patches
// (kustomize's Kustomization.FixKustomization).
func patches(r reader) []spec.Patch {
	var out []spec.Patch
	for _, p := range r.list("patches") {
		out = append(out, spec.Patch{Patch: p.str("patch"), Target: selector(p.obj("target"))})
	}
	for _, p := range r.list("patchesJson6902") {
		type op struct {
			Op    string `json:"op"`
			Path  string `json:"path"`
			From  string `json:"from,omitempty"`
			Value any    `json:"value,omitempty"`
		}
		var ops []op
		for _, o := range p.list("patch") {
			ops = append(ops, op{Op: o.str("op"), Path: o.str("path"), From: o.str("from"), Value: o.raw("value")})
		}
		out = append(out, spec.Patch{Patch: mustJSON(ops), Target: selector(p.obj("target"))})
	}
	for _, obj := range r.freeList("patchesStrategicMerge") {
		out = append(out, spec.Patch{Patch: mustJSON(obj)})
	}
	return out
}

// mustJSON encodes a value built from decoded JSON, which cannot fail.
func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// kubeConfig is spec.kubeConfig, nil when not set.
func kubeConfig(r reader) *spec.KubeConfigReference {
	if !r.has("kubeConfig") {
		return nil
	}
	ref := r.obj("kubeConfig").obj("secretRef")
	return &spec.KubeConfigReference{SecretRef: &spec.SecretKeyReference{Name: ref.str("name"), Key: ref.str("key")}}
}

func images(r reader) []spec.Image {
	var out []spec.Image
	for _, i := range r.list("images") {
		out = append(out, spec.Image{Name: i.str("name"), NewName: i.str("newName"), NewTag: i.str("newTag"), Digest: i.str("digest")})
	}
	return out
}

func healthChecks(r reader) []spec.HealthCheck {
	var out []spec.HealthCheck
	for _, h := range r.list("healthChecks") {
		out = append(out, spec.HealthCheck{
			APIVersion: h.str("apiVersion"), Kind: h.str("kind"), Name: h.str("name"), Namespace: h.str("namespace"),
		})
	}
	return out
}

func decodeHelmRelease(d *decoder, meta Meta, r reader) *HelmRelease {
	ns := meta.ID.Namespace
	h := &HelmRelease{
		Meta:               meta,
		ReleaseNamespace:   orDefault(r.str("targetNamespace"), ns),
		StorageNamespace:   orDefault(r.str("storageNamespace"), ns),
		Timeout:            r.duration("timeout", DefaultHelmTimeout),
		HealthCheckExprs:   healthCheckExprs(d, r),
		Values:             r.free("values"),
		CommonMetadata:     commonMetadata(r),
		PostRenderStrategy: orDefault(r.str("postRenderStrategy"), spec.PostRenderCombined),
		DriftMode:          r.obj("driftDetection").str("mode"),
		DriftIgnore:        ignoreRules(d, r.obj("driftDetection")),
		Suspend:            r.boolean("suspend"),
		ServiceAccountName: r.str("serviceAccountName"),
		KubeConfig:         kubeConfig(r),
	}
	h.DependsOn, h.ReadyExprs = dependsOn(d, r, KindHelmRelease, ns)
	switch {
	case r.has("chart") == r.has("chartRef"):
		d.errorf("spec", ErrInvalid, "exactly one of chart and chartRef must be set")
	case r.has("chart"):
		cs := r.obj("chart").obj("spec")
		src := cs.obj("sourceRef")
		h.Chart = &ChartTemplate{
			Chart:                    cs.str("chart"),
			Version:                  orDefault(cs.str("version"), DefaultChartVersion),
			SourceRef:                ID{Kind: src.str("kind"), Namespace: orDefault(src.str("namespace"), ns), Name: src.str("name")},
			ReconcileStrategy:        orDefault(cs.str("reconcileStrategy"), ReconcileStrategyChartVersion),
			ValuesFiles:              valuesFiles(cs),
			IgnoreMissingValuesFiles: cs.boolean("ignoreMissingValuesFiles"),
			Verify:                   ociVerify(cs),
		}
	default:
		ref := r.obj("chartRef")
		h.ChartRef = ID{Kind: ref.str("kind"), Namespace: orDefault(ref.str("namespace"), ns), Name: ref.str("name")}
	}
	h.ReleaseName = r.str("releaseName")
	if len(h.ReleaseName) > MaxReleaseNameLength {
		d.errorf("spec.releaseName", ErrInvalid, "at most %d characters", MaxReleaseNameLength)
	}
	if h.ReleaseName == "" {
		h.ReleaseName = ReleaseName(r.str("targetNamespace"), meta.ID.Name)
	}
	h.Install = helmAction(d, r, "install", h.Timeout)
	h.Upgrade = helmAction(d, r, "upgrade", h.Timeout)
	if r.has("test") {
		t := r.obj("test")
		h.Test = HelmTest{
			Enable:         t.boolean("enable"),
			Timeout:        t.duration("timeout", h.Timeout),
			IgnoreFailures: t.boolean("ignoreFailures"),
		}
		for _, f := range t.list("filters") {
			h.Test.Filters = append(h.Test.Filters, spec.HelmTestFilter{Name: f.str("name"), Exclude: f.boolean("exclude")})
		}
	}
	for _, v := range r.list("valuesFrom") {
		h.ValuesFrom = append(h.ValuesFrom, spec.ValuesReference{
			Kind:       v.str("kind"),
			Name:       v.str("name"),
			ValuesKey:  orDefault(v.str("valuesKey"), spec.DefaultValuesKey),
			TargetPath: v.str("targetPath"),
			Optional:   v.boolean("optional"),
		})
	}
	for _, pr := range r.list("postRenderers") {
		if !pr.has("kustomize") {
			continue // an empty post-renderer does nothing in Flux either
		}
		k := pr.obj("kustomize")
		h.PostRenderers = append(h.PostRenderers, spec.PostRenderer{
			Kustomize: &spec.KustomizePostRenderer{Patches: patches(k), Images: images(k)},
		})
	}
	return h
}

// helmAction reads spec.install or spec.upgrade with helm-controller's
// defaults: the release's timeout, CRD policy Create (for both actions,
// as its crdPolicyOrDefault does), and waiting unless disabled.
func helmAction(d *decoder, r reader, name string, timeout time.Duration) HelmAction {
	a := r.obj(name)
	act := HelmAction{
		Timeout:                 a.duration("timeout", timeout),
		CRDs:                    orDefault(a.str("crds"), spec.CRDsCreate),
		Wait:                    !a.boolean("disableWait"),
		WaitForJobs:             !a.boolean("disableWaitForJobs"),
		DisableHooks:            a.boolean("disableHooks"),
		DisableSchemaValidation: a.boolean("disableSchemaValidation"),
		CreateNamespace:         a.boolean("createNamespace"),
	}
	if rem := a.obj("remediation"); rem.has("ignoreTestFailures") {
		b := rem.boolean("ignoreTestFailures")
		act.IgnoreTestFailures = &b
	}
	if b, _ := a.m["skipCRDs"].(bool); b && !a.has("crds") {
		d.errorf("spec."+name+".skipCRDs", ErrUnsupported, "deprecated, and helm-controller no longer reads it "+
			"(it creates the CRDs): write crds: Skip, or crds: Create for what Flux does")
	}
	return act
}

// ReleaseName returns the release name helm-controller gives a HelmRelease
// named name without spec.releaseName: [targetNamespace-]name, and when
// that is longer than MaxReleaseNameLength, its first 40 characters, a
// dash and the first 12 hex digits of its SHA-256 (helm-controller's
// release.ShortenName), so that the release Flux made is the one gitsync
// renders.
func ReleaseName(targetNamespace, name string) string {
	n := name
	if targetNamespace != "" {
		n = targetNamespace + "-" + name
	}
	if len(n) <= MaxReleaseNameLength {
		return n
	}
	const hashLen = 12
	sum := sha256.Sum256([]byte(n))
	return n[:MaxReleaseNameLength-hashLen-1] + "-" + hex.EncodeToString(sum[:])[:hashLen]
}
