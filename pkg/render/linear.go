package render

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	// Deprecated for kustomize API v1, but the only public way to
	// kustomize's own patch plugin, which makes patches come out as
	// kustomize's build makes them.
	"sigs.k8s.io/kustomize/api/builtins" //nolint:staticcheck
	"sigs.k8s.io/kustomize/api/ifc"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/provider"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/resource"
	kustypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/openapi"
	"sigs.k8s.io/kustomize/kyaml/resid"
	kyutils "sigs.k8s.io/kustomize/kyaml/utils"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	sigsyaml "sigs.k8s.io/yaml"
)

// The linear path builds, in time linear in the object count, the trees
// that make kustomize's build slow: a kustomization whose resources are
// files and plain-list kustomizations and whose own fields are among
// namespace, namePrefix, nameSuffix, patches and images, the ones a sync's
// options set.
//
// kustomize keeps a build's objects in a list that it searches from the
// start for every object it adds (to refuse a duplicate), for every object
// the namespace transformer moves (to find a conflict), for every
// strategic merge patch (to add the objects back) and, when it fixes name
// references, for every object that may refer to another. A build is
// therefore quadratic, and targetNamespace alone puts every Flux
// Kustomization on that curve. Its YAML node trees also cost far more than
// decoded objects.
//
// The linear path does what kustomize's build does, in kustomize's order,
// on decoded objects: it reads the files as the direct path does; applies
// patches with kustomize's own patch plugin to kustomize's node tree of
// each object a patch may select, side by side; runs kustomize's namespace,
// prefix, suffix and image transformers, rewritten for decoded objects and
// driven by kustomize's own field specs (transform.go, kustconfig.go); and
// fixes name references with candidates from an index by former name
// (nameref.go). It keeps beside each object what kustomize records in
// annotations while it builds (previous ids, prefixes, origin), finds
// duplicates with a hash set, and drops and strips what kustomize drops and
// strips at the end.
//
// Whatever it does not reproduce exactly is left to kustomize. Other
// kustomization fields, components, bases that are more than a resource
// list, patch options and patches that could see kustomize's bookkeeping
// annotations are found by planLinear before anything is read. Values
// whose result would depend on how they are written in YAML rather than on
// what they are, and every error, are found while building (errLinear).
// render then builds with kustomize, so an error reads as kustomize's.
// TestLinearMatchesKustomize and TestLinearRandomTrees compare both paths
// byte for byte; when kustomize is upgraded, they are what says whether the
// rewritten transformers still match it (TestKustomizeDefaultsCurrent
// checks its field specs).

// errLinear wraps what stops a linear build that kustomize would report
// in its own words; render then builds with kustomize.
var errLinear = errors.New("linear build")

// linearPlan is everything the linear path needs, decided before reading
// a single manifest.
type linearPlan struct {
	dir      string
	kustFile string // the kustomization file name kustomize reads in dir
	files    []linearFile
	steps    []linearStep // in kustomize's order
	cfg      *transformerConfig
}

// linearFile is a manifest file with the origin kustomize records for it.
type linearFile struct {
	path   string
	origin *resource.Origin
}

// linearStep is one of kustomize's builtin transformers, configured as
// kustomize configures it.
type linearStep struct {
	plugin string // kustomize's name for it, recorded as the origin of objects it creates

	// A patch is kustomize's own plugin, run on kustomize's node tree of
	// each object it may select (target, by kind, name and namespace), or
	// of the one object that has or had the id of a strategic merge patch
	// without target (patchID).
	patch    resmap.Transformer
	selector *kustypes.SelectorRegex
	patchID  *resid.ResId

	// The other transformers work on decoded objects (transform.go).
	namespace *namespaceStep
	affix     *affixStep
	image     *imageStep

	// checkIDs is set where kustomize looks up or re-adds every object
	// after the step and fails on two with the same id.
	checkIDs bool
}

// Fields of a kustomization that the linear path reproduces. The others
// must be empty (a kustomization with configMapGenerator, labels,
// replacements, ... is built by kustomize).
var linearFields = map[string]bool{
	"TypeMeta": true, "Resources": true, "Namespace": true, "NamePrefix": true,
	"NameSuffix": true, "Patches": true, "Images": true, "BuildMetadata": true,
}

// planLinear decides whether the linear path can build dir and, if so,
// how. reason says why not, for the debug log; err is set only when the
// context ends.
func (c *confinedFS) planLinear(ctx context.Context, dir, kfile string, entries []entry, opts *Options) (plan *linearPlan, reason string, err error) {
	if len(opts.Components) > 0 {
		return nil, "components", nil
	}
	data, added, err := kustomization(c, dir, kfile, entries, opts)
	if err != nil || !added {
		return nil, "kustomization file", nil
	}
	var k kustypes.Kustomization
	if err := k.Unmarshal(data); err != nil {
		return nil, "kustomization file", nil
	}
	k.FixKustomization()
	if k.Kind != kustypes.KustomizationKind || len(k.EnforceFields()) > 0 || k.CheckEmpty() != nil {
		return nil, "kustomization kind", nil
	}
	if f := otherFields(&k); f != "" {
		return nil, "kustomization field " + f, nil
	}
	if !slices.Equal(k.BuildMetadata, []string{kustypes.OriginAnnotations}) {
		return nil, "buildMetadata", nil
	}
	plan = &linearPlan{dir: dir, kustFile: "kustomization.yaml"}
	if kfile != "" {
		plan.kustFile = filepath.Base(kfile)
	}
	// kustomize starts with an empty configuration and merges, in this
	// order, that of every base, the defaults and the (empty) one from
	// its crds field; the order decides the order of the field specs.
	files, cfg, ok, err := c.collectLinear(ctx, dir, k.Resources, &resource.Origin{}, map[string]bool{})
	if err != nil || !ok {
		return nil, "resources", err
	}
	plan.files, plan.cfg = files, cfg

	rf := resmap.NewFactory(provider.NewDepProvider().GetResourceFactory())
	h := resmap.NewPluginHelpers(&linearLoader{c: c, dir: dir}, nil, rf, kustypes.DisabledPluginConfig())
	for i, p := range k.Patches {
		step, why := planPatch(c, dir, h, p)
		if step == nil {
			return nil, fmt.Sprintf("patches[%d]: %s", i, why), nil
		}
		plan.steps = append(plan.steps, *step)
	}
	for _, fss := range []kustypes.FsSlice{cfg.NameSpace, cfg.NamePrefix, cfg.NameSuffix, cfg.Images} {
		if why := unsupportedSpecs(fss); why != "" {
			return nil, why, nil
		}
	}
	if k.Namespace != "" {
		plan.steps = append(plan.steps, linearStep{plugin: "NamespaceTransformer",
			namespace: newNamespaceStep(k.Namespace, cfg.NameSpace), checkIDs: true})
	}
	for _, a := range []struct {
		affix  string
		suffix bool
		specs  kustypes.FsSlice
		plugin string
	}{
		{k.NamePrefix, false, cfg.NamePrefix, "PrefixTransformer"},
		{k.NameSuffix, true, cfg.NameSuffix, "SuffixTransformer"},
	} {
		if a.affix == "" {
			continue
		}
		if strings.Contains(a.affix, ",") {
			// kustomize records them in a comma-separated annotation.
			return nil, "a comma in namePrefix or nameSuffix", nil
		}
		plan.steps = append(plan.steps, linearStep{plugin: a.plugin,
			affix: &affixStep{affix: a.affix, suffix: a.suffix, specs: newFieldSpecs(a.specs)}})
	}
	for _, img := range k.Images {
		plan.steps = append(plan.steps, linearStep{plugin: "ImageTagTransformer", image: newImageStep(img, cfg.Images)})
	}
	return plan, "", nil
}

// otherFields names the first field of k that the linear path does not
// reproduce, "" if there is none.
func otherFields(k *kustypes.Kustomization) string {
	v := reflect.ValueOf(k).Elem()
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		if !linearFields[name] && !v.Field(i).IsZero() {
			return name
		}
	}
	return ""
}

// unsupportedSpecs says why the field specs use path syntax that
// transform.go does not follow (list indexes, selectors, wildcards), ""
// if they do not.
func unsupportedSpecs(fss kustypes.FsSlice) string {
	for _, fs := range fss {
		for _, seg := range kyutils.PathSplitter(fs.Path, "/") {
			seg = strings.TrimSuffix(seg, "[]")
			if _, err := strconv.Atoi(seg); err == nil || seg == "-" || seg == "*" || kyaml.IsListIndex(seg) {
				return "field spec " + fs.Path
			}
		}
	}
	return ""
}

// configure configures a builtin plugin the way kustomize does: its
// configuration marshalled to YAML and handed to Config.
func configure(p resmap.TransformerPlugin, h *resmap.PluginHelpers, conf any) (resmap.Transformer, error) {
	y, err := sigsyaml.Marshal(conf)
	if err != nil {
		return nil, err
	}
	if err := p.Config(h, y); err != nil {
		return nil, err
	}
	return p, nil
}

// Keys of the annotations kustomize keeps while it builds and that the
// linear path records differently or not at all: a patch that reads or
// writes them goes to kustomize.
var bookkeepingKeys = []string{
	"kubernetes.io/origin", "kubernetes.io~1origin",
	"kubernetes.io/transformations", "kubernetes.io~1transformations",
	konfig.ConfigAnnoDomain,
}

// planPatch configures one entry of patches, or says why the linear path
// leaves it to kustomize.
func planPatch(c *confinedFS, dir string, h *resmap.PluginHelpers, p kustypes.Patch) (*linearStep, string) {
	if p.Options != nil {
		return nil, "options"
	}
	text := strings.TrimSpace(p.Patch)
	if p.Path != "" {
		if p.Patch != "" || filepath.IsAbs(p.Path) || isRemote(p.Path) {
			return nil, "path"
		}
		data, err := c.ReadFile(filepath.Join(dir, p.Path))
		if err != nil {
			return nil, "path"
		}
		text = string(data)
	}
	for _, k := range bookkeepingKeys {
		if strings.Contains(text, k) {
			return nil, "touches " + k
		}
	}
	if t := p.Target; t != nil {
		for _, k := range bookkeepingKeys {
			if strings.Contains(t.AnnotationSelector, k) {
				return nil, "annotationSelector on " + k
			}
		}
	}
	conf := struct {
		Path    string              `json:"path,omitempty"    yaml:"path,omitempty"`
		Patch   string              `json:"patch,omitempty"   yaml:"patch,omitempty"`
		Target  *kustypes.Selector  `json:"target,omitempty"  yaml:"target,omitempty"`
		Options *kustypes.PatchArgs `json:"options,omitempty" yaml:"options,omitempty"`
	}{Path: p.Path, Patch: p.Patch, Target: p.Target}
	t, err := configure(builtins.NewPatchTransformerPlugin(), h, conf)
	if err != nil {
		return nil, err.Error()
	}
	step := &linearStep{plugin: "PatchTransformer", patch: t}
	if p.Target != nil {
		sr, err := kustypes.NewSelectorRegex(p.Target)
		if err != nil {
			return nil, err.Error()
		}
		step.selector = sr
	}
	// The plugin took the text as a strategic merge patch if kustomize's
	// reader accepts it, as a JSON 6902 patch otherwise.
	sm, err := h.ResmapFactory().RF().SliceFromBytes([]byte(text))
	if err != nil {
		if p.Target == nil {
			return nil, "JSON 6902 patch without target"
		}
		if why := jsonPatchObserves(text); why != "" {
			return nil, why
		}
		return step, ""
	}
	if len(sm) != 1 {
		return nil, "not one strategic merge patch"
	}
	if p.Target == nil {
		id := sm[0].OrgId()
		step.patchID = &id
		return step, ""
	}
	step.checkIDs = true
	return step, ""
}

// jsonPatchObserves reports why a JSON 6902 patch could see or copy the
// annotations as kustomize keeps them while it builds (recordStep): an
// operation that tests, copies or moves the whole object, its metadata or
// anything in its annotations.
func jsonPatchObserves(text string) string {
	j := []byte(text)
	if !strings.HasPrefix(text, "[") {
		var err error
		if j, err = sigsyaml.YAMLToJSON(j); err != nil {
			return "unreadable JSON patch"
		}
	}
	var ops []map[string]any
	if err := sigsyaml.Unmarshal(j, &ops); err != nil {
		return "unreadable JSON patch"
	}
	whole := func(p any) bool {
		s, _ := p.(string)
		return s == "" || s == "/" || s == "/metadata" || strings.HasPrefix(s, "/metadata/annotations")
	}
	for _, op := range ops {
		switch op["op"] {
		case "test":
			if whole(op["path"]) {
				return "test of metadata"
			}
		case "copy", "move":
			if whole(op["from"]) {
				return "copy of metadata"
			}
		}
	}
	return ""
}

// collectLinear lists the manifest files of resources (relative to dir),
// descending into plain-list kustomizations, with the origin kustomize
// records for each, and computes the transformer configuration kustomize
// ends up with for the kustomization holding them. ok is false when a part
// of the tree needs kustomize itself.
func (c *confinedFS) collectLinear(ctx context.Context, dir string, resources []string, origin *resource.Origin, visiting map[string]bool) (files []linearFile, cfg *transformerConfig, ok bool, err error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, false, err
	}
	real, err := c.resolve(dir)
	if err != nil || visiting[real] {
		return nil, nil, false, nil
	}
	visiting[real] = true
	defer delete(visiting, real)
	cfg = &transformerConfig{}
	for _, s := range resources {
		if s == "" || filepath.IsAbs(s) || isRemote(s) {
			return nil, nil, false, nil
		}
		p := filepath.Join(dir, s)
		target, err := c.resolve(p)
		if err != nil {
			return nil, nil, false, nil
		}
		info, err := os.Stat(target)
		if err != nil {
			return nil, nil, false, nil
		}
		if !info.IsDir() {
			files = append(files, linearFile{path: p, origin: origin.Append(s)})
			continue
		}
		kf, n := c.kustomizationIn(p)
		if n != 1 {
			return nil, nil, false, nil
		}
		sub, ok := c.listOnly(kf)
		if !ok {
			return nil, nil, false, nil
		}
		subFiles, subCfg, ok, err := c.collectLinear(ctx, p, sub, origin.Append(s), visiting)
		if err != nil || !ok {
			return nil, nil, false, err
		}
		files = append(files, subFiles...)
		if cfg, err = cfg.merge(subCfg); err != nil {
			return nil, nil, false, nil
		}
	}
	def, err := defaultTransformerConfig()
	if err != nil {
		return nil, nil, false, err
	}
	if cfg, err = cfg.merge(def); err != nil {
		return nil, nil, false, nil
	}
	if cfg, err = cfg.merge(&transformerConfig{}); err != nil {
		return nil, nil, false, nil
	}
	return files, cfg, true, nil
}

// listOnly returns the resources of a kustomization that is nothing but a
// list of resources.
func (c *confinedFS) listOnly(kfile string) ([]string, bool) {
	data, err := c.ReadFile(kfile)
	if err != nil {
		return nil, false
	}
	var k map[string]any
	if err := kyaml.Unmarshal(data, &k); err != nil || k == nil {
		return nil, false
	}
	for key := range k {
		if !simpleKeys[key] {
			return nil, false
		}
	}
	if kind, ok := k["kind"]; ok && kind != kustypes.KustomizationKind {
		return nil, false
	}
	if av, ok := k["apiVersion"]; ok && av != kustypes.KustomizationVersion {
		return nil, false
	}
	res, ok := k["resources"].([]any)
	if !ok || len(res) == 0 {
		return nil, false
	}
	out := make([]string, 0, len(res))
	for _, r := range res {
		s, ok := r.(string)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// linearLoader gives the patch transformer the files of patches[].path,
// relative to the kustomization's directory, through the confined
// filesystem.
type linearLoader struct {
	c   *confinedFS
	dir string
}

var _ ifc.Loader = (*linearLoader)(nil)

func (l *linearLoader) Repo() string { return "" }
func (l *linearLoader) Root() string { return l.dir }
func (l *linearLoader) New(string) (ifc.Loader, error) {
	return nil, errors.New("linear build: no bases")
}
func (l *linearLoader) Load(location string) ([]byte, error) {
	if filepath.IsAbs(location) || isRemote(location) {
		return nil, fmt.Errorf("%s: not a local path", location)
	}
	return l.c.ReadFile(filepath.Join(l.dir, location))
}
func (l *linearLoader) Cleanup() error { return nil }

// linearObject is one object on the linear path: decoded, as the direct
// path reads it, except while patches apply to it, when it is kustomize's
// node tree alone in a ResMap (kustomize's transformers work on ResMaps).
type linearObject struct {
	obj    map[string]any     // nil while res is set
	res    *resource.Resource // from the first patch that may select the object to the last patch
	m      resmap.ResMap      // res alone
	node   *kyaml.Node        // as read, kept for objects a patch may select
	kres   *resource.Resource // as kustomize's reader read it, kept likewise from files with anchors or lists
	file   int                // index in linearPlan.files
	source string
	// What kustomize records in build annotations: the ids the object
	// had before each transformer that may rename it, and the name
	// prefixes and suffixes it got.
	prev               []prevID
	prefixes, suffixes []string
}

// prevID is one previous id as kustomize records it: name, effective
// namespace and kind; group and version are always the current ones.
type prevID struct{ name, ns, kind string }

// linearRun is one build on the linear path.
type linearRun struct {
	c     *confinedFS
	plan  *linearPlan
	rf    *resource.Factory
	objs  []*linearObject
	mu    sync.Mutex // guards gvks, which parse fills from several goroutines
	gvks  map[[2]string]resid.Gvk
	kread map[int][]*resource.Resource // kustomize's reading of a file, for patches
}

// runLinear builds plan. An error wrapping errLinear means kustomize would
// fail or the linear path cannot be sure to give kustomize's result;
// render then builds with kustomize.
func (c *confinedFS) runLinear(ctx context.Context, plan *linearPlan) (objs []object, err error) {
	kustomizeMu.Lock()
	defer kustomizeMu.Unlock()
	defer openapi.ResetOpenAPI()
	defer func() {
		if r := recover(); r != nil {
			objs, err = nil, fmt.Errorf("%w: panicked: %v", errLinear, r)
		}
	}()
	if err := openapi.SetSchema(nil, nil, true); err != nil {
		return nil, fmt.Errorf("%w: %w", errLinear, err)
	}
	r := &linearRun{
		c: c, plan: plan,
		rf:    provider.NewDepProvider().GetResourceFactory(),
		gvks:  map[[2]string]resid.Gvk{},
		kread: map[int][]*resource.Resource{},
	}
	if err := r.load(ctx); err != nil {
		return nil, err
	}
	patched := false
	for _, st := range plan.steps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if st.patch != nil {
			patched = true
			if err := r.applyPatch(ctx, &st); err != nil {
				return nil, err
			}
			continue
		}
		if patched {
			// Patches come first in kustomize's order; what follows
			// works on decoded objects.
			if err := r.endPatches(ctx); err != nil {
				return nil, err
			}
			patched = false
		}
		// Each step changes only the object it is given.
		err := linearForEach(ctx, len(r.objs), func(i int) error {
			o := r.objs[i]
			var err error
			switch {
			case st.namespace != nil:
				if ann, _ := metadata(o.obj)["annotations"].(map[string]any); ann[konfig.HelmGeneratedAnnotation] == "true" {
					return nil
				}
				if err = r.storePrevious(o); err == nil {
					err = st.namespace.apply(o, r.curID(o).Gvk)
				}
			case st.affix != nil:
				err = st.affix.apply(o, r)
			case st.image != nil:
				err = st.image.apply(o)
			}
			if err != nil {
				return r.objectError(o, err)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if st.checkIDs {
			if err := r.uniqueIDs(); err != nil {
				return nil, err
			}
		}
	}
	if patched {
		if err := r.endPatches(ctx); err != nil {
			return nil, err
		}
	}
	if err := fixNameReferences(ctx, r, plan.cfg.NameReference); err != nil {
		return nil, err
	}
	// kustomize drops local-config objects last, by id.
	if err := r.uniqueIDs(); err != nil {
		return nil, err
	}
	objs = make([]object, 0, len(r.objs))
	for _, o := range r.objs {
		if isLocalConfig(o.obj) {
			continue
		}
		stripBuildAnnotations(o.obj)
		objs = append(objs, object{obj: o.obj, source: o.source})
	}
	return objs, nil
}

// stripBuildAnnotations removes what kustomize removes from every object at
// the end of a build: its bookkeeping annotations (and any the source had
// under the same keys), the origin annotation Render asks for, and an
// annotations field left empty or null.
func stripBuildAnnotations(obj map[string]any) {
	md := metadata(obj)
	ann, _ := md["annotations"].(map[string]any)
	for _, k := range resource.BuildAnnotations {
		delete(ann, k)
	}
	delete(ann, transformationsAnnotation)
	delete(ann, originAnnotation)
	if a, ok := md["annotations"]; ok && (a == nil || len(ann) == 0) {
		delete(md, "annotations")
	}
}

// transformationsAnnotation is where kustomize lists the transformers that
// changed an object while it builds.
const transformationsAnnotation = "alpha.config.kubernetes.io/transformations"

func metadata(obj map[string]any) map[string]any {
	md, _ := obj["metadata"].(map[string]any)
	return md
}

func (r *linearRun) objectError(o *linearObject, err error) error {
	obj := object{obj: o.obj, source: o.source}
	if o.obj == nil {
		return fmt.Errorf("%w: %s: %w", errLinear, o.source, err)
	}
	if errors.Is(err, errLinear) {
		return fmt.Errorf("%s: %w", obj.where(), err)
	}
	return fmt.Errorf("%w: %s: %w", errLinear, obj.where(), err)
}

// load reads the files, in parallel. Documents are decoded as the direct
// path decodes them, which gives what kustomize's reader gives, except for
// YAML anchors, merge keys, duplicate keys and List kinds: a file with any
// of those is read by kustomize's reader.
func (r *linearRun) load(ctx context.Context) error {
	files := r.plan.files
	data := make([][]byte, len(files))
	for i, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		var err error
		if data[i], err = r.c.ReadFile(f.path); err != nil {
			return fmt.Errorf("%w: %s: %w", errLinear, r.c.rel(f.path), err)
		}
	}
	parsed := make([][]*linearObject, len(files))
	err := linearForEach(ctx, len(files), func(i int) error {
		var err error
		parsed[i], err = r.parse(i, data[i])
		return err
	})
	if err != nil {
		return err
	}
	for _, objs := range parsed {
		r.objs = append(r.objs, objs...)
	}
	return r.uniqueIDs()
}

// parse decodes file i. It runs on several goroutines at once: it only
// reads r, and the objects it returns are its own.
func (r *linearRun) parse(i int, data []byte) ([]*linearObject, error) {
	f := r.plan.files[i]
	rel := r.c.rel(f.path)
	source := r.c.rel(filepath.Join(r.plan.dir, f.origin.Path))
	docs, plain, err := decodeFile(data, rel, true)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errLinear, err)
	}
	var out []*linearObject
	if plain {
		for _, d := range docs {
			// No line: errors read as they do on the kustomize path.
			o := &linearObject{obj: d.obj, file: i, source: source}
			if r.mayPatch(o) {
				o.node = d.node
			}
			out = append(out, o)
		}
	} else {
		rs, err := r.rf.SliceFromBytes(data)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", errLinear, rel, err)
		}
		for _, res := range rs {
			raw, err := res.Map()
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %w", errLinear, rel, err)
			}
			nv, err := normalize(raw)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %w", errLinear, rel, err)
			}
			o := &linearObject{obj: nv.(map[string]any), file: i, source: source}
			if r.mayPatch(o) {
				o.kres = res
			}
			out = append(out, o)
		}
	}
	for _, o := range out {
		if err := checkLinearObject(o.obj); err != nil {
			return nil, r.objectError(o, err)
		}
	}
	return out, nil
}

// mayPatch reports whether a patch could select o as it was read.
func (r *linearRun) mayPatch(o *linearObject) bool {
	for i := range r.plan.steps {
		st := &r.plan.steps[i]
		switch {
		case st.patch == nil:
		case st.patchID != nil:
			if keyOf(r.curID(o)) == keyOf(*st.patchID) {
				return true
			}
		case st.selects(r.curID(o)):
			return true
		}
	}
	return false
}

// selects is the part of kustomize's patch target selection that does not
// read labels or annotations, for an object no step has changed yet.
func (st *linearStep) selects(id resid.ResId) bool {
	return st.selector.MatchGvk(id.Gvk) && st.selector.MatchName(id.Name) &&
		st.selector.MatchNamespace(id.EffectiveNamespace())
}

// forEach runs fn for 0 to n-1 on up to GOMAXPROCS goroutines and returns
// the error of the lowest i that failed. A panic in fn becomes an error (a
// panic on another goroutine would end the process, not reach render's
// recover); on the linear path it wraps errLinear, so kustomize builds
// again.
func forEach(ctx context.Context, n int, fn func(i int) error) error {
	return forEachWrapped(ctx, n, fn, nil)
}

// linearForEach is forEach for the linear path.
func linearForEach(ctx context.Context, n int, fn func(i int) error) error {
	return forEachWrapped(ctx, n, fn, errLinear)
}

func forEachWrapped(ctx context.Context, n int, fn func(i int) error, panicErr error) error {
	errs := make([]error, n)
	call := func(i int) {
		defer func() {
			if p := recover(); p != nil {
				if panicErr != nil {
					errs[i] = fmt.Errorf("%w: panicked: %v", panicErr, p)
				} else {
					errs[i] = fmt.Errorf("panicked: %v", p)
				}
			}
		}()
		errs[i] = fn(i)
	}
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := range n {
			if err := ctx.Err(); err != nil {
				return err
			}
			call(i)
		}
	} else {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for ctx.Err() == nil {
					i := int(next.Add(1)) - 1
					if i >= n {
						return
					}
					call(i)
				}
			})
		}
		wg.Wait()
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// checkLinearObject refuses what the linear path cannot reproduce:
// besides what every object needs, metadata.namespace must be a string
// (kustomize reads null as the text "~" or "null"), annotation values
// strings (kustomize rewrites every value as a string, from its text), and
// no annotation may be one of kustomize's own, which it reads while it
// builds.
func checkLinearObject(m map[string]any) error {
	if err := checkObject(m); err != nil {
		return err
	}
	md := metadata(m)
	if ns, ok := md["namespace"]; ok {
		if _, ok := ns.(string); !ok {
			return errNotLinear("metadata.namespace is not a string")
		}
	}
	if a, ok := md["annotations"]; ok && a != nil {
		ann, ok := a.(map[string]any)
		if !ok {
			return errNotLinear("metadata.annotations is not a mapping")
		}
		for k, v := range ann {
			if _, ok := v.(string); !ok {
				return errNotLinear("annotation %s is not a string", k)
			}
			if strings.HasPrefix(k, konfig.ConfigAnnoDomain+"/") && k != konfig.HelmGeneratedAnnotation {
				return errNotLinear("annotation %s is kustomize's", k)
			}
		}
	}
	return nil
}

// gvk returns the group, version and kind of an object, with kustomize's
// view of whether it is cluster-scoped.
func (r *linearRun) gvk(obj map[string]any) resid.Gvk {
	av, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	k := [2]string{av, kind}
	r.mu.Lock()
	defer r.mu.Unlock()
	g, ok := r.gvks[k]
	if !ok {
		group, version := resid.ParseGroupVersion(av)
		g = resid.NewGvk(group, version, kind)
		r.gvks[k] = g
	}
	return g
}

// curID is kustomize's CurId.
func (r *linearRun) curID(o *linearObject) resid.ResId {
	if o.m != nil {
		return o.res.CurId()
	}
	md := metadata(o.obj)
	name, _ := md["name"].(string)
	ns, _ := md["namespace"].(string)
	return resid.NewResIdWithNamespace(r.gvk(o.obj), name, ns)
}

// prevIDs is kustomize's PrevIds.
func (r *linearRun) prevIDs(o *linearObject) []resid.ResId {
	if len(o.prev) == 0 {
		return nil
	}
	av, _ := o.obj["apiVersion"].(string)
	group, version := resid.ParseGroupVersion(av)
	ids := make([]resid.ResId, len(o.prev))
	for i, p := range o.prev {
		ids[i] = resid.NewResIdWithNamespace(resid.Gvk{Group: group, Version: version, Kind: p.kind}, p.name, p.ns)
	}
	return ids
}

// orgID is kustomize's OrgId: the first previous id, or the current one.
func (r *linearRun) orgID(o *linearObject) resid.ResId {
	if ids := r.prevIDs(o); len(ids) > 0 {
		return ids[0]
	}
	return r.curID(o)
}

// storePrevious is kustomize's StorePreviousId. kustomize keeps the list
// in comma-separated annotations, so a comma would split a value there.
func (r *linearRun) storePrevious(o *linearObject) error {
	id := r.curID(o)
	p := prevID{name: id.Name, ns: id.EffectiveNamespace(), kind: id.Kind}
	if strings.Contains(p.name+p.ns+p.kind, ",") {
		return errNotLinear("a comma in %s", id)
	}
	o.prev = append(o.prev, p)
	return nil
}

// uniqueIDs fails where kustomize refuses two objects with one id.
func (r *linearRun) uniqueIDs() error {
	seen := make(map[idKey]bool, len(r.objs))
	for _, o := range r.objs {
		id := r.curID(o)
		k := keyOf(id)
		if seen[k] {
			return fmt.Errorf("%w: two objects with id %s", errLinear, id)
		}
		seen[k] = true
	}
	return nil
}

// toKustomize turns o into kustomize's node tree, as kustomize's reader
// gives it (the node read with the object, or the file read again), with
// the origin annotation kustomize adds.
func (r *linearRun) toKustomize(o *linearObject) error {
	if o.m != nil {
		return nil
	}
	hit := o.kres
	if hit == nil && o.node != nil && !hasLocalConfig(o.obj) {
		// What kustomize's reader makes of a document without anchors;
		// the factory drops local-config objects, kustomize's reader
		// does not.
		rs, err := r.rf.ResourcesFromRNodes([]*kyaml.RNode{kyaml.NewRNode(o.node)})
		if err != nil {
			return fmt.Errorf("%w: %s: %w", errLinear, o.source, err)
		}
		if len(rs) == 1 {
			hit = rs[0]
		}
	}
	if hit == nil {
		var err error
		if hit, err = r.reread(o); err != nil {
			return err
		}
	}
	anno, err := r.plan.files[o.file].origin.String()
	if err != nil {
		return fmt.Errorf("%w: %w", errLinear, err)
	}
	m := resmap.New()
	if err := m.Append(hit); err != nil {
		return fmt.Errorf("%w: %w", errLinear, err)
	}
	if err := m.AnnotateAll(originAnnotation, anno); err != nil {
		return fmt.Errorf("%w: %w", errLinear, err)
	}
	o.res, o.m, o.obj, o.node, o.kres = m.Resources()[0], m, nil, nil, nil
	return nil
}

// allToKustomize is toKustomize for many objects, side by side.
func (r *linearRun) allToKustomize(ctx context.Context, list []*linearObject) error {
	// Reading a file again touches shared state: done first, in order.
	for _, o := range list {
		if o.kres == nil && (o.node == nil || hasLocalConfig(o.obj)) {
			res, err := r.reread(o)
			if err != nil {
				return err
			}
			o.kres = res
		}
	}
	return linearForEach(ctx, len(list), func(i int) error { return r.toKustomize(list[i]) })
}

// hasLocalConfig reports whether the object carries the local-config
// annotation, which makes kustomize's resource factory drop it.
func hasLocalConfig(obj map[string]any) bool {
	ann, _ := metadata(obj)["annotations"].(map[string]any)
	_, ok := ann[localConfigAnnotation]
	return ok
}

// reread finds o in its file as kustomize's reader reads it.
func (r *linearRun) reread(o *linearObject) (*resource.Resource, error) {
	rs, ok := r.kread[o.file]
	if !ok {
		data, err := r.c.ReadFile(r.plan.files[o.file].path)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errLinear, err)
		}
		if rs, err = readResources(r.rf, data); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", errLinear, o.source, err)
		}
		r.kread[o.file] = rs
	}
	want := keyOf(r.curID(o))
	var hit *resource.Resource
	for _, res := range rs {
		if keyOf(res.CurId()) == want {
			if hit != nil {
				return nil, fmt.Errorf("%w: %s: two objects with id %s", errLinear, o.source, res.CurId())
			}
			hit = res
		}
	}
	if hit == nil {
		return nil, fmt.Errorf("%w: %s: kustomize's reader does not find %s", errLinear, o.source, r.curID(o))
	}
	return hit, nil
}

// applyPatch runs one patch with kustomize's plugin on every object it
// may select: each object kustomize's selector could match by kind, name
// and namespace (labels and annotations are left to the plugin), or the
// one object a patch without target names.
func (r *linearRun) applyPatch(ctx context.Context, st *linearStep) error {
	if st.patchID != nil {
		var hit *linearObject
		for _, o := range r.objs {
			var match bool
			if o.m != nil {
				match = matchesAnyID(o.res, *st.patchID)
			} else {
				match = r.curID(o).Equals(*st.patchID)
			}
			if match {
				if hit != nil {
					return fmt.Errorf("%w: patch %s matches more than one object", errLinear, st.patchID)
				}
				hit = o
			}
		}
		if hit == nil {
			return fmt.Errorf("%w: no object matches patch %s", errLinear, st.patchID)
		}
		if err := r.toKustomize(hit); err != nil {
			return err
		}
		if err := st.patch.Transform(hit.m); err != nil {
			return fmt.Errorf("%w: %w", errLinear, err)
		}
	} else {
		var targets, fresh []*linearObject
		for _, o := range r.objs {
			if o.m == nil {
				if !st.selects(r.curID(o)) {
					continue
				}
				fresh = append(fresh, o)
			}
			targets = append(targets, o)
		}
		if err := r.allToKustomize(ctx, fresh); err != nil {
			return err
		}
		// kustomize's patch code costs most of a build; each object is
		// alone in its ResMap, so they are patched side by side.
		err := linearForEach(ctx, len(targets), func(i int) error {
			if err := st.patch.Transform(targets[i].m); err != nil {
				return fmt.Errorf("%w: %s: %w", errLinear, targets[i].source, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	// After each transformer kustomize records it on every object and
	// drops the objects it emptied.
	origin := &resource.Origin{
		ConfiguredIn: r.plan.kustFile,
		ConfiguredBy: kyaml.ResourceIdentifier{TypeMeta: kyaml.TypeMeta{APIVersion: "builtin", Kind: st.plugin}},
	}
	kept := r.objs[:0]
	for _, o := range r.objs {
		if o.m != nil {
			if err := recordStep(o, origin); err != nil {
				return err
			}
			if o.m.Size() == 0 {
				continue
			}
		}
		kept = append(kept, o)
	}
	clear(r.objs[len(kept):])
	r.objs = kept
	if st.checkIDs {
		return r.uniqueIDs()
	}
	return nil
}

// recordStep does what kustomize does to every object after each
// transformer: drop it if the transformer emptied it, and record the
// transformer in the object's annotations. An object without an origin
// annotation (a patch removed it) gets the transformer as its origin, which
// Result.Sources reports as the kustomization file, as with kustomize.
//
// kustomize also appends the transformer to a list it keeps in another
// annotation and removes at the end. That list is not kept here: it costs
// a YAML round trip per object and step, and nothing a sync can configure
// reads it, except a JSON 6902 patch that tests or copies annotations or a
// patch that names it (planPatch leaves those to kustomize). Writing the
// list also rewrites every annotation value as a string; the build does
// that to every object at its end anyway, and only such a patch could see
// it earlier.
func recordStep(o *linearObject, origin *resource.Origin) error {
	o.m.DropEmpties()
	if o.m.Size() == 0 {
		return nil
	}
	o.res = o.m.Resources()[0]
	if _, ok := o.res.GetAnnotations(originAnnotation)[originAnnotation]; ok {
		return nil
	}
	if err := o.res.SetOrigin(origin); err != nil {
		return fmt.Errorf("%w: %w", errLinear, err)
	}
	return nil
}

// endPatches turns the objects patches selected back into decoded objects,
// keeping what kustomize's annotations recorded: the previous ids (a JSON
// 6902 patch records one) and the origin.
func (r *linearRun) endPatches(ctx context.Context) error {
	var list []*linearObject
	for _, o := range r.objs {
		if o.m != nil {
			list = append(list, o)
		}
	}
	return linearForEach(ctx, len(list), func(i int) error { return r.endPatch(list[i]) })
}

func (r *linearRun) endPatch(o *linearObject) error {
	res := o.res
	if len(res.GetNamePrefixes()) > 0 || len(res.GetNameSuffixes()) > 0 {
		return fmt.Errorf("%w: %s: name prefixes recorded by a patch", errLinear, res.CurId())
	}
	for _, id := range res.PrevIds() {
		o.prev = append(o.prev, prevID{name: id.Name, ns: id.Namespace, kind: id.Kind})
	}
	res.RemoveBuildAnnotations()
	raw, err := res.Map()
	if err != nil {
		return fmt.Errorf("%w: %s: %w", errLinear, res.CurId(), err)
	}
	nv, err := normalize(raw)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", errLinear, res.CurId(), err)
	}
	o.obj = nv.(map[string]any)
	o.source = originOf(r.c, r.plan.dir, o.obj, true)
	o.res, o.m = nil, nil
	if err := checkLinearObject(o.obj); err != nil {
		return r.objectError(o, err)
	}
	return nil
}

// readResources reads a manifest file into resources exactly as
// kustomize's resource factory does (rf.SliceFromBytes), but skips the
// pass that expands YAML anchors, aliases and merge keys where it would
// change nothing. That pass rebuilds every mapping of every document and
// is half the cost of reading; a document without anchors, aliases, merge
// keys and duplicate keys comes out of it as it went in. Files with
// anything the factory treats specially (those, List kinds, local-config
// or empty objects) are read by the factory itself.
func readResources(rf *resource.Factory, data []byte) ([]*resource.Resource, error) {
	nodes, err := (&kio.ByteReader{OmitReaderAnnotations: true, Reader: bytes.NewReader(data)}).Read()
	if err != nil {
		return rf.SliceFromBytes(data)
	}
	for _, n := range nodes {
		if n.IsNilOrEmpty() || strings.HasSuffix(n.GetKind(), "List") || needsDeAnchor(n.YNode()) {
			return rf.SliceFromBytes(data)
		}
		if _, ok := n.GetAnnotations(localConfigAnnotation)[localConfigAnnotation]; ok {
			return rf.SliceFromBytes(data)
		}
	}
	return rf.ResourcesFromRNodes(nodes)
}

// matchesAnyID is kustomize's lookup of a patch's object: any of the ids
// the object has had, or has, equals id.
func matchesAnyID(r *resource.Resource, id resid.ResId) bool {
	if r.RNode.IsNilOrEmpty() {
		return false
	}
	if r.CurId().Equals(id) {
		return true
	}
	for _, p := range r.PrevIds() {
		if p.Equals(id) {
			return true
		}
	}
	return false
}

// idKey is what kustomize's ResId.Equals compares.
type idKey struct {
	group, version, kind, name, namespace string
}

func keyOf(id resid.ResId) idKey {
	return idKey{id.Group, id.Version, id.Kind, id.Name, id.EffectiveNamespace()}
}
