package action

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gitsync/gitsync/pkg/flux"
	"github.com/gitsync/gitsync/pkg/spec"
	"github.com/gitsync/gitsync/pkg/syncrun"
)

// RenderOptions say what diff and build render.
type RenderOptions struct {
	// Ref names the sync whose spec, substitution inputs and inventory are
	// read.
	Ref
	// Path is a local directory rendered in place of the sync's source,
	// with the spec's render options. Default: resolve and fetch the
	// source as a run does.
	Path string
	// Spec is rendered in place of the installed spec: a Sync document
	// (-f) that names the sync Ref names. Default: read the spec
	// ConfigMap.
	Spec *spec.Sync
	// Offline renders without a cluster (OfflineConfig): the built-in
	// kinds and the render's CRDs decide what is namespaced, nothing is
	// read from a cluster, so Spec is required. Default false.
	Offline bool
	// Unit, when set, renders that unit of the sync (a Kustomization or
	// HelmRelease its tree holds, see ParseUnit) instead of the sync's
	// own objects. A unit the sync's last run did not list is an error
	// naming the units it did. Default: the sync.
	Unit flux.ID
}

// renderSync renders the sync (or a local directory with its spec) as a run
// would, within the scope its CronJob gives sync-job, without writing
// anything.
func renderSync(ctx context.Context, cfg *Config, opts RenderOptions) (*syncrun.Rendered, error) {
	if opts.Spec != nil && (opts.Spec.Name != opts.Name || opts.Spec.Namespace != "" && opts.Spec.Namespace != opts.Namespace) {
		return nil, fmt.Errorf("sync %s: the Sync document names sync %s/%s", opts.Ref, opts.Spec.Namespace, opts.Spec.Name)
	}
	ropts := syncrun.RenderOptions{Name: opts.Name, Namespace: opts.Namespace, Spec: opts.Spec}
	if opts.Offline {
		if opts.Spec == nil {
			return nil, fmt.Errorf("sync %s: an offline render needs the Sync document", opts.Ref)
		}
		ropts.Config = OfflineConfig()
	} else {
		args, err := cronJobArgs(ctx, cfg, opts.Ref, nil)
		if err != nil {
			return nil, err
		}
		ropts.Config, ropts.NamespaceScoped = cfg.REST, args.NamespaceScoped()
		if opts.Unit != (flux.ID{}) {
			if err := checkUnit(ctx, cfg, opts.Ref, opts.Unit); err != nil {
				return nil, err
			}
		}
	}
	ropts.Unit = opts.Unit
	if opts.Path != "" {
		ropts.LocalDir, ropts.LocalRoot = opts.Path, localRoot(opts.Path)
	}
	r, err := syncrun.Render(ctx, ropts)
	switch {
	case err != nil && opts.Offline:
		return nil, fmt.Errorf("sync %s (offline: nothing is read from a cluster): %w", opts.Ref, err)
	case err != nil:
		return nil, fmt.Errorf("sync %s: %w", opts.Ref, err)
	}
	return r, nil
}

// localRoot returns the directory that bounds the render of dir: the
// nearest enclosing Git work tree (a directory holding .git), so that a
// kustomization may use ../base as it does in the repository; else dir.
func localRoot(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return dir
	}
	for d := abs; ; {
		if _, err := os.Stat(filepath.Join(d, ".git")); err == nil {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			return abs
		}
		d = parent
	}
}

// CheckLocalPath checks a local directory to render: empty, or a
// directory.
func CheckLocalPath(path string) error {
	if path == "" {
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", path)
	}
	return nil
}

// checkUnit fails when the sync's last run listed units and unit is not
// one of them, naming those it listed. Before the first run (no units
// recorded) the render itself looks for the unit in the sync's tree.
func checkUnit(ctx context.Context, cfg *Config, ref Ref, unit flux.ID) error {
	s, err := GetSync(ctx, cfg, ref)
	if err != nil {
		return err
	}
	if len(s.Record().Units) == 0 {
		return nil
	}
	_, err = findUnit(s, unit)
	return err
}
