package action

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/object"
)

// ensureClusterNamespace creates install.ClusterNamespace when a sync is
// installed there and it does not exist yet, and reports whether it did.
// Other namespaces are the user's: a missing one fails the install. A user
// who may not read namespaces learns what else is denied from the apply.
func ensureClusterNamespace(ctx context.Context, cfg *Config, namespace string) (bool, error) {
	if namespace != install.ClusterNamespace {
		return false, nil
	}
	id := object.ID{Kind: "Namespace", Name: namespace}
	_, err := cfg.Client.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		if err != nil && !apierrors.IsForbidden(err) {
			return false, fmt.Errorf("%s: %w", id, err)
		}
		return false, nil
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace, Labels: map[string]string{install.LabelName: install.AppName}}}
	_, err = cfg.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{FieldManager: install.FieldManager})
	switch {
	case apierrors.IsAlreadyExists(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("%s: create: %w", id, err)
	}
	return true, nil
}
