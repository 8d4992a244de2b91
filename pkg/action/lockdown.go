package action

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/lockdown"
	"github.com/gitsync/gitsync/pkg/object"
)

// LockdownResult is a namespace's lockdown before and after SetLockdown.
type LockdownResult struct {
	// Namespace is the namespace.
	Namespace string `json:"namespace"`
	// Before is the lockdown as it was; After as it is now.
	Before lockdown.Policy `json:"before"`
	After  lockdown.Policy `json:"after"`
	// Changed tells whether the Namespace was written.
	Changed bool `json:"changed"`
	// MissingServiceAccount is set when the default ServiceAccount does not
	// exist (yet): runs of the namespace fail until it does.
	MissingServiceAccount bool `json:"missingServiceAccount,omitempty"`
}

// ReadLockdown returns namespace's lockdown.
func ReadLockdown(ctx context.Context, cfg *Config, namespace string) (lockdown.Policy, error) {
	return lockdown.Read(ctx, cfg.Client, namespace)
}

// SetLockdown writes policy onto namespace's annotations (nothing when it
// is there already). Only a user who may patch Namespaces can: cluster
// administrators, not a tenant with admin rights in the namespace, which is
// the point.
func SetLockdown(ctx context.Context, cfg *Config, namespace string, policy lockdown.Policy) (*LockdownResult, error) {
	if err := policy.Validate(); err != nil {
		return nil, err
	}
	before, err := ReadLockdown(ctx, cfg, namespace)
	if err != nil {
		return nil, err
	}
	res := &LockdownResult{Namespace: namespace, Before: before, After: policy}
	if before != policy {
		patch, err := policy.MergePatch()
		if err != nil {
			return nil, err
		}
		_, err = cfg.Client.CoreV1().Namespaces().Patch(ctx, namespace, types.MergePatchType, patch,
			metav1.PatchOptions{FieldManager: install.FieldManager})
		if err != nil {
			return res, fmt.Errorf("%s: %w", object.ID{Kind: "Namespace", Name: namespace}, err)
		}
		res.Changed = true
	}
	if sa := policy.DefaultServiceAccount; sa != "" {
		_, err := cfg.Client.CoreV1().ServiceAccounts(namespace).Get(ctx, sa, metav1.GetOptions{})
		res.MissingServiceAccount = apierrors.IsNotFound(err)
	}
	return res, nil
}
