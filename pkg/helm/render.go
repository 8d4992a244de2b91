package helm

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	"sigs.k8s.io/yaml"

	"github.com/gitsync/gitsync/pkg/helm/chartrender"
	"github.com/gitsync/gitsync/pkg/redact"
	"github.com/gitsync/gitsync/pkg/render"
	"github.com/gitsync/gitsync/pkg/sops"
)

// CRDPolicy says what happens to the CRDs of a chart's crds/ directories
// (and those of its subcharts), as Flux's crds field.
type CRDPolicy string

// CRD policies.
const (
	// CRDsCreate: the CRDs are rendered into Rendered.CRDs; the
	// orchestrator creates those that do not exist and leaves existing
	// ones unchanged.
	CRDsCreate CRDPolicy = "Create"
	// CRDsCreateReplace: the CRDs are rendered into Rendered.CRDs; the
	// orchestrator creates or updates them.
	CRDsCreateReplace CRDPolicy = "CreateReplace"
	// CRDsSkip: the crds/ directories are ignored.
	CRDsSkip CRDPolicy = "Skip"
)

// PostRenderer changes the rendered manifests with kustomize, as Flux's
// kustomize post-renderer. Post-renderers run in order; each sees the
// output of the one before.
type PostRenderer struct {
	// Patches are strategic merge or JSON 6902 patches.
	Patches []render.Patch
	// Images replace image names, tags or digests.
	Images []render.Image
}

// PostRenderStrategy says how hooks meet the post-renderers, as Helm v4's
// and Flux's postRenderStrategy.
type PostRenderStrategy string

// Post-render strategies.
const (
	// PostRenderCombined post-renders objects and hooks in one stream
	// (Helm v4's and Flux's default). An object that is both a hook and a
	// regular object is then a duplicate, an error.
	PostRenderCombined PostRenderStrategy = "combined"
	// PostRenderSeparate post-renders objects and hooks in two streams:
	// a patch must match in both, or kustomize reports it unmatched.
	PostRenderSeparate PostRenderStrategy = "separate"
	// PostRenderNoHooks post-renders only the objects; hooks get neither
	// the post-renderers nor the common metadata (Helm 3's behaviour).
	PostRenderNoHooks PostRenderStrategy = "nohooks"
)

func (o *RenderOptions) postRenderStrategy() PostRenderStrategy {
	return cmp.Or(o.PostRenderStrategy, PostRenderCombined)
}

// RenderOptions says what to render and how. ChartPath and ReleaseName
// are required; every other field has the default its comment gives.
type RenderOptions struct {
	// ChartPath is a packaged chart (.tgz, as Fetch returns) or a chart
	// directory (holding Chart.yaml).
	ChartPath string
	// Root, when set, is the source checkout ChartPath must lie in (a
	// chart from Git): the chart directory and every symlink in it must
	// resolve inside Root. Default: no confinement (a fetched package).
	Root string
	// ReleaseName is .Release.Name.
	ReleaseName string
	// Namespace is .Release.Namespace: the release namespace, where the
	// orchestrator puts namespaced objects rendered without a namespace.
	// Default "default".
	Namespace string
	// Values are the user-supplied values (MergeValues' result); they are
	// coalesced over the chart's values as Helm does. Default: none.
	Values map[string]any
	// ValuesFiles are files of the chart, merged in order, that replace
	// the chart's values.yaml as its default values (Flux's HelmChart
	// valuesFiles; values.yaml counts only when listed). Default: the
	// chart's values.yaml.
	ValuesFiles []string
	// IgnoreMissingValuesFiles leaves out ValuesFiles the chart does not
	// have, as Flux's ignoreMissingValuesFiles. Default false: a missing
	// file is an error.
	IgnoreMissingValuesFiles bool
	// Decryption decrypts ValuesFiles that SOPS encrypted (Flux leaves
	// them encrypted). Default nil: an encrypted values file is an error
	// wrapping render.ErrDecryptionRequired.
	Decryption *sops.Keys
	// Secrets, when set, receives every value the decryption of
	// ValuesFiles reveals, for the caller to mask in whatever it reports
	// (as render.Options.Secrets). The chart stage masks them in its own
	// errors. Default nil.
	Secrets *redact.Secrets
	// KubeVersion is .Capabilities.KubeVersion, e.g. "v1.37.2" (see
	// ClusterCapabilities). Default: Helm's built-in version, which is not
	// the cluster's.
	KubeVersion string
	// APIVersions is .Capabilities.APIVersions: "group/version" and
	// "group/version/Kind" entries, as ClusterCapabilities returns them.
	// When set it is the whole list, as in a real install. Default (nil):
	// Helm's built-in list of the client's API versions.
	APIVersions []string
	// IsUpgrade renders as an upgrade (.Release.IsUpgrade true,
	// .Release.IsInstall false). Default: an install.
	IsUpgrade bool
	// Revision is .Release.Revision. Default 1.
	Revision int
	// CRDs is the policy for crds/ directories. Default CRDsCreate.
	CRDs CRDPolicy
	// PostRenderers run in order over the rendered templates, as
	// PostRenderStrategy says; never over crds/.
	PostRenderers []PostRenderer
	// PostRenderStrategy says whether hooks are post-rendered. Default
	// PostRenderCombined.
	PostRenderStrategy PostRenderStrategy
	// CommonMetadata labels and annotations are set on every object,
	// hook and CRD after post-rendering. Default: none.
	CommonMetadata *render.CommonMetadata
	// DisableSchemaValidation skips values.schema.json.
	DisableSchemaValidation bool
	// IncludeTestHooks keeps hooks whose only event is test. Default: they
	// are left out of Rendered.Hooks.
	IncludeTestHooks bool
	// WorkDir is where Render writes its temporary files (the rendered
	// manifests, for validation and post-rendering). Default
	// os.TempDir().
	WorkDir string
	// Logger receives debug records; nil discards them.
	Logger *slog.Logger
}

// Rendered is a rendered release.
type Rendered struct {
	// Chart, Version and AppVersion describe the rendered chart.
	Chart, Version, AppVersion string
	// Objects are the templates' objects that are not hooks, validated
	// and sorted as pkg/render sorts (group, kind, namespace, name).
	// Namespaced objects rendered without a namespace have none: they
	// belong in the release namespace.
	Objects []*unstructured.Unstructured
	// Sources[i] is the template file Objects[i] came from, e.g.
	// "app/charts/db/templates/statefulset.yaml".
	Sources []string
	// CRDs are the objects of the crds/ directories (empty with
	// CRDsSkip), sorted the same way; CRDSources[i] names the file.
	CRDs       []*unstructured.Unstructured
	CRDSources []string
	// CRDPolicy is the policy the CRDs are to be applied with.
	CRDPolicy CRDPolicy
	// Hooks are the hooks, in the order Helm runs them: by weight, then
	// name (HooksFor selects one event's).
	Hooks []Hook
	// Notes is the rendered NOTES.txt of the chart (not of subcharts).
	Notes string
	// Digest is "sha256:<hex>" over the objects, the CRDs and the hooks
	// with their events, weights and delete policies.
	Digest string
}

// Render renders a chart the way `helm install` would render it against a
// cluster with KubeVersion and APIVersions, without talking to any cluster
// or network: templates through the Helm v4 engine (lookup returns
// nothing, DNS functions are off), values coalesced and checked against
// values.schema.json, dependencies taken from the chart's charts/
// directory only. The templates' objects, hooks and CRDs come back
// validated like pkg/render's output (apiVersion, kind and name present,
// no object twice); errors name the template file. A panic in Helm is
// returned as an error.
func Render(ctx context.Context, opts RenderOptions) (res *Rendered, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("%s: render panicked: %v: %w", opts.ChartPath, r, ErrInvalidChart)
		}
	}()
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	if err := opts.check(); err != nil {
		return nil, err
	}
	if opts.Root != "" {
		if err := confined(opts.Root, opts.ChartPath); err != nil {
			return nil, err
		}
	}
	out, err := renderChart(ctx, &opts)
	if err != nil {
		return nil, err
	}
	res = &Rendered{
		Chart: out.Chart, Version: out.Version, AppVersion: out.AppVersion, Notes: out.Notes,
		CRDPolicy: cmp.Or(opts.CRDs, CRDsCreate),
	}
	if err := assemble(ctx, out, &opts, res); err != nil {
		return nil, err
	}
	log.DebugContext(ctx, "rendered chart", "chart", res.Chart, "version", res.Version,
		"objects", len(res.Objects), "hooks", len(res.Hooks), "crds", len(res.CRDs), "duration", time.Since(start))
	return res, nil
}

func (o *RenderOptions) namespace() string { return cmp.Or(o.Namespace, "default") }

// check validates the options that need no chart (the release name is
// the chart stage's, which validates it as Helm does).
func (o *RenderOptions) check() error {
	if o.ChartPath == "" {
		return fmt.Errorf("render: ChartPath is required: %w", ErrInvalidOptions)
	}
	switch o.CRDs {
	case "", CRDsCreate, CRDsCreateReplace, CRDsSkip:
	default:
		return fmt.Errorf("CRD policy %q: must be Create, CreateReplace or Skip: %w", o.CRDs, ErrInvalidOptions)
	}
	switch o.PostRenderStrategy {
	case "", PostRenderCombined, PostRenderSeparate, PostRenderNoHooks:
	default:
		return fmt.Errorf("post-render strategy %q: must be combined, separate or nohooks: %w", o.PostRenderStrategy, ErrInvalidOptions)
	}
	for i, f := range o.ValuesFiles {
		if !filepath.IsLocal(f) {
			return fmt.Errorf("valuesFiles[%d] %q: must be a path inside the chart: %w", i, f, ErrInvalidOptions)
		}
	}
	return nil
}

// confined checks that p, and every symlink below it, resolves inside
// root, and that no file is larger than render.DefaultMaxFileSize (Helm
// reads a chart directory whole, up to 100 MiB, and a values file of that
// size takes many times that in memory). Helm's directory loader follows
// symlinks, also to directories, so the walk follows symlinked
// directories too (each real directory once).
func confined(root, p string) error {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return fmt.Errorf("%s: %w", root, err)
	}
	inside := func(q string) bool {
		rel, err := filepath.Rel(realRoot, q)
		return err == nil && filepath.IsLocal(rel)
	}
	realP, err := filepath.EvalSymlinks(p)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	if realP != realRoot && !inside(realP) {
		return fmt.Errorf("%s: the chart is outside the source: %w", p, ErrInvalidOptions)
	}
	seen := map[string]bool{}
	var walk func(dir string) error
	walk = func(dir string) error {
		if seen[dir] {
			return nil
		}
		seen[dir] = true
		return filepath.WalkDir(dir, func(q string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() {
				return checkSize(q)
			}
			if d.Type()&fs.ModeSymlink == 0 {
				return nil
			}
			t, err := filepath.EvalSymlinks(q)
			if err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
			if t != realRoot && !inside(t) {
				return fmt.Errorf("%s: symlink leads outside the source: %w", q, ErrInvalidChart)
			}
			if st, err := os.Stat(t); err == nil && st.IsDir() {
				return walk(t)
			}
			return checkSize(q)
		})
	}
	return walk(realP)
}

// checkSize refuses a chart file larger than render.DefaultMaxFileSize.
func checkSize(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	if st.Mode().IsRegular() && st.Size() > render.DefaultMaxFileSize {
		return fmt.Errorf("%s: %d bytes, more than the limit of %d: %w: %w", p, st.Size(), render.DefaultMaxFileSize, ErrInvalidChart, render.ErrFileTooLarge)
	}
	return nil
}

// group is one set of rendered files written for pkg/render.
type group struct {
	name  string              // directory below the work dir
	files map[string][]string // template file → YAML documents
	post  bool                // run the post-renderers
	meta  bool                // set the common metadata
}

func (g *group) add(file, doc string) {
	if g.files == nil {
		g.files = map[string][]string{}
	}
	g.files[file] = append(g.files[file], doc)
}

// assemble splits the rendered files into objects and hooks, post-renders
// and validates each set with pkg/render, reads the CRDs, and fills res.
func assemble(ctx context.Context, out *chartrender.Result, opts *RenderOptions, res *Rendered) error {
	files := make(map[string]string, len(out.Files))
	names := make([]string, 0, len(out.Files))
	for _, f := range out.Files {
		if strings.HasPrefix(path.Base(f.Name), "_") || strings.TrimSpace(f.Data) == "" {
			continue
		}
		if _, dup := files[f.Name]; !dup {
			names = append(names, f.Name)
		}
		files[f.Name] = f.Data
	}
	slices.Sort(names)
	// The strategy decides what the post-renderers see: everything in one
	// stream (combined), objects and hooks in two (separate), or only the
	// objects (nohooks, Helm 3's behaviour).
	var groups []*group
	strategy := opts.postRenderStrategy()
	if strategy == PostRenderCombined && len(opts.PostRenderers) == 0 {
		// Nothing to post-render: keep hooks apart, so that an object
		// that is also a hook is not a duplicate (as in Helm).
		strategy = PostRenderSeparate
	}
	switch strategy {
	case PostRenderCombined:
		all := &group{name: "all", post: true, meta: true}
		for _, name := range names {
			all.add(name, files[name])
		}
		groups = append(groups, all)
	default:
		manifests := &group{name: "manifests", post: true, meta: true}
		separate := strategy == PostRenderSeparate
		hooks := &group{name: "hooks", post: separate, meta: separate}
		for _, name := range names {
			docs, err := splitDocuments(files[name], name)
			if err != nil {
				return err
			}
			for _, d := range docs {
				if d.hook {
					hooks.add(name, d.text)
				} else {
					manifests.add(name, d.text)
				}
			}
		}
		groups = append(groups, manifests, hooks)
	}
	work, err := os.MkdirTemp(opts.WorkDir, "gitsync-helm-")
	if err != nil {
		return err
	}
	defer func() {
		// A leftover directory does not make the rendering wrong; say so.
		if err := os.RemoveAll(work); err != nil && opts.Logger != nil {
			opts.Logger.WarnContext(ctx, "removing the render directory failed", "dir", work, "error", err)
		}
	}()

	var all []*unstructured.Unstructured
	var allSrcs []string
	for _, g := range groups {
		r, err := postRender(ctx, work, g, opts)
		if err != nil {
			return err
		}
		all = append(all, r.Objects...)
		allSrcs = append(allSrcs, r.Sources...)
	}
	// Post-renderers may add or remove hook annotations; what carries one
	// afterwards is a hook, as in Helm.
	for i, o := range all {
		h, isHook, err := hookOf(o, allSrcs[i])
		if err != nil {
			return fmt.Errorf("%s: %s: %w: %w", allSrcs[i], objectID(o), ErrInvalidChart, err)
		}
		if !isHook {
			res.Objects = append(res.Objects, o)
			res.Sources = append(res.Sources, allSrcs[i])
			continue
		}
		if !opts.IncludeTestHooks {
			h.Events = slices.DeleteFunc(h.Events, func(e HookEvent) bool { return e == HookTest })
			if len(h.Events) == 0 {
				continue
			}
		}
		res.Hooks = append(res.Hooks, h)
	}
	if err := sortAndCheck(res.Objects, res.Sources); err != nil {
		return err
	}
	sortHooks(res.Hooks)

	if res.CRDPolicy != CRDsSkip {
		crds := &group{name: "crds", meta: true}
		for _, crd := range out.CRDs {
			crds.add(crd.Name, crd.Data)
		}
		r, err := postRender(ctx, work, crds, opts)
		if err != nil {
			return err
		}
		res.CRDs, res.CRDSources = r.Objects, r.Sources
		if err := crossDuplicates(res); err != nil {
			return err
		}
	}
	res.Digest = digest(res)
	return nil
}

// document is one YAML document of a rendered file.
type document struct {
	text string
	hook bool
}

// splitDocuments splits a rendered file into documents and tells hooks
// from objects by their annotation. Documents that hold nothing are
// dropped; a document that is not YAML is an error naming the file.
func splitDocuments(content, file string) ([]document, error) {
	dec := kyaml.NewDecoder(strings.NewReader(content))
	var out []document
	for n := 1; ; n++ {
		var node kyaml.Node
		err := dec.Decode(&node)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w: %w", file, n, ErrInvalidChart, err)
		}
		body := &node
		if node.Kind == kyaml.DocumentNode && len(node.Content) == 1 {
			body = node.Content[0]
		}
		if body.Kind == 0 || body.Kind == kyaml.ScalarNode && body.Tag == "!!null" {
			continue
		}
		var head struct {
			Metadata struct {
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"metadata"`
		}
		_ = body.Decode(&head) // a malformed object is reported by pkg/render
		var buf bytes.Buffer
		enc := kyaml.NewEncoder(&buf)
		if err := enc.Encode(body); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w: %w", file, n, ErrInvalidChart, err)
		}
		_, hook := head.Metadata.Annotations[HookAnnotation]
		out = append(out, document{text: buf.String(), hook: hook})
	}
}

// postRender writes a group's files below work, one per template file,
// with a kustomization listing them, and runs pkg/render over them: the
// post-renderers' patches and images and the common metadata (as the group
// says), then pkg/render's validation and sorting. Errors name the
// template files.
func postRender(ctx context.Context, work string, g *group, opts *RenderOptions) (*render.Result, error) {
	if len(g.files) == 0 {
		return &render.Result{}, nil
	}
	root := filepath.Join(work, g.name)
	names := make([]string, 0, len(g.files))
	for name := range g.files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !filepath.IsLocal(filepath.FromSlash(name)) {
			return nil, fmt.Errorf("%s: file name leaves the chart: %w", name, ErrInvalidChart)
		}
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, []byte(strings.Join(g.files[name], "---\n")), 0o600); err != nil {
			return nil, err
		}
	}
	var renderers []PostRenderer
	if g.post {
		renderers = opts.PostRenderers
	}
	// Each post-renderer sees the previous one's output; the common
	// metadata goes on at the last step.
	steps := max(len(renderers), 1)
	var res *render.Result
	for step := range steps {
		if step > 0 {
			// Feed the previous output to the next post-renderer, keeping
			// the file each object came from.
			if err := rewrite(root, res); err != nil {
				return nil, err
			}
		}
		k, err := kustomizationFor(root)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(root, "kustomization.yaml"), k, 0o600); err != nil {
			return nil, err
		}
		ro := render.Options{Root: root, Logger: opts.Logger}
		if step < len(renderers) {
			ro.Patches, ro.Images = renderers[step].Patches, renderers[step].Images
		}
		if step == steps-1 && g.meta {
			ro.CommonMetadata = opts.CommonMetadata
		}
		if res, err = render.Render(ctx, ro); err != nil {
			if step < len(renderers) {
				return nil, fmt.Errorf("post-renderer %d: %w", step, err)
			}
			return nil, fmt.Errorf("%w: %w", ErrInvalidChart, err)
		}
	}
	return res, nil
}

// kustomizationFor lists every file below root except kustomization.yaml
// as a resource.
func kustomizationFor(root string) ([]byte, error) {
	var res []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "kustomization.yaml" {
			return err
		}
		res = append(res, "./"+filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return yaml.Marshal(map[string]any{
		"apiVersion": "kustomize.config.k8s.io/v1beta1",
		"kind":       "Kustomization",
		"resources":  res,
	})
}

// rewrite replaces the files below root by the objects of res, each in
// the file it came from.
func rewrite(root string, res *render.Result) error {
	if err := os.RemoveAll(root); err != nil {
		return err
	}
	byFile := map[string][]string{}
	var order []string
	for i, o := range res.Objects {
		src := cmp.Or(res.Sources[i], "post-rendered.yaml")
		b, err := yaml.Marshal(o.Object)
		if err != nil {
			return err
		}
		if _, ok := byFile[src]; !ok {
			order = append(order, src)
		}
		byFile[src] = append(byFile[src], string(b))
	}
	for _, src := range order {
		p := filepath.Join(root, filepath.FromSlash(src))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(strings.Join(byFile[src], "---\n")), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// objectID names an object as Kind/namespace/name or Kind/name.
func objectID(o *unstructured.Unstructured) string {
	if ns := o.GetNamespace(); ns != "" {
		return o.GetKind() + "/" + ns + "/" + o.GetName()
	}
	return o.GetKind() + "/" + o.GetName()
}

// identity is the sort key and identity pkg/render uses.
func identity(o *unstructured.Unstructured) [4]string {
	return [4]string{o.GroupVersionKind().Group, o.GetKind(), o.GetNamespace(), o.GetName()}
}

// sortAndCheck sorts objects (and sources with them) by identity and
// rejects duplicates. The objects of one pkg/render call are sorted and
// unique already; objects that post-renderers moved between the hooks and
// the templates are merged in here.
func sortAndCheck(objs []*unstructured.Unstructured, srcs []string) error {
	idx := make([]int, len(objs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		ka, kb := identity(objs[a]), identity(objs[b])
		return slices.Compare(ka[:], kb[:])
	})
	so := make([]*unstructured.Unstructured, len(objs))
	ss := make([]string, len(objs))
	for i, j := range idx {
		so[i], ss[i] = objs[j], srcs[j]
		if i > 0 && identity(so[i]) == identity(so[i-1]) {
			return fmt.Errorf("%s: %s: %w: also rendered from %s: %w", ss[i], objectID(so[i]), render.ErrDuplicate, ss[i-1], ErrInvalidChart)
		}
	}
	copy(objs, so)
	copy(srcs, ss)
	return nil
}

// crossDuplicates rejects an object rendered both from crds/ and from the
// templates: the two would fight over it.
func crossDuplicates(res *Rendered) error {
	seen := map[[4]string]string{}
	for i, o := range res.Objects {
		seen[identity(o)] = res.Sources[i]
	}
	for i, o := range res.CRDs {
		if src, ok := seen[identity(o)]; ok {
			return fmt.Errorf("%s: %s: %w: also rendered from %s: %w", res.CRDSources[i], objectID(o), render.ErrDuplicate, src, ErrInvalidChart)
		}
	}
	return nil
}

// digest hashes what a run applies: objects, CRDs (with the policy) and
// hooks with their metadata, each as canonical JSON on its own line.
func digest(res *Rendered) string {
	h := sha256.New()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	write := func(v any) {
		buf.Reset()
		_ = enc.Encode(v) // objects decoded from JSON/YAML always encode
		h.Write(buf.Bytes())
	}
	write("objects")
	for _, o := range res.Objects {
		write(o.Object)
	}
	write("crds " + string(res.CRDPolicy))
	for _, o := range res.CRDs {
		write(o.Object)
	}
	write("hooks")
	for _, hk := range res.Hooks {
		write(map[string]any{"events": hk.Events, "weight": hk.Weight, "deletePolicies": hk.DeletePolicies})
		write(hk.Object.Object)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}
