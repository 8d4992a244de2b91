package action

import (
	"context"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"

	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/object"
)

// InstallOptions say what Install writes.
type InstallOptions struct {
	// Objects are the sync's objects, as install.Generate made them.
	// Required.
	Objects *install.Objects
	// RunNow starts a first run at once, as a Job made from the CronJob.
	// Default false.
	RunNow bool
}

// InstallResult is what Install did, in order. After an error it holds
// what was done before it.
type InstallResult struct {
	// Applied are the objects applied, in order.
	Applied []object.ID
	// CronJob is the CronJob as applied.
	CronJob *batchv1.CronJob
	// UnpinnedRevision is the rollback pin the install cleared; "" when
	// there was none.
	UnpinnedRevision string
	// Deleted are the RBAC objects of an earlier install that no longer
	// belong to the sync, deleted.
	Deleted []object.ID
	// Job is the first run's Job (RunNow); nil otherwise.
	Job *batchv1.Job
	// CreatedNamespace is install.ClusterNamespace when Install created
	// it; "" otherwise.
	CreatedNamespace string
	// MissingDependencies are the syncs of spec.dependsOn that are not
	// installed (NAMESPACE/NAME): the sync's runs wait for them.
	MissingDependencies []string
	// Guard is what became of the job guard (install.Guard), applied
	// after the sync's objects: nil when it is in place, else why not
	// (the user may not write admission policies, or the cluster does not
	// serve them). The install itself does not fail on it.
	Guard error
}

// Install server-side applies the sync's objects with install.FieldManager,
// taking over fields another manager owns (install is the authority on
// them), in the order of Objects.List. Installing again makes the spec
// authoritative, so a rollback pin is cleared. The RBAC objects an earlier
// install recorded (install.AnnotationRBAC) and this one no longer writes
// are then deleted, if they still carry the sync's labels, so that no right
// outlives the install that granted it.
func Install(ctx context.Context, cfg *Config, opts InstallOptions) (*InstallResult, error) {
	res := &InstallResult{}
	var err error
	if res.MissingDependencies, err = checkDependsOn(ctx, cfg, opts.Objects.ConfigMap); err != nil {
		return res, err
	}
	dyn, err := dynamic.NewForConfig(cfg.REST)
	if err != nil {
		return res, fmt.Errorf("kubeconfig: %w", err)
	}
	cm := opts.Objects.ConfigMap
	ref := Ref{Name: cm.Labels[names.LabelSync], Namespace: cm.Namespace}
	sa := opts.Objects.ServiceAccount
	if created, err := ensureClusterNamespace(ctx, cfg, sa.Namespace); err != nil {
		return res, err
	} else if created {
		res.CreatedNamespace = sa.Namespace
	}
	previous, err := cfg.Client.CoreV1().ServiceAccounts(sa.Namespace).Get(ctx, sa.Name, metav1.GetOptions{})
	var stale []object.ID
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return res, fmt.Errorf("ServiceAccount/%s/%s: %w", sa.Namespace, sa.Name, err)
	default:
		// Computed before anything is written, so that a hand-edited
		// annotation stops the install rather than half of it.
		stale, err = install.StaleRBAC(previous.Annotations[install.AnnotationRBAC], opts.Objects)
		if err != nil {
			return res, fmt.Errorf("ServiceAccount/%s/%s: %w", sa.Namespace, sa.Name, err)
		}
	}

	for _, obj := range opts.Objects.List() {
		live, err := applyObject(ctx, dyn, obj)
		if err != nil {
			return res, err
		}
		res.Applied = append(res.Applied, object.IDOf(live))
		if live.GetKind() == "CronJob" {
			res.CronJob = &batchv1.CronJob{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(live.Object, res.CronJob); err != nil {
				return res, fmt.Errorf("%s: %w", object.IDOf(live), err)
			}
		}
	}
	if res.UnpinnedRevision, err = clearPinAnnotation(ctx, cfg, res.CronJob); err != nil {
		return res, err
	}
	res.Guard = applyGuard(ctx, dyn)

	meta, err := cfg.metadata()
	if err != nil {
		return res, err
	}
	for _, id := range stale {
		deleted, _, err := deleteIfOurs(ctx, meta, id, installLabels(ref))
		if err != nil {
			return res, fmt.Errorf("%w (left from an earlier install, still granting its rights)", err)
		}
		if deleted {
			res.Deleted = append(res.Deleted, id)
		}
	}

	if opts.RunNow {
		cj := res.CronJob
		job, err := cfg.Client.BatchV1().Jobs(cj.Namespace).Create(ctx, install.JobFromCronJob(cj, ""),
			metav1.CreateOptions{FieldManager: install.FieldManager})
		if err != nil {
			return res, fmt.Errorf("CronJob/%s/%s: create Job: %w", cj.Namespace, cj.Name, err)
		}
		res.Job = job
	}
	return res, nil
}

// applyObject server-side applies obj with install.FieldManager, taking
// over fields another manager owns.
func applyObject(ctx context.Context, dyn dynamic.Interface, obj runtime.Object) (*unstructured.Unstructured, error) {
	u, err := install.Unstructured(obj)
	if err != nil {
		return nil, err
	}
	id := object.IDOf(u)
	gvr, err := install.Resource(u.GroupVersionKind())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", id, err)
	}
	data, err := u.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", id, err)
	}
	live, err := dyn.Resource(gvr).Namespace(u.GetNamespace()).Patch(ctx, u.GetName(), types.ApplyPatchType, data,
		metav1.PatchOptions{FieldManager: install.FieldManager, Force: ptr.To(true)})
	if err != nil {
		return nil, fmt.Errorf("%s: apply: %w", id, err)
	}
	return live, nil
}

// applyGuard applies the job guard, the ValidatingAdmissionPolicy that
// keeps every sync's ServiceAccount off its own install objects
// (install.Guard), shared by all syncs of the cluster.
func applyGuard(ctx context.Context, dyn dynamic.Interface) error {
	policy, binding := install.Guard()
	for _, obj := range []runtime.Object{policy, binding} {
		if _, err := applyObject(ctx, dyn, obj); err != nil {
			return err
		}
	}
	return nil
}
