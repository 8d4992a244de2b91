package action

import (
	"context"
	"errors"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/gitsync/gitsync/pkg/spec"
)

// checkDependsOn refuses a spec (the spec ConfigMap install is about to
// write) whose dependsOn closes a cycle among the installed syncs, whose
// specs it reads: a cycle would make every sync on it wait for ever. The
// error spells the cycle out (ns/a → ns/b → ns/a). Syncs that do not exist
// yet, or that cannot be read, end their branch of the walk; a run checks
// again. It returns the syncs of the spec's own dependsOn that do not
// exist (yet), so that install can say the sync will wait for them.
func checkDependsOn(ctx context.Context, cfg *Config, cm *corev1.ConfigMap) ([]string, error) {
	s, err := spec.FromConfigMap(cm)
	if err != nil {
		return nil, err
	}
	deps := s.DependenciesIn(cm.Namespace)
	if len(deps) == 0 {
		return nil, nil
	}
	var missing []string
	read := func(d spec.DependencyReference) ([]spec.DependencyReference, error) {
		cm, err := spec.GetConfigMap(ctx, cfg.Client, d.Namespace, d.Name)
		switch {
		case apierrors.IsNotFound(err):
			if slices.Contains(deps, d) {
				missing = append(missing, d.String())
			}
			return nil, spec.ErrDependencyUnknown
		case apierrors.IsForbidden(err):
			return nil, spec.ErrDependencyUnknown
		case err != nil:
			return nil, err
		}
		other, err := spec.FromConfigMap(cm)
		if err != nil {
			return nil, errors.Join(spec.ErrDependencyUnknown, err)
		}
		return other.DependenciesIn(d.Namespace), nil
	}
	if err := spec.FindCycle(spec.DependencyReference{Name: s.Name, Namespace: cm.Namespace}, deps, read); err != nil {
		return nil, err
	}
	return missing, nil
}
