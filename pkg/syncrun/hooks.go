package syncrun

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/gitsync/gitsync/pkg/apply"
	"github.com/gitsync/gitsync/pkg/helm"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/names"
)

// hookPollInterval is how often a running hook is checked.
const hookPollInterval = 500 * time.Millisecond

// runHooksIn runs hooks, a chart's hooks of one event (sorted as
// Rendered.HooksFor returns them), as Helm does, in order (weight, then
// name):
//
//   - a hook never touches an object that does not carry this sync's
//     labels: a live object of the hook's name that is not this sync's
//     (made by hand, by another tool, by another sync) fails the event,
//     whatever the hook's delete policies, and stays as it is;
//   - before-hook-creation (the policy of hooks that name none): the
//     hook's object left by an earlier run is deleted, and gone, before it
//     is applied again;
//   - a Job must complete and a Pod must succeed before the next hook runs;
//     any other kind is done once applied;
//   - a failed hook fails the event (and the run): with hook-failed it is
//     deleted; the chart's objects are not applied after a failed pre-hook;
//   - once all succeeded, those with hook-succeeded are deleted, last first.
//
// Hooks are not in the inventory and do not carry the ApplySet label: they
// are not the release's objects, and `kubectl apply --prune` must not
// delete them. They carry the sync's label, so `kubectl gitsync trace`
// still finds them.
//
// to is where the unit's objects go; namespace is the release namespace; adopt is the unit's adopt setting.
func (r *runner) runHooksIn(ctx context.Context, to *destination, hooks []helm.Hook, event helm.HookEvent, namespace string, adopt bool) error {
	if len(hooks) == 0 {
		return nil
	}
	dyn, err := dynamic.NewForConfig(to.cfg)
	if err != nil {
		return err
	}
	var succeeded []hookRef // to delete with hook-succeeded
	cleanUp := func(ctx context.Context) error {
		for i := len(succeeded) - 1; i >= 0; i-- {
			if err := r.deleteHook(ctx, succeeded[i].res, succeeded[i].name); err != nil {
				return fmt.Errorf("%s hook %s: deleting it after success: %w", event, succeeded[i].id, err)
			}
		}
		return nil
	}
	for _, h := range hooks {
		obj := h.Object.DeepCopy()
		if obj.GetNamespace() == "" {
			// Resolve tells namespaced from cluster-scoped; a namespaced hook
			// without a namespace goes to the release namespace.
			obj.SetNamespace(namespace)
		}
		targets, err := to.engine.Targets([]*unstructured.Unstructured{obj})
		if err != nil {
			return fmt.Errorf("%s hook %s: %w", event, h.Source, err)
		}
		t := targets[0]
		if !t.Namespaced {
			obj.SetNamespace("")
		}
		res := dyn.Resource(t.GroupVersionResource()).Namespace(t.Namespace)
		policy, _ := apply.PolicyOf(obj.GetAnnotations()) // a bad value fails the apply below
		adopt := adopt || policy.Adopt
		previous, err := r.hookObject(ctx, res, t.Name, adopt)
		if err != nil {
			return fmt.Errorf("%s hook %s (%s): %w", event, t.ID, h.Source, err)
		}
		if previous != nil && h.HasDeletePolicy(helm.HookBeforeHookCreation) {
			if err := deleteAndWaitGone(ctx, res, previous); err != nil {
				return fmt.Errorf("%s hook %s: deleting the previous one: %w", event, t.ID, err)
			}
		}
		cs, err := to.engine.Apply(ctx, []*unstructured.Unstructured{obj}, apply.Options{
			Concurrency: 1,
			Adopt:       adopt,
			Labels:      map[string]string{inventory.LabelSync: r.opts.Name, names.LabelSyncNamespace: r.opts.Namespace},
		})
		if err == nil {
			err = cs.Err()
		}
		if err == nil {
			err = waitHook(ctx, res, t.Name, t.Kind)
		}
		if err != nil {
			// Clean up as Helm does, on a detached context: the run's may
			// be what ended the hook.
			cctx := context.WithoutCancel(ctx)
			if h.HasDeletePolicy(helm.HookFailed) {
				if derr := r.deleteHook(cctx, res, t.Name); derr != nil {
					r.log.Warn("deleting a failed hook failed", "object", t.ID.String(), "error", derr)
				}
			}
			if derr := cleanUp(cctx); derr != nil {
				r.log.Warn("deleting succeeded hooks failed", "error", derr)
			}
			return fmt.Errorf("%s hook %s (%s): %w", event, t.ID, h.Source, err)
		}
		r.log.Info("hook succeeded", "event", string(event), "object", t.ID.String(), "weight", h.Weight)
		if h.HasDeletePolicy(helm.HookSucceeded) && t.Kind != "CustomResourceDefinition" {
			succeeded = append(succeeded, hookRef{res: res, name: t.Name, id: t.ID.String()})
		}
	}
	return cleanUp(ctx)
}

// hookRef is a hook object to delete later.
type hookRef struct {
	res  dynamic.ResourceInterface
	name string
	id   string
}

// waitHook waits until a Job completes or a Pod succeeds; other kinds are
// done at once.
func waitHook(ctx context.Context, res dynamic.ResourceInterface, name, kind string) error {
	if kind != "Job" && kind != "Pod" {
		return nil
	}
	for {
		u, err := res.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		switch kind {
		case "Job":
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["status"] != "True" {
					continue
				}
				switch m["type"] {
				case "Complete":
					return nil
				case "Failed":
					return fmt.Errorf("job failed: %v", m["message"])
				}
			}
		case "Pod":
			phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
			switch phase {
			case "Succeeded":
				return nil
			case "Failed":
				return errors.New("pod failed")
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not finish: %w", kind, ctx.Err())
		case <-time.After(hookPollInterval):
		}
	}
}

// hookObject returns the live object a hook is about to replace, nil when
// there is none. An object that does not carry this sync's labels is an
// error unless adopt: it is someone else's, and a hook must neither delete
// nor take it without being asked to.
func (r *runner) hookObject(ctx context.Context, res dynamic.ResourceInterface, name string, adopt bool) (*unstructured.Unstructured, error) {
	live, err := res.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if l := live.GetLabels(); !adopt && (l[inventory.LabelSync] != r.opts.Name || l[names.LabelSyncNamespace] != r.opts.Namespace) {
		return nil, fmt.Errorf("an object of that name exists and is not this sync's (it lacks the labels %s=%s, %s=%s); refusing to delete or take it over (annotation %s: enabled on the hook, or spec.adopt: true, adopts it)",
			inventory.LabelSync, r.opts.Name, names.LabelSyncNamespace, r.opts.Namespace, apply.AnnotationAdopt)
	}
	return live, nil
}

// deleteHook deletes a hook's object if it is still this sync's, and waits
// until it is gone.
func (r *runner) deleteHook(ctx context.Context, res dynamic.ResourceInterface, name string) error {
	live, err := r.hookObject(ctx, res, name, false)
	if err != nil || live == nil {
		return err
	}
	return deleteAndWaitGone(ctx, res, live)
}

// deleteAndWaitGone deletes live (foreground, so a Job's Pods go first),
// on condition that it is still the object read (same UID), and waits until
// it is gone.
func deleteAndWaitGone(ctx context.Context, res dynamic.ResourceInterface, live *unstructured.Unstructured) error {
	name, uid := live.GetName(), live.GetUID()
	fg := metav1.DeletePropagationForeground
	err := res.Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &fg, Preconditions: &metav1.Preconditions{UID: &uid}})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	for {
		got, err := res.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) || err == nil && got.GetUID() != uid {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(hookPollInterval):
		}
	}
}
