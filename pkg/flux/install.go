package flux

import (
	"fmt"
	"path"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// What `flux bootstrap` (and `flux install --export`) writes into a
// repository, in clusters/<cluster>/flux-system/:
//   - gotk-components.yaml: the flux-system Namespace, Flux's CRDs, the
//     controllers' Deployments, Services, ServiceAccounts, RBAC and
//     NetworkPolicies, every one labelled app.kubernetes.io/part-of: flux
//     and app.kubernetes.io/instance: <namespace>;
//   - gotk-sync.yaml: a GitRepository and a Kustomization, both named after
//     the namespace (flux-system/flux-system), the Kustomization reading
//     the cluster's directory from that GitRepository;
//   - kustomization.yaml listing both.
const (
	// LabelPartOf and PartOfFlux are the label flux install puts on every
	// object of gotk-components.yaml, beside LabelInstance (the namespace).
	// Users label their own objects part-of: flux too (a PodMonitor of
	// Flux's controllers, Grafana dashboards: fluxcd/flux2-monitoring-example),
	// so the label alone does not make an object Flux's.
	LabelPartOf   = "app.kubernetes.io/part-of"
	PartOfFlux    = "flux"
	LabelInstance = "app.kubernetes.io/instance"
	// ComponentsFile and SyncFile are the files flux bootstrap writes.
	ComponentsFile = "gotk-components.yaml"
	SyncFile       = "gotk-sync.yaml"
	// DefaultFluxNamespace is the namespace flux bootstrap installs into
	// unless told otherwise.
	DefaultFluxNamespace = "flux-system"
)

// Installation is Flux's own installation found in a rendered set. A run
// does not apply it by default (gitsync replaces the controllers), says so
// once, and records it; an explicit option applies it anyway.
type Installation struct {
	// Components are the controllers and what they need
	// (gotk-components.yaml).
	Components []*unstructured.Unstructured
	// Sync are the GitRepository and Kustomization of gotk-sync.yaml. The
	// Kustomization renders the very directory the sync renders, so
	// running it would run the tree a second time; the GitRepository is
	// the repository the sync itself came from, which the tree's other
	// Kustomizations name as their sourceRef: the run decodes it and reads
	// it as its own checkout.
	Sync []*unstructured.Unstructured
}

// Empty reports whether nothing of Flux's installation was found.
func (in *Installation) Empty() bool { return len(in.Components) == 0 && len(in.Sync) == 0 }

// Summary returns the one line a run logs and records about what it left
// out, for example:
// "Flux's own installation is not applied: 52 objects of gotk-components.yaml
// (namespace flux-system) and gotk-sync.yaml's GitRepository/flux-system/flux-system,
// Kustomization/flux-system/flux-system".
func (in *Installation) Summary() string {
	if in.Empty() {
		return ""
	}
	var parts []string
	if n := len(in.Components); n > 0 {
		ns := map[string]bool{}
		var names []string
		for _, o := range in.Components {
			n := o.GetNamespace()
			if o.GetKind() == "Namespace" && o.GroupVersionKind().Group == "" {
				n = o.GetName()
			}
			if n != "" && !ns[n] {
				ns[n] = true
				names = append(names, n)
			}
		}
		noun := "objects"
		if n == 1 {
			noun = "object"
		}
		s := fmt.Sprintf("%d %s of %s", n, noun, ComponentsFile)
		if len(names) > 0 {
			s += " (namespace " + strings.Join(names, ", ") + ")"
		}
		parts = append(parts, s)
	}
	if len(in.Sync) > 0 {
		ids := make([]string, len(in.Sync))
		for i, o := range in.Sync {
			ids[i] = ID{Kind: o.GetKind(), Namespace: o.GetNamespace(), Name: o.GetName()}.String()
		}
		parts = append(parts, SyncFile+"'s "+strings.Join(ids, ", "))
	}
	return "Flux's own installation is not applied: " + strings.Join(parts, " and ")
}

// FindInstallation separates Flux's own installation from the rest of a
// rendered set. sources[i], when given, is the file objs[i] was read from
// (render.Result.Sources). An object belongs to the installation when:
//   - it carries app.kubernetes.io/part-of: flux and an
//     app.kubernetes.io/instance label (every object flux install writes
//     does, the flux-system Namespace included; part-of alone is also on
//     users' objects about Flux, such as its monitoring);
//   - it is a CustomResourceDefinition of a *.fluxcd.io group, however it
//     was installed (gitsync needs none of them);
//   - it was read from a file named gotk-components.yaml; or
//   - it is the pair flux bootstrap writes into gotk-sync.yaml: read from
//     that file, or recognised without it as a GitRepository and a
//     Kustomization with the same name and namespace, the Kustomization's
//     sourceRef naming that GitRepository, in the namespace the components
//     use (DefaultFluxNamespace when there are none).
//
// The rest keeps its order.
func FindInstallation(objs []*unstructured.Unstructured, sources []string) (Installation, []*unstructured.Unstructured) {
	var in Installation
	file := func(i int) string {
		if i < len(sources) {
			return path.Base(sources[i])
		}
		return ""
	}
	isComponent := make([]bool, len(objs))
	fluxNS := ""
	for i, o := range objs {
		l := o.GetLabels()
		if (l[LabelPartOf] == PartOfFlux && l[LabelInstance] != "") || isFluxCRD(o) || file(i) == ComponentsFile {
			isComponent[i] = true
			if o.GetKind() == "Namespace" && o.GroupVersionKind().Group == "" && fluxNS == "" {
				fluxNS = o.GetName()
			}
		}
	}
	if fluxNS == "" {
		fluxNS = DefaultFluxNamespace
	}
	isSync := make([]bool, len(objs))
	repos := map[string]int{}
	for i, o := range objs {
		if !isComponent[i] && isKind(o, SourceGroup, KindGitRepository) {
			repos[o.GetNamespace()+"/"+o.GetName()] = i
		}
	}
	for i, o := range objs {
		if isComponent[i] {
			continue
		}
		if file(i) == SyncFile && (isKind(o, SourceGroup, KindGitRepository) || isKind(o, KustomizeGroup, KindKustomization)) {
			isSync[i] = true
			continue
		}
		if !isKind(o, KustomizeGroup, KindKustomization) || o.GetNamespace() != fluxNS || o.GetName() != fluxNS {
			continue
		}
		kind, _, _ := unstructured.NestedString(o.Object, "spec", "sourceRef", "kind")
		name, _, _ := unstructured.NestedString(o.Object, "spec", "sourceRef", "name")
		refNS, _, _ := unstructured.NestedString(o.Object, "spec", "sourceRef", "namespace")
		if j, ok := repos[fluxNS+"/"+fluxNS]; ok && kind == KindGitRepository && name == fluxNS && (refNS == "" || refNS == fluxNS) {
			isSync[i], isSync[j] = true, true
		}
	}
	var rest []*unstructured.Unstructured
	for i, o := range objs {
		switch {
		case isComponent[i]:
			in.Components = append(in.Components, o)
		case isSync[i]:
			in.Sync = append(in.Sync, o)
		default:
			rest = append(rest, o)
		}
	}
	return in, rest
}

func isKind(o *unstructured.Unstructured, group, kind string) bool {
	gvk := o.GroupVersionKind()
	return gvk.Group == group && gvk.Kind == kind
}

// isFluxCRD reports whether o is the CRD of a Flux kind.
func isFluxCRD(o *unstructured.Unstructured) bool {
	if !isKind(o, "apiextensions.k8s.io", "CustomResourceDefinition") {
		return false
	}
	group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
	return strings.HasSuffix(group, ".fluxcd.io")
}
