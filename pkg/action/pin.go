package action

import (
	"context"
	"fmt"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/jobargs"
	"github.com/gitsync/gitsync/pkg/names"
)

// AnnotationPinnedRevision, on a sync's CronJob, holds the revision a
// rollback pinned the sync to. A pin is three changes to the CronJob, made
// by Pin and undone together by resume (Suspend) and by install: this
// annotation, spec.suspend=true, and jobargs.Args.Revision on the sync-job
// container.
const AnnotationPinnedRevision = "gitsync.io/pinned-revision"

// PinOptions say which sync Pin pins, and to what.
type PinOptions struct {
	// Ref names the sync.
	Ref
	// Revision is the recorded revision, [ref@]sha1:<commit>. Required.
	Revision string
}

// Pin suspends the sync's CronJob and pins it to opts.Revision: the
// annotation AnnotationPinnedRevision and the --revision argument of the
// sync-job container, in place of an earlier pin. It updates with the
// resourceVersion read and retries on conflicts, so a concurrent change is
// never overwritten. A missing CronJob gives an error for which
// apierrors.IsNotFound holds.
func Pin(ctx context.Context, cfg *Config, opts PinOptions) (*batchv1.CronJob, error) {
	var out *batchv1.CronJob
	name := names.CronJob(opts.Name)
	cjs := cfg.Client.BatchV1().CronJobs(opts.Namespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cj, err := cjs.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		c := install.SyncJobContainer(&cj.Spec.JobTemplate.Spec.Template.Spec)
		if c == nil {
			return fmt.Errorf("CronJob/%s/%s: no container %s in the job template", opts.Namespace, name, install.ContainerName)
		}
		if c.Args, err = pinArgs(c.Args, opts.Revision); err != nil {
			return fmt.Errorf("CronJob/%s/%s: container %s: %w", opts.Namespace, name, c.Name, err)
		}
		cj.Spec.Suspend = ptr.To(true)
		if cj.Annotations == nil {
			cj.Annotations = map[string]string{}
		}
		cj.Annotations[AnnotationPinnedRevision] = opts.Revision
		out, err = cjs.Update(ctx, cj, metav1.UpdateOptions{FieldManager: install.FieldManager})
		return err
	})
	if err != nil && !apierrors.IsNotFound(err) {
		err = fmt.Errorf("CronJob/%s/%s: pin: %w", opts.Namespace, name, err)
	}
	return out, err
}

// pinArgs returns the sync-job arguments args pinned to revision, in place
// of an earlier pin.
func pinArgs(args []string, revision string) ([]string, error) {
	a, err := jobargs.Parse(args)
	if err != nil {
		return nil, err
	}
	a.Revision = revision
	return a.Argv(), nil
}

// unpinArgs returns args without a pin, the revision it removed, and
// whether there was one.
func unpinArgs(args []string) ([]string, string, bool, error) {
	a, err := jobargs.Parse(args)
	if err != nil || a.Revision == "" {
		return args, "", false, err
	}
	rev := a.Revision
	a.Revision = ""
	return a.Argv(), rev, true, nil
}

// cronJobPatch returns the strategic merge patch that sets cj's suspend
// and, when resuming, removes the rollback pin (the annotation and the
// --revision argument); nil when nothing is to change. It also returns the
// pinned revision it removes. The resourceVersion in the patch makes it
// conditional.
func cronJobPatch(cj *batchv1.CronJob, suspend bool) (map[string]any, string, error) {
	meta := map[string]any{"resourceVersion": cj.ResourceVersion}
	specPatch := map[string]any{}
	if current := cj.Spec.Suspend != nil && *cj.Spec.Suspend; current != suspend {
		specPatch["suspend"] = suspend
	}
	pin := ""
	if !suspend {
		if rev, ok := cj.Annotations[AnnotationPinnedRevision]; ok {
			pin = rev
			meta["annotations"] = map[string]any{AnnotationPinnedRevision: nil}
		}
		if c := install.SyncJobContainer(&cj.Spec.JobTemplate.Spec.Template.Spec); c != nil {
			args, rev, removed, err := unpinArgs(c.Args)
			if err != nil {
				return nil, "", fmt.Errorf("CronJob/%s/%s: container %s: %w", cj.Namespace, cj.Name, c.Name, err)
			}
			if removed {
				if pin == "" {
					pin = rev
				}
				// A strategic merge patch merges containers by name and
				// replaces their args.
				specPatch["jobTemplate"] = map[string]any{"spec": map[string]any{"template": map[string]any{
					"spec": map[string]any{"containers": []map[string]any{{"name": c.Name, "args": args}}}}}}
			}
		}
	}
	if len(specPatch) == 0 && len(meta) == 1 {
		return nil, "", nil
	}
	patch := map[string]any{"metadata": meta}
	if len(specPatch) > 0 {
		patch["spec"] = specPatch
	}
	return patch, pin, nil
}

// clearPinAnnotation removes a rollback pin's annotation from cj, which
// install has just applied with new arguments: installing again makes the
// spec authoritative, so the pin would be a lie. It returns the revision
// that was pinned, "" when there was none.
func clearPinAnnotation(ctx context.Context, cfg *Config, cj *batchv1.CronJob) (string, error) {
	rev := cj.Annotations[AnnotationPinnedRevision]
	if rev == "" {
		return "", nil
	}
	patch := []byte(`[{"op":"remove","path":"/metadata/annotations/` + strings.ReplaceAll(AnnotationPinnedRevision, "/", "~1") + `"}]`)
	if _, err := cfg.Client.BatchV1().CronJobs(cj.Namespace).Patch(ctx, cj.Name, types.JSONPatchType, patch,
		metav1.PatchOptions{FieldManager: install.FieldManager}); err != nil {
		return "", fmt.Errorf("CronJob/%s/%s: clearing the rollback pin: %w", cj.Namespace, cj.Name, err)
	}
	return rev, nil
}
