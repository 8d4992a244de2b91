package action

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"

	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/object"
)

// deleteIfOurs deletes the object id, one of gitsync's own kinds (see
// install.Resource), if it exists and carries every label of want (nil: no
// check). The delete has background propagation and is preconditioned on
// the UID read, so that an object replaced meanwhile survives. It reports
// whether it deleted the object, and why it kept one that exists but is
// not labelled as ours; a missing object is neither deleted nor kept.
func deleteIfOurs(ctx context.Context, meta metadata.Interface, id object.ID, want map[string]string) (deleted bool, kept string, err error) {
	gvr, err := install.Resource(schema.GroupVersionKind{Group: id.Group, Version: "v1", Kind: id.Kind})
	if err != nil {
		return false, "", fmt.Errorf("%s: %w", id, err)
	}
	client := meta.Resource(gvr).Namespace(id.Namespace)
	live, err := client.Get(ctx, id.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return false, "", nil
	case err != nil:
		return false, "", fmt.Errorf("%s: get: %w", id, err)
	}
	for k, v := range want {
		if live.Labels[k] != v {
			return false, fmt.Sprintf("its label %s is %q, not %q: not this sync's", k, live.Labels[k], v), nil
		}
	}
	bg := metav1.DeletePropagationBackground
	err = client.Delete(ctx, id.Name, metav1.DeleteOptions{
		PropagationPolicy: &bg,
		Preconditions:     &metav1.Preconditions{UID: &live.UID},
	})
	switch {
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		return false, "", nil
	case err != nil:
		return false, "", fmt.Errorf("%s: delete: %w", id, err)
	}
	return true, "", nil
}

// installLabels are the labels install puts on the objects it writes for
// the sync, and that install and uninstall require before deleting one.
func installLabels(ref Ref) map[string]string {
	return map[string]string{
		names.LabelSync:          ref.Name,
		names.LabelSyncNamespace: ref.Namespace,
		install.LabelManagedBy:   install.ManagedBy,
	}
}
