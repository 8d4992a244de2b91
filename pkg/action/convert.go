package action

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/gitsync/gitsync/pkg/flux"
	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/spec"
)

// Convert turns Flux's objects into gitsync syncs: each Kustomization and
// HelmRelease, with the source it reads, becomes one Sync and the objects
// `install --export` prints for it (one CronJob per unit). This is for
// users who prefer that to running their Flux objects as units of one sync
// (docs/flux.md). Nothing is dropped silently: each field that cannot be
// converted, each field that has no effect in gitsync, and each object
// that becomes no sync is named in a Note.

// ConvertInput is one object to convert and where it came from.
type ConvertInput struct {
	// Object is the object as read.
	Object *unstructured.Unstructured
	// Origin says where it was read (file and document number, or
	// "cluster"), for notes.
	Origin string
}

// ConvertOptions say what Convert converts and how the syncs are
// installed.
type ConvertOptions struct {
	// Inputs are the objects, Flux's and others (others are named in
	// Notes and left out).
	Inputs []ConvertInput
	// DefaultNamespace is the namespace of an object that names none.
	// Default "flux-system", where flux bootstrap puts its objects.
	DefaultNamespace string
	// Install are the options of the generated objects (image, RBAC
	// mode), as install takes them. Default install's.
	Install install.Options
}

// ConvertedSync is one Sync made from one Flux unit.
type ConvertedSync struct {
	// From is the Kustomization or HelmRelease, and APIVersion its
	// apiVersion.
	From       flux.ID
	APIVersion string
	// Origin is where From was read.
	Origin string
	// Source is the Flux source it read.
	Source flux.ID
	// Sync is the sync made from it.
	Sync *spec.Sync
	// Objects are what `install --export` prints for Sync.
	Objects *install.Objects
	// NotConverted are the fields with no gitsync equivalent in a sync
	// of their own, with why; Ignored the fields that have no effect in
	// gitsync, with what it does instead.
	NotConverted []flux.FieldNote
	Ignored      []flux.FieldNote
}

// ConvertResult is what Convert made.
type ConvertResult struct {
	// Syncs are the converted units, in input order.
	Syncs []ConvertedSync
	// Notes name each input that became no sync, and why.
	Notes []string
}

// defaultFluxNamespace is where flux bootstrap puts Flux's objects.
const defaultFluxNamespace = "flux-system"

// Convert converts opts.Inputs. It fails only when there is nothing to
// convert at all; everything else is a note.
func Convert(opts ConvertOptions) (*ConvertResult, error) {
	ns := opts.DefaultNamespace
	if ns == "" {
		ns = defaultFluxNamespace
	}
	res := &ConvertResult{}
	type decoded struct {
		in      ConvertInput
		obj     flux.Object
		refused []flux.FieldNote
	}
	var units []decoded
	sources := map[flux.ID]decoded{}
	used := map[flux.ID]bool{}
	for _, in := range opts.Inputs {
		u := in.Object
		what := fmt.Sprintf("%s %s/%s/%s", in.Origin, u.GetKind(), u.GetNamespace(), u.GetName())
		if !flux.IsFlux(u) {
			res.Notes = append(res.Notes, what+": not a Flux object: left out (apply it with a sync of its own)")
			continue
		}
		obj, refused, err := decodeTolerant(u, ns)
		if err != nil {
			res.Notes = append(res.Notes, fmt.Sprintf("%s: not converted: %v", in.Origin, oneLine(err)))
			continue
		}
		d := decoded{in: in, obj: obj, refused: refused}
		if _, ok := obj.(*flux.ImageUpdateAutomation); ok {
			res.Notes = append(res.Notes, what+": not converted: a sync runs image automation from its spec.imageUpdate, "+
				"or runs this object as a unit of a Flux tree (docs/image-automation.md)")
			continue
		}
		switch obj.(type) {
		case *flux.ArtifactGenerator:
			res.Notes = append(res.Notes, what+": not converted: a sync reads one source, not an artifact composed from "+
				"several; run it as part of a Flux tree (docs/flux.md, ArtifactGenerator), and its Kustomizations then read its artifacts")
			continue
		case *flux.Provider, *flux.Alert:
			res.Notes = append(res.Notes, what+": not converted: write its Provider and Alert fields as a spec.notify "+
				"entry of the sync (docs/notifications.md), or run it as part of a Flux tree")
			continue
		case *flux.Receiver:
			res.Notes = append(res.Notes, what+": not converted: "+flux.NoteReceiver)
			continue
		case *flux.ResourceSet, *flux.ResourceSetInputProvider:
			res.Notes = append(res.Notes, what+": not converted: a sync does not template; run it as part of a Flux tree, "+
				"where it is a unit (docs/resourceset.md)")
			continue
		}
		if _, ok := obj.(flux.Unit); ok {
			units = append(units, d)
		} else {
			sources[obj.Metadata().ID] = d
		}
	}
	taken := map[string]flux.ID{}
	for _, d := range units {
		id := d.obj.Metadata().ID
		cs := ConvertedSync{From: id, APIVersion: d.obj.Metadata().APIVersion, Origin: d.in.Origin, NotConverted: d.refused,
			Ignored: flux.IgnoredFields(d.in.Object)}
		cs.Source = d.obj.(flux.Unit).SourceRef()
		src, ok := sources[cs.Source]
		if !ok {
			res.Notes = append(res.Notes, fmt.Sprintf("%s %s: not converted: its source %s is not among the input (convert it together with its source)", d.in.Origin, id, cs.Source))
			continue
		}
		used[cs.Source] = true
		chain := []flux.Object{src.obj}
		if c, ok := src.obj.(*flux.HelmChart); ok {
			from, ok := sources[c.SourceRef]
			if !ok {
				res.Notes = append(res.Notes, fmt.Sprintf("%s %s: not converted: the source %s of its %s is not among the input", d.in.Origin, id, c.SourceRef, c.ID))
				continue
			}
			used[c.SourceRef] = true
			chain = append(chain, from.obj)
		}
		name := syncName(id, taken)
		s := spec.New(name, id.Namespace)
		var notes []flux.FieldNote
		var err error
		switch u := d.obj.(type) {
		case *flux.Kustomization:
			notes, err = kustomizationSpec(&s.Spec, u, chain[0], d.in.Object)
		case *flux.HelmRelease:
			notes, err = helmReleaseSpec(&s.Spec, u, chain, d.in.Object)
		}
		if err != nil {
			res.Notes = append(res.Notes, fmt.Sprintf("%s %s: not converted: %v", d.in.Origin, id, oneLine(err)))
			continue
		}
		cs.NotConverted = append(cs.NotConverted, notes...)
		for _, so := range chain {
			for _, n := range flux.IgnoredFields(sources[so.Metadata().ID].in.Object) {
				if !strings.HasSuffix(n.Path, ".interval") {
					cs.Ignored = append(cs.Ignored, flux.FieldNote{Path: so.Metadata().ID.String() + " " + n.Path, Note: n.Note})
				}
			}
			for _, n := range sources[so.Metadata().ID].refused {
				cs.NotConverted = append(cs.NotConverted, flux.FieldNote{Path: so.Metadata().ID.String() + " " + n.Path, Note: n.Note})
			}
		}
		cs.Ignored = slices.DeleteFunc(cs.Ignored, func(n flux.FieldNote) bool { return n.Path == "spec.interval" })
		cs.Sync = s
		if cs.Objects, err = install.Generate(s, opts.Install); err != nil {
			res.Notes = append(res.Notes, fmt.Sprintf("%s %s: not converted: %v", d.in.Origin, id, oneLine(err)))
			continue
		}
		taken[name] = id
		res.Syncs = append(res.Syncs, cs)
	}
	convertDependsOn(res, opts, ns)
	for _, in := range opts.Inputs {
		u := in.Object
		if !flux.IsFlux(u) {
			continue
		}
		for id, d := range sources {
			if d.in.Object == u && !used[id] {
				res.Notes = append(res.Notes, fmt.Sprintf("%s %s: read by no Kustomization or HelmRelease of the input: nothing to convert", in.Origin, id))
			}
		}
	}
	if len(res.Syncs) == 0 && len(res.Notes) == 0 {
		return nil, errors.New("no objects to convert")
	}
	return res, nil
}

// decodeTolerant decodes u with flux.Decode, leaving out (and returning)
// each field Decode refuses or does not know, so that the rest converts.
func decodeTolerant(u *unstructured.Unstructured, ns string) (flux.Object, []flux.FieldNote, error) {
	c := u.DeepCopy()
	var out []flux.FieldNote
	for range 8 {
		obj, err := flux.Decode(c, flux.DecodeOptions{DefaultNamespace: ns})
		if err == nil {
			return obj, out, nil
		}
		removed := false
		for _, fe := range fieldErrors(err) {
			path := fe.Path
			if i := strings.IndexByte(path, '['); i >= 0 {
				path = path[:i] // a field of a list item: the whole list
			}
			parts := strings.Split(path, ".")
			if len(parts) < 2 || parts[0] != "spec" {
				continue
			}
			if _, found, _ := unstructured.NestedFieldNoCopy(c.Object, parts...); !found {
				continue
			}
			unstructured.RemoveNestedField(c.Object, parts...)
			out = append(out, flux.FieldNote{Path: path, Note: fieldNote(fe, path)})
			removed = true
		}
		if !removed {
			return nil, out, err
		}
	}
	return nil, out, errors.New("too many fields that cannot be converted")
}

// fieldNote is why field fe was left out.
func fieldNote(fe *flux.FieldError, path string) string {
	if path != fe.Path {
		return fe.Path + ": " + fe.Msg
	}
	return fe.Msg
}

// fieldErrors returns the *flux.FieldErrors err holds.
func fieldErrors(err error) []*flux.FieldError {
	var out []*flux.FieldError
	var fe *flux.FieldError
	if errors.As(err, &fe) {
		out = append(out, fe)
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		out = out[:0]
		for _, e := range j.Unwrap() {
			out = append(out, fieldErrors(e)...)
		}
	}
	return out
}

// syncName is the name of the sync made from unit id: its name, or with
// the kind appended when a unit of another kind took that name.
func syncName(id flux.ID, taken map[string]flux.ID) string {
	name := id.Name
	if other, ok := taken[name]; ok && other != id {
		name += "-" + strings.ToLower(id.Kind)
	}
	return name
}

// sourceSpec returns the sync source of a Kustomization's source (or a
// chart's Git source, when chart names its path).
func sourceSpec(obj flux.Object) (spec.Source, []flux.FieldNote, error) {
	switch s := obj.(type) {
	case *flux.GitRepository:
		g := &spec.GitSource{URL: s.URL, Insecure: strings.HasPrefix(s.URL, "http://"), Ref: s.Ref}
		if s.SecretRef != "" {
			g.SecretRef = &spec.LocalObjectReference{Name: s.SecretRef}
		}
		if s.Timeout != flux.DefaultSourceTimeout {
			g.Timeout = spec.NewDuration(s.Timeout)
		}
		return spec.Source{Git: g}, nil, nil
	case *flux.OCIRepository:
		o := &spec.OCISource{URL: s.URL, Insecure: s.Insecure,
			Ref: spec.OCIRef{Digest: s.Ref.Digest, SemVer: s.Ref.SemVer, SemverFilter: s.Ref.SemverFilter, Tag: s.Ref.Tag}}
		if ls := s.LayerSelector; ls != nil {
			o.LayerSelector = &spec.OCILayerSelector{MediaType: ls.MediaType, Operation: ls.Operation}
		}
		if s.SecretRef != "" {
			o.SecretRef = &spec.LocalObjectReference{Name: s.SecretRef}
		}
		var notes []flux.FieldNote
		if s.CertSecretRef != "" {
			notes = append(notes, flux.FieldNote{Path: s.ID.String() + " spec.certSecretRef", Note: "a sync's OCI source has no certSecretRef: not converted"})
		}
		return spec.Source{OCI: o}, notes, nil
	case *flux.Bucket:
		b := &spec.BucketSource{Endpoint: s.Endpoint, BucketName: s.BucketName, Prefix: s.Prefix, Region: s.Region, Insecure: s.Insecure}
		if s.SecretRef != "" {
			b.SecretRef = &spec.LocalObjectReference{Name: s.SecretRef}
		}
		var notes []flux.FieldNote
		if s.CertSecretRef != "" {
			notes = append(notes, flux.FieldNote{Path: s.ID.String() + " spec.certSecretRef", Note: "a sync's bucket source has no certSecretRef: not converted"})
		}
		return spec.Source{Bucket: b}, notes, nil
	}
	return spec.Source{}, nil, fmt.Errorf("source %s: a %s cannot be a sync's source", obj.Metadata().ID, obj.Metadata().ID.Kind)
}

// scheduleFor maps spec.interval of u onto a cron schedule, as install
// --interval does.
func scheduleFor(u *unstructured.Unstructured, id flux.ID) (string, []flux.FieldNote) {
	raw, _, _ := unstructured.NestedString(u.Object, "spec", "interval")
	if raw == "" {
		return "", nil
	}
	d, err := time.ParseDuration(raw)
	if err == nil {
		var sched string
		if sched, err = install.ScheduleForInterval(d, id.Namespace+"/"+id.Name); err == nil {
			return sched, nil
		}
	}
	return "", []flux.FieldNote{{Path: "spec.interval", Note: fmt.Sprintf("%v: the sync runs on the default schedule %q instead", err, spec.DefaultSchedule)}}
}

func kustomizationSpec(s *spec.SyncSpec, k *flux.Kustomization, src flux.Object, raw *unstructured.Unstructured) ([]flux.FieldNote, error) {
	source, notes, err := sourceSpec(src)
	if err != nil {
		return nil, err
	}
	sched, more := scheduleFor(raw, k.ID)
	notes = append(notes, more...)
	prune := k.Prune
	*s = spec.SyncSpec{
		Source: source, Path: k.Path, Schedule: sched, Suspend: k.Suspend, TargetNamespace: k.TargetNamespace,
		NamePrefix: k.NamePrefix, NameSuffix: k.NameSuffix, CommonMetadata: k.CommonMetadata, Patches: k.Patches,
		Images: k.Images, Components: k.Components, Prune: &prune, Force: k.Force, Wait: k.Wait,
		Timeout: spec.NewDuration(k.Timeout), HealthChecks: k.HealthChecks, HealthCheckExprs: k.HealthCheckExprs, Decryption: k.Decryption,
		ServiceAccountName: k.ServiceAccountName, KubeConfig: k.KubeConfig,
	}
	if d := k.Decryption; d != nil && d.SecretRef == nil {
		// A sync's own decryption names its Secret: the keys of Flux's
		// controller (--sops-age-secret) are nowhere in the input.
		s.Decryption = nil
		notes = append(notes, flux.FieldNote{Path: "spec.decryption", Note: "no secretRef: Flux uses kustomize-controller's keys " +
			"(--sops-age-secret); set the sync's spec.decryption.secretRef to a Secret holding them; not converted"})
	}
	if pb := k.PostBuild; pb != nil {
		s.PostBuild = &spec.PostBuild{Substitute: pb.Substitute, SubstituteFrom: pb.SubstituteFrom}
		if pb.Strategy != flux.SubstituteWithVariables {
			notes = append(notes, flux.FieldNote{Path: "spec.postBuild.substituteStrategy", Note: pb.Strategy + ": a sync substitutes when it has variables; not converted"})
		}
	}
	if len(k.DependsOn) > 0 {
		notes = append(notes, dependsOnNote(k.DependsOn))
	}
	if k.DeletionPolicy != flux.DeletionPolicyMirrorPrune {
		notes = append(notes, flux.FieldNote{Path: "spec.deletionPolicy", Note: k.DeletionPolicy + ": `kubectl gitsync uninstall` deletes a sync's objects only with --prune; not converted"})
	}
	if k.IgnoreMissingComponents {
		notes = append(notes, flux.FieldNote{Path: "spec.ignoreMissingComponents", Note: "a sync fails on a missing component; not converted"})
	}
	if len(k.Ignore) > 0 {
		notes = append(notes, flux.FieldNote{Path: "spec.ignore", Note: noteNoIgnoreRules})
	}
	return notes, nil
}

func helmReleaseSpec(s *spec.SyncSpec, h *flux.HelmRelease, chain []flux.Object, raw *unstructured.Unstructured) ([]flux.FieldNote, error) {
	sched, notes := scheduleFor(raw, h.ID)
	chart, version := "", ""
	var valuesFiles []string
	if h.Chart != nil {
		chart, version, valuesFiles = h.Chart.Chart, h.Chart.Version, h.Chart.ValuesFiles
		if h.Chart.ReconcileStrategy != flux.ReconcileStrategyChartVersion {
			notes = append(notes, flux.FieldNote{Path: "spec.chart.spec.reconcileStrategy", Note: h.Chart.ReconcileStrategy + ": a sync renders a chart from Git at every new revision; not converted"})
		}
	}
	from := chain[0]
	verified := h.Chart != nil && h.Chart.Verify != nil
	if c, ok := from.(*flux.HelmChart); ok {
		chart, version, valuesFiles, from = c.Chart, c.Version, c.ValuesFiles, chain[1]
		verified = c.Verify != nil
	}
	if verified {
		// A sync's Helm source checks no signature: converting would drop
		// the check.
		return nil, errors.New("its chart's verify: a sync's spec.source.helm verifies no signature; write spec.source.oci " +
			"(the chart's repository) with verify and layerSelector {operation: copy}, or run the HelmRelease as a unit of a Flux tree")
	}
	if version == flux.DefaultChartVersion {
		version = ""
	}
	var source spec.Source
	path := ""
	switch src := from.(type) {
	case *flux.HelmRepository:
		hs := &spec.HelmSource{URL: src.URL, Chart: chart, Version: version, PassCredentials: src.PassCredentials,
			Insecure: src.Insecure || strings.HasPrefix(src.URL, "http://")}
		if src.SecretRef != "" {
			hs.SecretRef = &spec.LocalObjectReference{Name: src.SecretRef}
		}
		if src.Timeout != flux.DefaultSourceTimeout {
			hs.Timeout = spec.NewDuration(src.Timeout)
		}
		if src.CertSecretRef != "" {
			notes = append(notes, flux.FieldNote{Path: src.ID.String() + " spec.certSecretRef", Note: "a sync's Helm source has no certSecretRef: not converted"})
		}
		source = spec.Source{Helm: hs}
	case *flux.OCIRepository:
		v := src.Ref.SemVer
		if v == "" {
			v = src.Ref.Tag
		}
		hs := &spec.HelmSource{URL: src.URL, Version: v, Insecure: src.Insecure}
		if src.SecretRef != "" {
			hs.SecretRef = &spec.LocalObjectReference{Name: src.SecretRef}
		}
		if src.Ref.Digest != "" {
			return nil, fmt.Errorf("chartRef %s: spec.ref.digest: a chart pinned by digest cannot be converted", src.ID)
		}
		source = spec.Source{Helm: hs}
	default:
		var more []flux.FieldNote
		var err error
		if source, more, err = sourceSpec(from); err != nil {
			return nil, err
		}
		notes = append(notes, more...)
		path = chart
	}
	*s = spec.SyncSpec{
		Source: source, Path: path, Schedule: sched, Suspend: h.Suspend, CommonMetadata: h.CommonMetadata,
		Wait: h.Upgrade.Wait, Timeout: spec.NewDuration(h.Timeout), HealthCheckExprs: h.HealthCheckExprs,
		Helm: &spec.HelmSpec{ReleaseName: h.ReleaseName, Values: h.Values, ValuesFrom: h.ValuesFrom, ValuesFiles: valuesFiles,
			PostRenderers: h.PostRenderers},
		ServiceAccountName: h.ServiceAccountName, KubeConfig: h.KubeConfig,
	}
	if tn, _, _ := unstructured.NestedString(raw.Object, "spec", "targetNamespace"); tn != "" {
		s.TargetNamespace = tn
	}
	if h.PostRenderStrategy != spec.PostRenderCombined {
		s.Helm.PostRenderStrategy = h.PostRenderStrategy
	}
	if h.Install.CRDs != h.Upgrade.CRDs {
		notes = append(notes, flux.FieldNote{Path: "spec.install.crds, spec.upgrade.crds", Note: fmt.Sprintf("%s on install, %s on upgrade: a sync has one policy (spec.helm.crds), left at its default", h.Install.CRDs, h.Upgrade.CRDs)})
	} else {
		s.Helm.CRDs = h.Upgrade.CRDs
	}
	if h.Test.Enable {
		s.Helm.Test = &spec.HelmTest{Enable: true, IgnoreFailures: h.IgnoresTestFailures(h.Upgrade), Filters: h.Test.Filters}
		if h.Test.Timeout != h.Timeout {
			s.Helm.Test.Timeout = spec.NewDuration(h.Test.Timeout)
		}
		if h.IgnoresTestFailures(h.Install) != h.IgnoresTestFailures(h.Upgrade) {
			notes = append(notes, flux.FieldNote{Path: "spec.install.remediation.ignoreTestFailures, spec.upgrade.remediation.ignoreTestFailures",
				Note: fmt.Sprintf("%t on install, %t on upgrade: a sync has one setting (spec.helm.test.ignoreFailures), the upgrade's",
					h.IgnoresTestFailures(h.Install), h.IgnoresTestFailures(h.Upgrade))})
		}
	}
	if h.StorageNamespace != h.ID.Namespace {
		notes = append(notes, flux.FieldNote{Path: "spec.storageNamespace", Note: "gitsync writes no Helm release storage: not converted"})
	}
	if len(h.DependsOn) > 0 {
		notes = append(notes, dependsOnNote(h.DependsOn))
	}
	if h.DriftMode == flux.DriftWarn || h.DriftMode == flux.DriftDisabled {
		notes = append(notes, flux.FieldNote{Path: "spec.driftDetection.mode", Note: h.DriftMode + ": a sync corrects drift; not converted"})
	}
	if len(h.DriftIgnore) > 0 {
		notes = append(notes, flux.FieldNote{Path: "spec.driftDetection.ignore", Note: noteNoIgnoreRules})
	}
	return notes, nil
}

// noteNoIgnoreRules says why ignore rules are not converted.
const noteNoIgnoreRules = "a sync has no ignore rules: it takes back every field it applies; not converted"

// dependsOnNote explains why dependsOn does not carry over to separate
// syncs.
func dependsOnNote(deps []flux.ID) flux.FieldNote {
	ids := make([]string, len(deps))
	for i, d := range deps {
		ids[i] = d.String()
	}
	return flux.FieldNote{Path: "spec.dependsOn", Note: strings.Join(ids, ", ") + ": separate syncs run on their own schedules, " +
		"unordered; to keep the order, run the Flux objects as units of one sync (docs/flux.md)"}
}

// oneLine joins the lines of err's message.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}

// fluxGroupKinds are the kinds ReadFluxObjects lists: sources first, then
// units.
var fluxGroupKinds = []schema.GroupKind{
	{Group: flux.SourceGroup, Kind: flux.KindGitRepository},
	{Group: flux.SourceGroup, Kind: flux.KindOCIRepository},
	{Group: flux.SourceGroup, Kind: flux.KindHelmRepository},
	{Group: flux.SourceGroup, Kind: flux.KindHelmChart},
	{Group: flux.SourceGroup, Kind: flux.KindBucket},
	{Group: flux.KustomizeGroup, Kind: flux.KindKustomization},
	{Group: flux.HelmGroup, Kind: flux.KindHelmRelease},
}

// ReadFluxObjects lists Flux's objects in a cluster where Flux runs, with
// the dynamic client, in namespace ("" for all), at the version the
// cluster prefers. Kinds the cluster does not serve are skipped; at least
// one must be served. Objects come sorted by kind, namespace and name.
func ReadFluxObjects(ctx context.Context, cfg *Config, mapper meta.RESTMapper, namespace string) ([]ConvertInput, error) {
	dyn, err := dynamic.NewForConfig(cfg.REST)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	var out []ConvertInput
	served := 0
	for _, gk := range fluxGroupKinds {
		m, err := mapper.RESTMapping(gk)
		if meta.IsNoMatchError(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", gk, err)
		}
		served++
		list, err := dyn.Resource(m.Resource).Namespace(namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("%s: list: %w", gk, err)
		}
		slices.SortFunc(list.Items, func(a, b unstructured.Unstructured) int {
			return cmp.Or(strings.Compare(a.GetNamespace(), b.GetNamespace()), strings.Compare(a.GetName(), b.GetName()))
		})
		for i := range list.Items {
			out = append(out, ConvertInput{Object: &list.Items[i], Origin: "cluster"})
		}
	}
	if served == 0 {
		return nil, errors.New("the cluster serves none of Flux's kinds (source.toolkit.fluxcd.io, kustomize.toolkit.fluxcd.io, helm.toolkit.fluxcd.io): is Flux installed?")
	}
	return out, nil
}
