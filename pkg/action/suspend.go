package action

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/spec"
)

// SuspendOptions say which sync Suspend changes, and how.
type SuspendOptions struct {
	// Ref names the sync.
	Ref
	// Suspend is true to suspend, false to resume. Default false: resume.
	Suspend bool
}

// SuspendResult is what Suspend changed.
type SuspendResult struct {
	// Changed names what was written, in order: "CronJob", "spec"; empty
	// when the sync already was as asked.
	Changed []string
	// UnpinnedRevision is the rollback pin resume removed; "" when none.
	UnpinnedRevision string
	// NextRun is when the resumed CronJob starts its next run; zero when
	// suspending or unknown.
	NextRun time.Time
}

// Suspend suspends or resumes the sync: suspend in the spec and on the
// CronJob, and on resume also removes a rollback pin. Suspend writes the
// CronJob first, so that scheduled runs stop even if the spec cannot be
// written; resume writes the spec first, so that a run it lets start reads
// suspend: false.
func Suspend(ctx context.Context, cfg *Config, opts SuspendOptions) (*SuspendResult, error) {
	s, err := GetSync(ctx, cfg, opts.Ref)
	if err != nil {
		return nil, err
	}
	cjName := names.CronJob(opts.Name)
	if s.CronJob == nil {
		return nil, fmt.Errorf("CronJob/%s/%s: not found: sync %s is not installed (kubectl gitsync install)", opts.Namespace, cjName, opts.Name)
	}
	if s.ConfigMap == nil {
		return nil, fmt.Errorf("ConfigMap/%s/%s: not found: the sync has no spec", opts.Namespace, names.Spec(opts.Name))
	}
	res := &SuspendResult{}
	if opts.Suspend {
		cjChanged, _, err := updateCronJob(ctx, cfg, opts)
		if err != nil {
			return nil, err
		}
		if cjChanged {
			res.Changed = append(res.Changed, "CronJob")
		}
		specChanged, err := updateSpecSuspend(ctx, cfg, opts)
		if err != nil {
			return nil, fmt.Errorf("%w (the CronJob is suspended: no scheduled runs start)", err)
		}
		if specChanged {
			res.Changed = append(res.Changed, "spec")
		}
		return res, nil
	}
	specChanged, err := updateSpecSuspend(ctx, cfg, opts)
	if err != nil {
		return nil, err
	}
	if specChanged {
		res.Changed = append(res.Changed, "spec")
	}
	cjChanged, pin, err := updateCronJob(ctx, cfg, opts)
	if err != nil {
		return nil, err
	}
	if cjChanged {
		res.Changed = append(res.Changed, "CronJob")
	}
	res.UnpinnedRevision = pin
	if len(res.Changed) > 0 {
		if cj, err := cfg.Client.BatchV1().CronJobs(opts.Namespace).Get(ctx, cjName, metav1.GetOptions{}); err == nil {
			if next, err := NextRun(cj, cfg.now()); err == nil {
				res.NextRun = next
			}
		}
	}
	return res, nil
}

// updateSpecSuspend sets suspend in the spec ConfigMap, keeping the spec
// valid: it is parsed, changed and written back canonically, with the
// resourceVersion read as precondition (retried on conflict). It reports
// whether it wrote anything.
func updateSpecSuspend(ctx context.Context, cfg *Config, opts SuspendOptions) (bool, error) {
	changed := false
	cms := cfg.Client.CoreV1().ConfigMaps(opts.Namespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		changed = false
		cm, err := spec.GetConfigMap(ctx, cfg.Client, opts.Namespace, opts.Name)
		if err != nil {
			return err
		}
		data, err := setSpecSuspend(cm, opts.Suspend)
		if err != nil || data == "" {
			return err
		}
		cm.Data[spec.ConfigMapKey] = data
		if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: install.FieldManager}); err != nil {
			return fmt.Errorf("ConfigMap/%s/%s: update: %w", opts.Namespace, cm.Name, err)
		}
		changed = true
		return nil
	})
	return changed, err
}

// setSpecSuspend returns the spec of the spec ConfigMap cm with suspend set
// to suspend, as the spec ConfigMap stores it; "" when the spec already says
// so. An invalid spec is an error: it is not rewritten.
func setSpecSuspend(cm *corev1.ConfigMap, suspend bool) (string, error) {
	s, err := spec.FromConfigMap(cm)
	var ce *spec.ConfigMapError
	if errors.As(err, &ce) {
		return "", fmt.Errorf("%s: invalid spec, not changed: %w", ce.ConfigMap, ce.Err)
	}
	if s.Spec.Suspend == suspend {
		return "", nil
	}
	s.Spec.Suspend = suspend
	data, _, err := s.ConfigMapData()
	if err != nil {
		return "", fmt.Errorf("ConfigMap/%s/%s: %s: %w", cm.Namespace, cm.Name, spec.ConfigMapKey, err)
	}
	return data, nil
}

// updateCronJob sets the CronJob's spec.suspend and, on resume, removes a
// rollback pin. It patches with the resourceVersion read as precondition
// (retried on conflict) and reports whether it changed anything and the
// pinned revision it removed.
func updateCronJob(ctx context.Context, cfg *Config, opts SuspendOptions) (bool, string, error) {
	var (
		changed bool
		pin     string
	)
	cjs := cfg.Client.BatchV1().CronJobs(opts.Namespace)
	name := names.CronJob(opts.Name)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		changed, pin = false, ""
		cj, err := cjs.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("CronJob/%s/%s: get: %w", opts.Namespace, name, err)
		}
		patch, p, err := cronJobPatch(cj, opts.Suspend)
		if err != nil || patch == nil {
			return err
		}
		data, err := json.Marshal(patch)
		if err != nil {
			return fmt.Errorf("CronJob/%s/%s: %w", opts.Namespace, name, err)
		}
		_, err = cjs.Patch(ctx, name, types.StrategicMergePatchType, data, metav1.PatchOptions{FieldManager: install.FieldManager})
		if err != nil {
			return fmt.Errorf("CronJob/%s/%s: patch: %w", opts.Namespace, name, err)
		}
		changed, pin = true, p
		return nil
	})
	return changed, pin, err
}
