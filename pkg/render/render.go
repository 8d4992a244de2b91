// Package render turns a fetched source directory into the validated list of
// Kubernetes objects a sync applies, with the semantics Flux's
// kustomize-controller gives a Kustomization: a generated kustomization for a
// plain directory, targetNamespace/namePrefix/nameSuffix/patches/images/
// components merged into the kustomization, postBuild substitution, then
// commonMetadata.
//
// Everything sits behind Render. It reads only below Options.Root (no ".."
// escapes, no symlinks leading out, no remote bases or URLs, no exec,
// container or Helm plugins), never writes to the checkout, turns kustomize
// panics into errors, and rejects instead of dropping: invalid YAML, objects
// without apiVersion, kind or name, and the same object twice are errors
// that name the file.
//
// kustomize's build costs time with the square of the object count, so
// Render takes one of three paths. Trees that are plain lists of files (a
// directory without kustomization, or kustomizations that only list
// resources) with no option that needs kustomize's transformers are read
// directly. Such trees with targetNamespace, namePrefix, nameSuffix, images
// or patches (from the options or the top kustomization) take the linear
// path, which reproduces kustomize's transformers object by object
// (linear.go). Everything else is built by kustomize itself. All paths
// produce the same bytes (TestDirectMatchesKustomize,
// TestLinearMatchesKustomize, TestLinearRandomTrees).
//
// Choices where Flux leaves room, or where gitsync differs on purpose:
//   - A plain directory lists *.yaml and *.yml files (not JSON) and
//     subdirectories holding a kustomization, like Flux's generator; hidden
//     directories and the CI/tooling files source-controller ignores by
//     default are skipped. .sourceignore is the fetch stage's business.
//   - Loads are not restricted to a kustomization's own directory
//     (kustomize's LoadRestrictionsNone, as Flux uses): ../base and
//     ../patches/x.yaml work as long as they stay inside Root, which the
//     filesystem enforces.
//   - Substitution is always strict (Flux's StrictPostBuildSubstitutions):
//     an undefined variable without a default is an error. ${var:?x} and
//     ${var:+x} evaluate as ${var:-x}, as Flux's library does (subst.go).
//   - Output is sorted by group, kind, namespace and name rather than left
//     in kustomize's order; the apply stage orders by kind itself.
//   - Every file read is bounded: larger than Options.MaxFileSize (16 MiB)
//     or with YAML aliases that expand past manifest.MaxAliasNodes added
//     nodes ("billion laughs") fails the render, naming the file, before
//     kustomize or the YAML decoder expands it.
//   - kustomize is asked for origin annotations so errors and
//     Result.Sources name files; Render removes them again unless the
//     kustomization asked for them.
package render

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/kustomize/api/provider"
	"sigs.k8s.io/kustomize/api/resource"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/gitsync/gitsync/pkg/redact"
	"github.com/gitsync/gitsync/pkg/sops"
)

// ErrDuplicate is wrapped by the error Render returns when two rendered
// objects have the same group, kind, namespace and name.
var ErrDuplicate = errors.New("duplicate object")

// Substitution opt-out: an object labelled or annotated with either key set
// to "disabled" is left as rendered. The first is Flux's own key.
const (
	FluxSubstituteKey    = "kustomize.toolkit.fluxcd.io/substitute"
	GitsyncSubstituteKey = "gitsync.io/substitute"
	SubstituteDisabled   = "disabled"
)

// Options says what to render and how. The zero value of every field except
// Root means "not set".
type Options struct {
	// Root is the source checkout. Nothing outside it is read. Required.
	Root string
	// Path is the directory to build, relative to Root; "" or "." is Root.
	// It must stay inside Root.
	Path string

	// TargetNamespace, when set, becomes the kustomization's namespace:
	// every namespaced object moves to it, Namespace objects are renamed
	// to it, RoleBinding subjects and webhook service references follow
	// (kustomize's namespace transformer, as in Flux).
	TargetNamespace string
	// NamePrefix and NameSuffix, when set, replace the kustomization's own
	// and are added to every object name, with references updated.
	NamePrefix, NameSuffix string
	// CommonMetadata labels and annotations are set on every object after
	// substitution, overriding existing keys; selectors and templates are
	// not touched (Flux's commonMetadata).
	CommonMetadata *CommonMetadata
	// Patches are appended to the kustomization's patches: strategic merge
	// or JSON 6902, each with an optional Target.
	Patches []Patch
	// Images are merged into the kustomization's images by name.
	Images []Image
	// Components are appended to the kustomization's components; each must
	// be a local path relative to Path.
	Components []string

	// Substitute holds postBuild variables, gathered by the caller.
	// Substitution runs only when Substitute is non-nil; an empty non-nil
	// map still runs it, so defaults apply and undefined variables fail
	// (Flux runs substitution when postBuild is set and there are variables,
	// or when its strategy says always; a caller that wants Flux's default
	// passes nil when it gathered no variables). Newlines in values are
	// removed, as Flux does. Undefined variables without a default are an
	// error (Flux's strict mode) unless LenientSubstitution is set.
	Substitute map[string]string
	// LenientSubstitution makes an undefined variable without a default
	// "", as Flux does without its StrictPostBuildSubstitutions feature
	// gate; Result.UndefinedVariables names them.
	LenientSubstitution bool

	// Decryption holds the keys SOPS-encrypted files are decrypted with as
	// they are read (Flux's decryption with provider sops). nil means
	// decryption is not configured: reading an encrypted file, or
	// rendering an object with SOPS metadata, fails with
	// ErrDecryptionRequired.
	Decryption *sops.Keys

	// Secrets, when set, receives every value SOPS decryption reveals, as
	// it is decrypted (also when the render then fails), so that the
	// caller can mask them in whatever it reports (redact.Secrets).
	Secrets *redact.Secrets

	// MaxFileSize is the largest file, in bytes, the render reads
	// (manifests, kustomizations, patches, generator files, a Helm
	// chart's rendered templates); a larger one fails the render, naming
	// it. 0 means DefaultMaxFileSize (16 MiB).
	MaxFileSize int64

	// Logger receives debug records about the chosen build path; nil
	// discards them.
	Logger *slog.Logger
}

// CommonMetadata holds the labels and annotations set on every object.
type CommonMetadata struct {
	Labels      map[string]string
	Annotations map[string]string
}

// Patch is an inline strategic merge or JSON 6902 patch. Without Target a
// strategic merge patch selects its object by its own kind and name.
type Patch struct {
	Patch  string
	Target *Selector
}

// Selector picks the objects a patch applies to. Empty fields match
// anything; Name and Namespace are regular expressions; LabelSelector and
// AnnotationSelector use the Kubernetes label selector syntax.
type Selector struct {
	Group, Version, Kind string
	Name, Namespace      string
	LabelSelector        string
	AnnotationSelector   string
}

// Image overrides a container image: Name is the image to match, NewName
// replaces it, NewTag or Digest replace its version (Digest wins).
type Image struct {
	Name, NewName, NewTag, Digest string
}

// Result is the rendered set.
type Result struct {
	// Objects in canonical order: by group, kind, namespace, name.
	Objects []*unstructured.Unstructured
	// Sources[i] is the file, relative to Root, that Objects[i] came
	// from; for generated objects the kustomization that generated them;
	// "" when kustomize did not say.
	Sources []string
	// Digest is "sha256:" and the hex SHA-256 of the objects' canonical
	// JSON (sorted keys), each followed by a newline, in the order above.
	Digest string
	// Encoded[i] is the JSON of Objects[i] that Digest hashes, newline
	// included, as the objects were rendered (a caller that changes them
	// afterwards keeps these bytes).
	Encoded [][]byte
	// Inputs are the directories of Root the render looked into, relative
	// to Root, sorted; see InputsDigest.
	Inputs []string
	// UndefinedVariables are the variables a lenient substitution
	// (Options.LenientSubstitution) made "", sorted.
	UndefinedVariables []string
}

// Render builds opts.Path inside opts.Root and returns the validated objects.
func Render(ctx context.Context, opts Options) (*Result, error) {
	res, _, err := render(ctx, opts, pathAuto)
	return res, err
}

// buildPath names the way a tree was built.
type buildPath string

const (
	pathAuto      buildPath = ""          // let render choose
	pathDirect    buildPath = "direct"    // files read without kustomize
	pathLinear    buildPath = "linear"    // kustomize's transformers object by object (linear.go)
	pathKustomize buildPath = "kustomize" // a kustomize build
)

// render is Render; force lets tests build a tree with kustomize (or
// insist on the linear path) to prove the paths agree, and path says which
// one built it.
func render(ctx context.Context, opts Options, force buildPath) (res *Result, path buildPath, err error) {
	defer func() {
		// kustomize and YAML libraries panic on some malformed input;
		// a bad commit must fail the run, not crash the job.
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("%s: render panicked: %v", cmp.Or(opts.Path, "."), r)
		}
	}()
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	c, dir, err := open(opts.Root, opts.Path, opts.Decryption, opts.MaxFileSize)
	if c != nil {
		c.secrets = opts.Secrets
	}
	if err != nil {
		return nil, "", err
	}
	defer func() {
		if err == nil && res != nil {
			res.Inputs = c.inputDirs()
		}
	}()
	if err := validateOptions(&opts); err != nil {
		return nil, "", err
	}
	if err := c.checkSymlinks(dir); err != nil {
		return nil, "", err
	}
	kfile, n := c.kustomizationIn(dir)
	if n > 1 {
		return nil, "", fmt.Errorf("%s: more than one kustomization file", c.rel(dir))
	}
	var entries []entry
	if kfile == "" {
		if entries, err = c.scan(ctx, dir); err != nil {
			return nil, "", err
		}
	}

	var objs []object
	if force == pathAuto && !needsKustomize(&opts) {
		files, ok, err := c.collectSimple(ctx, dir, kfile, entries)
		if err != nil {
			return nil, "", err
		}
		if ok {
			exact := false
			if objs, exact, err = c.readDirect(ctx, files); err != nil {
				return nil, "", err
			}
			if exact {
				path = pathDirect
			} else {
				log.DebugContext(ctx, "direct read not possible", "path", c.rel(dir))
			}
		}
	}
	if path == "" && (force == pathAuto || force == pathLinear) && (kfile != "" || len(entries) > 0) {
		plan, why, err := c.planLinear(ctx, dir, kfile, entries, &opts)
		switch {
		case err != nil:
			return nil, "", err
		case plan == nil:
			log.DebugContext(ctx, "linear build not possible", "path", c.rel(dir), "reason", why)
		default:
			objs, err = c.runLinear(ctx, plan)
			switch {
			case err == nil:
				path = pathLinear
			case errors.Is(err, errLinear):
				// kustomize says what is wrong in its words, or
				// builds what the linear path could not.
				why = err.Error()
				log.DebugContext(ctx, "linear build failed, building with kustomize", "path", c.rel(dir), "error", err)
			default:
				return nil, "", err
			}
		}
		if path == "" && force == pathLinear {
			return nil, "", fmt.Errorf("%s: no linear build: %s", c.rel(dir), why)
		}
	}
	if path == "" {
		path = pathKustomize
		if kfile == "" {
			if len(entries) == 0 && len(opts.Components) == 0 {
				res, err := finish(ctx, nil, &opts)
				return res, path, err
			}
			// Read the files first so a broken one is reported with
			// its name, document and line rather than kustomize's words.
			files := make([]string, 0, len(entries))
			for _, e := range entries {
				if !e.isDir {
					files = append(files, e.path)
				}
			}
			if _, err := c.readAll(ctx, files); err != nil {
				return nil, "", err
			}
		}
		data, added, err := kustomization(c, dir, kfile, entries, &opts)
		if err != nil {
			return nil, "", err
		}
		target := kfile
		if target == "" {
			target = filepath.Join(dir, "kustomization.yaml")
		}
		real, err := c.resolve(target)
		if err != nil {
			return nil, "", err
		}
		c.overlay[real] = data
		if objs, err = kustomize(c, dir, added); err != nil {
			return nil, "", err
		}
	}
	if path != pathDirect {
		for i := range objs {
			if err := checkObject(objs[i].obj); err != nil {
				return nil, "", fmt.Errorf("%s: %w", objs[i].where(), err)
			}
		}
	}
	res, err = finish(ctx, objs, &opts)
	if err != nil {
		return nil, "", err
	}
	log.DebugContext(ctx, "rendered", "path", c.rel(dir), "objects", len(res.Objects),
		"kustomize", path == pathKustomize, "build", string(path), "duration", time.Since(start))
	return res, path, nil
}

// needsKustomize reports whether an option can only be honoured by
// kustomize's transformers (cross-object name references, namespace rules,
// patch targeting).
func needsKustomize(o *Options) bool {
	return o.TargetNamespace != "" || o.NamePrefix != "" || o.NameSuffix != "" ||
		len(o.Patches) > 0 || len(o.Images) > 0 || len(o.Components) > 0
}

// open checks Root and Path and returns the confined filesystem and the
// absolute directory to build.
func open(root, path string, keys *sops.Keys, maxFileSize int64) (*confinedFS, string, error) {
	if root == "" {
		return nil, "", errors.New("render: Root is required")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", root, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", root, err)
	}
	c := newConfinedFS(real)
	c.keys = keys
	if maxFileSize > 0 {
		c.maxFileSize = maxFileSize
	}
	if filepath.IsAbs(path) {
		return nil, "", fmt.Errorf("%s: path must be relative to the source root: %w", path, ErrOutsideRoot)
	}
	dir := filepath.Join(real, path)
	if !within(real, dir) {
		return nil, "", fmt.Errorf("%s: %w", path, ErrOutsideRoot)
	}
	rdir, err := c.resolve(dir)
	if err != nil {
		return nil, "", err
	}
	info, err := os.Stat(rdir)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", cmp.Or(path, "."), err)
	}
	if !info.IsDir() {
		return nil, "", fmt.Errorf("%s: not a directory", path)
	}
	return c, rdir, nil
}

func validateOptions(o *Options) error {
	for name := range o.Substitute {
		if !varNameRE.MatchString(name) {
			return fmt.Errorf("substitute: variable name %q is invalid, it must match %s", name, varNameRE)
		}
	}
	for _, comp := range o.Components {
		if comp == "" || filepath.IsAbs(comp) || isRemote(comp) ||
			strings.HasPrefix(strings.ToLower(comp), "file://") {
			return fmt.Errorf("components: %q must be a local relative path", comp)
		}
	}
	for i, p := range o.Patches {
		if strings.TrimSpace(p.Patch) == "" {
			return fmt.Errorf("patches[%d]: empty patch", i)
		}
	}
	return nil
}

// readAll parses files in order.
func (c *confinedFS) readAll(ctx context.Context, files []string) ([]object, error) {
	var objs []object
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		data, err := c.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.rel(f), err)
		}
		o, err := parseManifests(data, c.rel(f))
		if err != nil {
			return nil, err
		}
		objs = append(objs, o...)
	}
	return objs, nil
}

// readDirect reads the files of a plain tree and returns what kustomize's
// build of them gives: local-config objects dropped, the annotations
// kustomize uses while it builds stripped, and the objects of files with
// YAML anchors or List kinds as kustomize's reader reads them. exact is
// false when an object holds something kustomize would change in a way a
// decoded object cannot show (an annotation value that is not a string,
// one of kustomize's own annotations); render then takes another path.
func (c *confinedFS) readDirect(ctx context.Context, files []string) (objs []object, exact bool, err error) {
	var rf *resource.Factory
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		rel := c.rel(f)
		data, err := c.ReadFile(f)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", rel, err)
		}
		docs, plain, err := decodeFile(data, rel, true)
		if err != nil {
			return nil, false, err
		}
		if !plain {
			if rf == nil {
				rf = provider.NewDepProvider().GetResourceFactory()
			}
			rs, err := rf.SliceFromBytes(data)
			if err != nil {
				return nil, false, nil
			}
			docs = docs[:0]
			for _, res := range rs {
				raw, err := res.Map()
				if err != nil {
					return nil, false, nil
				}
				nv, err := normalize(raw)
				if err != nil {
					return nil, false, nil
				}
				docs = append(docs, document{obj: nv.(map[string]any)})
			}
		}
		for _, d := range docs {
			o := object{obj: d.obj, source: rel, line: d.line}
			if err := checkLinearObject(d.obj); err != nil {
				if errors.Is(err, errLinear) {
					return nil, false, nil
				}
				return nil, false, fmt.Errorf("%s: %w", o.where(), err)
			}
			if isLocalConfig(d.obj) {
				continue
			}
			stripBuildAnnotations(d.obj)
			objs = append(objs, o)
		}
	}
	return objs, true, nil
}

// finish runs the steps Flux runs after the build, in Flux's order
// (substitution, then commonMetadata), rejects duplicates, sorts and
// digests.
func finish(ctx context.Context, objs []object, opts *Options) (*Result, error) {
	var undefined map[string]bool
	if opts.Substitute != nil {
		vars := make(map[string]string, len(opts.Substitute))
		for k, v := range opts.Substitute {
			vars[k] = strings.ReplaceAll(v, "\n", "")
		}
		if opts.LenientSubstitution {
			undefined = map[string]bool{}
		}
		for i := range objs {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if err := substitute(&objs[i], vars, undefined); err != nil {
				return nil, err
			}
		}
	}
	for i := range objs {
		if err := checkNotEncrypted(objs[i].obj, opts.Decryption); err != nil {
			return nil, fmt.Errorf("%s: %w", objs[i].where(), err)
		}
		if err := checkNames(&objs[i]); err != nil {
			return nil, err
		}
	}
	if cm := opts.CommonMetadata; cm != nil {
		for i := range objs {
			setCommonMetadata(objs[i].obj, cm)
		}
	}
	type keyed struct {
		key [4]string
		o   *object
	}
	ks := make([]keyed, len(objs))
	for i := range objs {
		g, k, ns, n := identity(objs[i].obj)
		ks[i] = keyed{key: [4]string{g, k, ns, n}, o: &objs[i]}
	}
	slices.SortStableFunc(ks, func(a, b keyed) int { return slices.Compare(a.key[:], b.key[:]) })
	res := &Result{
		Objects:            make([]*unstructured.Unstructured, len(ks)),
		Sources:            make([]string, len(ks)),
		UndefinedVariables: slices.Sorted(maps.Keys(undefined)),
	}
	for i, k := range ks {
		if i > 0 && k.key == ks[i-1].key {
			return nil, fmt.Errorf("%s: %w: also rendered from %s", k.o.where(), ErrDuplicate, whereFile(ks[i-1].o))
		}
		res.Objects[i] = &unstructured.Unstructured{Object: k.o.obj}
		res.Sources[i] = k.o.source
	}
	var err error
	res.Encoded, res.Digest, err = EncodeSet(ctx, res.Objects, func(i int) string { return ks[i].o.where() })
	if err != nil {
		return nil, err
	}
	return res, nil
}

// EncodeSet returns the JSON of each of objs as a set digest hashes it
// (sorted keys, no HTML escaping, a newline after each) and that digest,
// "sha256:" and the hex SHA-256 of the encodings in the order of objs.
// where names object i in an error.
func EncodeSet(ctx context.Context, objs []*unstructured.Unstructured, where func(i int) string) ([][]byte, string, error) {
	// Encoding is most of the digest's cost and needs no order.
	encoded := make([][]byte, len(objs))
	err := forEach(ctx, len(objs), func(i int) error {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(objs[i].Object); err != nil {
			return fmt.Errorf("%s: %w", where(i), err)
		}
		encoded[i] = buf.Bytes()
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	h := sha256.New()
	for _, b := range encoded {
		h.Write(b)
	}
	return encoded, "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

func whereFile(o *object) string {
	switch {
	case o.source != "" && o.line > 0:
		return fmt.Sprintf("%s:%d", o.source, o.line)
	case o.source != "":
		return o.source
	}
	return "another source"
}

// substitute runs postBuild substitution over the YAML form of one object,
// as Flux does, so a variable may change a value's type (replicas: ${n}).
func substitute(o *object, vars map[string]string, undefined map[string]bool) error {
	md, _ := o.obj["metadata"].(map[string]any)
	for _, field := range []string{"labels", "annotations"} {
		m, _ := md[field].(map[string]any)
		if m[FluxSubstituteKey] == SubstituteDisabled || m[GitsyncSubstituteKey] == SubstituteDisabled {
			return nil
		}
	}
	if !hasDollar(o.obj) {
		return nil
	}
	y, err := kyaml.Marshal(o.obj)
	if err != nil {
		return fmt.Errorf("%s: %w", o.where(), err)
	}
	out, err := expandWith(string(y), vars, undefined)
	if err != nil {
		return fmt.Errorf("%s: substitution: %w", o.where(), err)
	}
	j, err := sigsyaml.YAMLToJSON([]byte(out))
	if err != nil {
		return fmt.Errorf("%s: after substitution: %w: %w", o.where(), ErrInvalidObject, err)
	}
	var m map[string]any
	if err := utiljson.Unmarshal(j, &m); err != nil {
		return fmt.Errorf("%s: after substitution: %w: %w", o.where(), ErrInvalidObject, err)
	}
	if err := checkObject(m); err != nil {
		return fmt.Errorf("%s: after substitution: %w", o.where(), err)
	}
	o.obj = m
	return nil
}

// hasDollar reports whether any key or string value contains "$": only then
// can substitution change the object.
func hasDollar(v any) bool {
	switch t := v.(type) {
	case string:
		return strings.IndexByte(t, '$') >= 0
	case map[string]any:
		for k, e := range t {
			if strings.IndexByte(k, '$') >= 0 || hasDollar(e) {
				return true
			}
		}
	case []any:
		for _, e := range t {
			if hasDollar(e) {
				return true
			}
		}
	}
	return false
}

// setCommonMetadata sets labels and annotations on the object's metadata,
// overriding existing keys.
func setCommonMetadata(m map[string]any, cm *CommonMetadata) {
	md, _ := m["metadata"].(map[string]any)
	if md == nil {
		md = map[string]any{}
		m["metadata"] = md
	}
	for field, values := range map[string]map[string]string{"labels": cm.Labels, "annotations": cm.Annotations} {
		if len(values) == 0 {
			continue
		}
		cur, _ := md[field].(map[string]any)
		if cur == nil {
			cur = make(map[string]any, len(values))
			md[field] = cur
		}
		for k, v := range values {
			cur[k] = v
		}
	}
}
