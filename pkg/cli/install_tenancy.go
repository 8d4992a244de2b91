package cli

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/gitsync/gitsync/pkg/action"
	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/spec"
)

const serviceAccountUsage = "ServiceAccount of the sync's namespace that applies, prunes and checks the sync's objects " +
	"(spec.serviceAccountName, impersonated); the sync's own ServiceAccount then only reads its spec and Secrets, " +
	"writes its state and may impersonate this one. It is not created: its rights are its administrator's"

// setServiceAccount sets spec.serviceAccountName from --service-account,
// from flags or over a Sync document that names the same one.
func (o *installOptions) setServiceAccount(s *spec.Sync) error {
	sa := o.ServiceAccount
	if sa == "" {
		return nil
	}
	if msgs := validation.IsDNS1123Subdomain(sa); len(msgs) > 0 {
		return fmt.Errorf("--service-account %q: %s", sa, strings.Join(msgs, "; "))
	}
	if cur := s.Spec.ServiceAccountName; cur != "" && cur != sa {
		return fmt.Errorf("--service-account %s: %s sets spec.serviceAccountName to %s", sa, o.Filename, cur)
	}
	s.Spec.ServiceAccountName = sa
	return nil
}

// applyLockdown holds the install to the lockdown of its namespace
// (`kubectl gitsync lockdown`): a cluster-mode sync is refused there, and a
// spec that names no ServiceAccount gets the default one, so that the RBAC
// generated is the delegated one (impersonate that ServiceAccount, no
// rights on objects). A user who may not read the Namespace installs
// without it: the run reads the lockdown again and holds to it, failing
// on the rights install could not know to grant.
func (o *installOptions) applyLockdown(ctx context.Context, cfg *action.Config) error {
	p, err := action.ReadLockdown(ctx, cfg, o.Namespace)
	switch {
	case apierrors.IsForbidden(err) || apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return err
	case !p.Active():
		return nil
	}
	if install.RBACMode(o.RBAC) == install.RBACCluster {
		return fmt.Errorf("--rbac=cluster: namespace %s is locked down (%s): only namespace-mode syncs may be installed there", o.Namespace, p)
	}
	c := *o.sync // Spec is a value: the copy's serviceAccountName is its own
	s := &c
	sa := p.UnitServiceAccount(s.Spec.ServiceAccountName, s.Spec.KubeConfig != nil)
	if sa == s.Spec.ServiceAccountName {
		return nil
	}
	s.Spec.ServiceAccountName = sa
	objs, err := install.Generate(s, o.genOpts)
	if err != nil {
		return fmt.Errorf("namespace %s is locked down (%s): %w", o.Namespace, p, err)
	}
	o.sync, o.objects = s, objs
	fmt.Fprintf(o.ErrOut, "namespace %s is locked down (%s): spec.serviceAccountName set to %s\n", o.Namespace, p, sa)
	return nil
}
