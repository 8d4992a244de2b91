package syncrun

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/gitsync/gitsync/pkg/apply"
	"github.com/gitsync/gitsync/pkg/flux"
	"github.com/gitsync/gitsync/pkg/helm"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/render"
	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/spec"
)

// RenderOptions say which sync Render renders, and from where. The zero
// values of optional fields select their defaults.
type RenderOptions struct {
	// Name and Namespace name the sync. Required.
	Name, Namespace string
	// Spec, when set, is rendered in place of the spec ConfigMap's: a Sync
	// document that is not installed (yet). It must name the sync. Default:
	// read ConfigMap gitsync-NAME.
	Spec *spec.Sync
	// Config reaches the cluster, which holds the spec, the substitution
	// inputs, the inventory and the discovery information that decides
	// which objects are namespaced. Required.
	Config *rest.Config
	// LocalDir, when set, is a directory on this machine rendered in place
	// of the sync's source, with the spec's render options (target
	// namespace, patches, images, substitution, ...). The spec's source and
	// path are not used. Default: resolve and fetch the source as a run
	// does.
	LocalDir string
	// LocalRoot bounds what the render of LocalDir may read (a
	// kustomization's ../base must stay inside it); it must contain
	// LocalDir. Default LocalDir itself.
	LocalRoot string
	// Revision pins the render to a recorded revision, as Options.Revision
	// does for a run. Ignored with LocalDir. Default: follow the spec's ref.
	Revision string
	// NamespaceScoped fails the render, as Options.NamespaceScoped fails a
	// run, when it holds cluster-scoped objects or objects outside the
	// sync's namespace and targetNamespace. Default false.
	NamespaceScoped bool
	// WorkDir is where the source is fetched, in a private temp dir removed
	// before Render returns. Default os.TempDir().
	WorkDir string
	// Logger receives what the stages log. Default: discard.
	Logger *slog.Logger
	// Unit, when set, renders that unit of the sync (a Kustomization or
	// HelmRelease its render holds, at any depth) instead of the sync's
	// own objects: its parents are rendered to find it, then it is
	// rendered as a run would. With LocalDir, units that read the sync's
	// own repository read LocalRoot (or LocalDir). Default: the sync.
	Unit flux.ID
}

// Rendered is a sync's rendered set as a run would apply it, computed
// without writing anything: no Lease, no inventory write, no apply.
type Rendered struct {
	// Sync is the spec as read from ConfigMap gitsync-NAME.
	Sync *spec.Sync
	// Revision is the source revision rendered; "" for a LocalDir.
	Revision string
	// Objects are the rendered objects in render order, with the sync's
	// namespace set on namespaced objects rendered without one, as a run
	// does. The labels a run adds (Labels) are not set; WithLabels sets
	// them.
	Objects []*unstructured.Unstructured
	// Targets[i] is Objects[i] resolved against the cluster's discovery.
	Targets []apply.Target
	// Digest is the digest of the rendered set, as history records it.
	Digest string
	// Labels are the labels a run sets on every object it applies: the
	// ApplySet part-of label and the sync's own.
	Labels map[string]string
	// Inventory lists the objects the sync's inventory holds now.
	Inventory []inventory.Entry
	// Stale are the inventory's objects that are not in Objects: what a run
	// would prune when the spec's prune is enabled, if they still carry
	// Labels and do not opt out.
	Stale []apply.Target
	// InScope is apply.PruneOptions.InScope as a run has it: stale objects
	// outside the sync's current scope are orphaned, not pruned (scope.go).
	// Nil for a cluster-scoped sync.
	InScope func(apply.Target) bool
	// Flux are the Flux objects the render held: a run executes them as
	// units (RenderOptions.Unit renders one) instead of applying them.
	// Flux's own installation is not among them, nor in Objects, unless
	// spec.flux.installation is Apply (then it is in Objects).
	Flux []*unstructured.Unstructured
	// Unit is the unit rendered; zero for the sync itself.
	Unit flux.ID
	// Prune and Force are what the run applies Objects with: the spec's
	// prune (with its default) and force, or the unit's own (a
	// Kustomization's prune and force; a HelmRelease always prunes).
	Prune, Force bool
}

// WithLabels returns copies of Objects with Labels set, overriding rendered
// labels of the same key: the objects exactly as a run sends them.
func (r *Rendered) WithLabels() []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, len(r.Objects))
	for i, o := range r.Objects {
		c := o.DeepCopy()
		l := c.GetLabels()
		if l == nil {
			l = make(map[string]string, len(r.Labels))
		}
		maps.Copy(l, r.Labels)
		c.SetLabels(l)
		out[i] = c
	}
	return out
}

// Render reads the sync's spec, gathers its substitution variables,
// resolves and fetches its source (or reads opts.LocalDir), renders it and
// resolves every object against the cluster, exactly as a run's first
// stages do, and returns the result without applying anything. It fails
// where a run would fail before applying: a missing or invalid spec (a
// *SpecError), an unreachable source, a render error, an unknown kind, an
// object outside a namespaced sync's scope, or an empty render that would
// prune everything while the spec does not allow it. Errors start with the stage, as a run's do.
func Render(ctx context.Context, opts RenderOptions) (*Rendered, error) {
	if opts.Name == "" || opts.Namespace == "" || opts.Config == nil {
		return nil, errors.New("sync: Name, Namespace and Config are required")
	}
	r, err := newRunner(Options{Name: opts.Name, Namespace: opts.Namespace, Config: opts.Config, Logger: opts.Logger,
		Revision: opts.Revision, WorkDir: opts.WorkDir, NamespaceScoped: opts.NamespaceScoped})
	if err != nil {
		return nil, err
	}
	defer r.close(ctx)
	ctx = helm.WithIndexCache(ctx, r.indexes)
	r.dests.callerOnly = true
	if opts.Spec != nil {
		r.sync = opts.Spec
	} else if err := r.loadSpec(ctx); err != nil {
		return nil, err
	}
	s := &r.sync.Spec
	out := &Rendered{Sync: r.sync, Labels: r.objectLabels(), Prune: s.PruneEnabled(), Force: s.Force}

	in, err := r.gatherInputs(ctx)
	if err != nil {
		return nil, err
	}
	inv, err := r.store.Load(ctx)
	if err != nil {
		return nil, err
	}
	isUpgrade := inv.Record.LastAppliedRevision != ""
	var sources []string
	var files map[*unstructured.Unstructured]string
	if opts.LocalDir != "" {
		root, path, err := localRootAndPath(opts.LocalRoot, opts.LocalDir)
		if err != nil {
			return nil, fmt.Errorf("render: %w", err)
		}
		if s.Helm != nil {
			dir, err := os.MkdirTemp(opts.WorkDir, "gitsync-")
			if err != nil {
				return nil, err
			}
			defer r.removeTemp(ctx, dir)
			rnd, err := r.renderChart(ctx, filepath.Join(root, path), root, in, isUpgrade, dir)
			if err != nil {
				return nil, fmt.Errorf("render: %w", err)
			}
			out.Objects, out.Digest, files = rnd.objects, rnd.digest, renderedFiles(rnd)
		} else {
			ropts := renderOptions(s, root, path, in.vars)
			ropts.Logger, ropts.Decryption, ropts.Secrets = r.log, in.keys, r.secrets
			res, err := render.Render(ctx, ropts)
			if err != nil {
				return nil, fmt.Errorf("render: %w", err)
			}
			out.Objects, out.Digest, sources = res.Objects, res.Digest, res.Sources
			files = renderedFiles(&rendering{objects: res.Objects, sources: res.Sources})
		}
		// Units reading the sync's own repository read the local tree.
		r.rootSource, r.localArtifact = &source.Resolved{Key: "local"}, &source.Artifact{Dir: root}
	} else {
		src, err := r.resolve(ctx)
		if err != nil {
			return nil, fmt.Errorf("source: %w", err)
		}
		out.Revision = string(src.Revision)
		rnd, err := r.fetchAndRender(ctx, src, in, isUpgrade)
		if err != nil {
			return nil, fmt.Errorf("render: %w", err)
		}
		out.Objects, out.Digest, sources = rnd.objects, rnd.digest, rnd.sources
		files = renderedFiles(rnd)
		r.rootSource = src
	}
	// Flux's objects are lifted out as a run lifts them.
	root := r.rootUnit(inv, &Result{})
	out.Objects = r.lift(root, &rendering{objects: out.Objects, sources: sources})
	out.Flux = root.children
	if opts.Unit != (flux.ID{}) {
		return r.renderUnitOf(ctx, root, opts.Unit, out)
	}
	out.Inventory = inv.Entries
	if len(out.Objects) == 0 && len(out.Flux) == 0 && len(inv.Entries) > 0 && !s.AllowEmpty {
		return nil, fmt.Errorf("render: %w", errEmptyRender(len(inv.Entries)))
	}
	to, err := r.rootDestination(ctx)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	resolved, err := to.engine.Targets(out.Objects)
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	if err := r.checkRendered(out.Objects, resolved); err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	if err := r.refuseReserved(out.Objects, resolved, files, false); err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	out.Targets = resolved
	out.Stale = targets(inventory.Diff(inv.Entries, entriesOf(resolved, nil)))
	out.InScope = r.pruneScope()
	return out, nil
}

// localRootAndPath returns the render root and the path of dir inside it.
func localRootAndPath(root, dir string) (string, string, error) {
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return "", "", err
	}
	if root == "" {
		return absDir, "", nil
	}
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return "", "", err
	}
	rel, err := filepath.Rel(absRoot, absDir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", "", fmt.Errorf("%s: not inside %s", dir, root)
	}
	return absRoot, rel, nil
}

// renderOptions maps the spec's render settings onto the render stage's
// options for the tree at root, building path inside it.
func renderOptions(s *spec.SyncSpec, root, path string, vars map[string]string) render.Options {
	ropts := render.Options{
		Root:            root,
		Path:            path,
		TargetNamespace: s.TargetNamespace,
		NamePrefix:      s.NamePrefix,
		NameSuffix:      s.NameSuffix,
		Components:      s.Components,
		Substitute:      vars,
	}
	setTransformers(&ropts, s.CommonMetadata, s.Patches, s.Images)
	return ropts
}

// setTransformers maps commonMetadata, patches and images, as a Sync and a
// Flux Kustomization both spell them, onto the render stage's options.
func setTransformers(opts *render.Options, cm *spec.CommonMetadata, patches []spec.Patch, images []spec.Image) {
	if cm != nil {
		opts.CommonMetadata = &render.CommonMetadata{Labels: cm.Labels, Annotations: cm.Annotations}
	}
	for _, p := range patches {
		rp := render.Patch{Patch: p.Patch}
		if p.Target != nil {
			t := render.Selector(*p.Target)
			rp.Target = &t
		}
		opts.Patches = append(opts.Patches, rp)
	}
	for _, im := range images {
		opts.Images = append(opts.Images, render.Image(im))
	}
}
