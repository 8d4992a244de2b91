package render

import (
	"fmt"
	"path/filepath"
	"slices"
	"sync"

	"sigs.k8s.io/kustomize/api/krusty"
	kustypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/openapi"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
)

// kustomizeMu serialises kustomize builds, linear ones included. kustomize
// keeps its OpenAPI schema in package globals that a kustomization's
// `openapi:` field replaces, so two builds at once race and one build's
// schema would leak into the next. This is the one piece of mutable package
// state, and it guards a dependency's globals (kustconfig.go caches
// kustomize's defaults, which never change).
var kustomizeMu sync.Mutex

// originAnnotation is where kustomize records the file an object came from
// when buildMetadata asks for originAnnotations.
const originAnnotation = "config.kubernetes.io/origin"

// kustomization returns the content of the kustomization Render hands to
// kustomize for dir: the user's file (or, for a plain directory, one listing
// entries) with the Options merged in the way Flux's kustomize-controller
// merges a Kustomization's spec. It also asks kustomize for origin
// annotations so that errors and Result.Sources can name files; added
// reports whether those annotations must be removed afterwards.
func kustomization(c *confinedFS, dir, kfile string, entries []entry, opts *Options) (data []byte, added bool, err error) {
	k := map[string]any{}
	if kfile != "" {
		raw, err := c.ReadFile(kfile)
		if err != nil {
			return nil, false, err
		}
		if err := kyaml.Unmarshal(raw, &k); err != nil {
			return nil, false, fmt.Errorf("%s: %w", c.rel(kfile), err)
		}
		if k == nil {
			k = map[string]any{}
		}
	} else {
		k["apiVersion"] = kustypes.KustomizationVersion
		k["kind"] = kustypes.KustomizationKind
		res := make([]any, 0, len(entries))
		for _, e := range entries {
			r, err := filepath.Rel(dir, e.path)
			if err != nil {
				return nil, false, err
			}
			res = append(res, "./"+filepath.ToSlash(r))
		}
		k["resources"] = res
	}
	if opts.TargetNamespace != "" {
		k["namespace"] = opts.TargetNamespace
	}
	if opts.NamePrefix != "" {
		k["namePrefix"] = opts.NamePrefix
	}
	if opts.NameSuffix != "" {
		k["nameSuffix"] = opts.NameSuffix
	}
	if len(opts.Patches) > 0 {
		patches, _ := k["patches"].([]any)
		for _, p := range opts.Patches {
			pm := map[string]any{"patch": p.Patch}
			if t := p.Target; t != nil {
				tm := map[string]any{}
				for key, v := range map[string]string{
					"group": t.Group, "version": t.Version, "kind": t.Kind, "name": t.Name,
					"namespace": t.Namespace, "labelSelector": t.LabelSelector,
					"annotationSelector": t.AnnotationSelector,
				} {
					if v != "" {
						tm[key] = v
					}
				}
				pm["target"] = tm
			}
			patches = append(patches, pm)
		}
		k["patches"] = patches
	}
	if len(opts.Components) > 0 {
		comps, _ := k["components"].([]any)
		for _, comp := range opts.Components {
			comps = append(comps, comp)
		}
		k["components"] = comps
	}
	if len(opts.Images) > 0 {
		k["images"] = mergeImages(asSlice(k["images"]), opts.Images)
	}
	meta := asSlice(k["buildMetadata"])
	if !slices.Contains(meta, any(kustypes.OriginAnnotations)) {
		k["buildMetadata"] = append(meta, kustypes.OriginAnnotations)
		added = true
	}
	data, err = kyaml.Marshal(k)
	return data, added, err
}

// mergeImages applies Options.Images over a kustomization's images the way
// Flux does: an entry with the same name is updated field by field (newTag
// and digest together, since either one selects the version), others are
// appended.
func mergeImages(existing []any, images []Image) []any {
	out := slices.Clone(existing)
	for _, img := range images {
		idx := slices.IndexFunc(out, func(e any) bool {
			m, ok := e.(map[string]any)
			return ok && m["name"] == img.Name
		})
		if idx < 0 {
			m := map[string]any{"name": img.Name}
			setNonEmpty(m, "newName", img.NewName)
			setNonEmpty(m, "newTag", img.NewTag)
			setNonEmpty(m, "digest", img.Digest)
			out = append(out, m)
			continue
		}
		m := out[idx].(map[string]any)
		setNonEmpty(m, "newName", img.NewName)
		if img.NewTag != "" || img.Digest != "" {
			delete(m, "newTag")
			delete(m, "digest")
			setNonEmpty(m, "newTag", img.NewTag)
			setNonEmpty(m, "digest", img.Digest)
		}
	}
	return out
}

func setNonEmpty(m map[string]any, key, v string) {
	if v != "" {
		m[key] = v
	}
}

// kustomize builds dir with kustomize: plugins disabled (no exec, no
// containers, no Helm), loads confined to the root by c, remote references
// rejected by c, panics turned into errors.
func kustomize(c *confinedFS, dir string, stripOrigin bool) (objs []object, err error) {
	kustomizeMu.Lock()
	defer kustomizeMu.Unlock()
	// A kustomization's openapi field replaces kustomize's global schema;
	// reset it so the next build starts from the built-in one.
	defer openapi.ResetOpenAPI()
	defer func() {
		if r := recover(); r != nil {
			objs, err = nil, fmt.Errorf("%s: kustomize build panicked: %v", c.rel(dir), r)
		}
	}()
	k := krusty.MakeKustomizer(&krusty.Options{
		Reorder: krusty.ReorderOptionNone, // Render sorts on its own
		// Like Flux: files outside a kustomization's directory (../base,
		// ../patches/x.yaml) may be loaded; the filesystem keeps them
		// inside the root.
		LoadRestrictions: kustypes.LoadRestrictionsNone,
		PluginConfig:     kustypes.DisabledPluginConfig(),
	})
	m, err := k.Run(c, dir)
	if c.violation != nil {
		return nil, fmt.Errorf("%s: kustomize build: %w", c.rel(dir), c.violation)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: kustomize build: %w", c.rel(dir), err)
	}
	objs = make([]object, 0, m.Size())
	for _, res := range m.Resources() {
		raw, err := res.Map()
		if err != nil {
			return nil, fmt.Errorf("%s: %s/%s: %w", c.rel(dir), res.GetKind(), res.GetName(), err)
		}
		nv, err := normalize(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %s/%s: %w", c.rel(dir), res.GetKind(), res.GetName(), err)
		}
		o := object{obj: nv.(map[string]any)}
		o.source = originOf(c, dir, o.obj, stripOrigin)
		objs = append(objs, o)
	}
	return objs, nil
}

// originOf reads kustomize's origin annotation into a path relative to the
// root, removing the annotation when Render asked for it.
func originOf(c *confinedFS, dir string, m map[string]any, strip bool) string {
	md, _ := m["metadata"].(map[string]any)
	ann, _ := md["annotations"].(map[string]any)
	v, _ := ann[originAnnotation].(string)
	if strip && ann != nil {
		delete(ann, originAnnotation)
		if len(ann) == 0 {
			delete(md, "annotations")
		}
	}
	if v == "" {
		return ""
	}
	var origin struct {
		Path         string `yaml:"path"`
		Repo         string `yaml:"repo"`
		ConfiguredIn string `yaml:"configuredIn"`
	}
	if err := kyaml.Unmarshal([]byte(v), &origin); err != nil {
		return ""
	}
	p := origin.Path
	if p == "" {
		p = origin.ConfiguredIn
	}
	if p == "" || origin.Repo != "" {
		return ""
	}
	return c.rel(filepath.Join(dir, p))
}
