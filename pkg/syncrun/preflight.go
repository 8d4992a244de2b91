package syncrun

import (
	"context"
	"errors"
	"fmt"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/apply"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/kube"
	"github.com/gitsync/gitsync/pkg/object"
)

// preflight asks the API server, as the destination's identity, whether
// it may write every object of resolved, so that a right the tenant's
// ServiceAccount (or the remote kubeconfig's user) lacks fails the unit
// before anything is written, rather than half-way through an apply stage.
// Server-side apply needs patch, and create for an object that does not
// exist yet: create is asked for every object that known (the previous
// inventory) does not hold. One SelfSubjectAccessReview is sent per
// resource, namespace and verb. A destination with the run's own identity
// is not checked: its RBAC is install's, and an apply failure names it.
func (d *destination) preflight(ctx context.Context, resolved []apply.Target, known map[object.ID]bool) error {
	if d.user == "" && !d.remote {
		return nil
	}
	type ask struct{ group, resource, namespace, verb string }
	var order []ask
	first := map[ask]object.ID{}
	add := func(a ask, id object.ID) {
		if _, ok := first[a]; !ok {
			first[a] = id
			order = append(order, a)
		}
	}
	for _, t := range resolved {
		ns := ""
		if t.Namespaced {
			ns = t.Namespace
		}
		add(ask{t.Group, t.Resource, ns, "patch"}, t.ID)
		if !known[t.ID] {
			add(ask{t.Group, t.Resource, ns, "create"}, t.ID)
		}
	}
	if len(order) == 0 {
		return nil
	}
	cs, err := kube.NewForConfig(d.cfg)
	if err != nil {
		return err
	}
	var errs []error
	for _, a := range order {
		review, err := cs.SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
				Group: a.group, Resource: a.resource, Namespace: a.namespace, Verb: a.verb,
			}},
		}, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("checking the rights of %s: %w", d.identity(), err)
		}
		if review.Status.Allowed {
			continue
		}
		where := "cluster-wide"
		if a.namespace != "" {
			where = "in namespace " + a.namespace
		}
		res := a.resource
		if a.group != "" {
			res += "." + a.group
		}
		errs = append(errs, fmt.Errorf("%s: forbidden: %s cannot %s resource %q %s", first[a], d.identity(), a.verb, res, where))
	}
	return errors.Join(errs...)
}

// identity names who the destination's requests are made as.
func (d *destination) identity() string {
	switch {
	case d.user != "" && d.remote:
		return fmt.Sprintf("User %q (impersonated) at %s", d.user, d.server)
	case d.user != "":
		return fmt.Sprintf("User %q (impersonated)", d.user)
	default:
		return "the kubeconfig's user at " + d.server
	}
}

func inventoryIDs(entries []inventory.Entry) map[object.ID]bool {
	ids := make(map[object.ID]bool, len(entries))
	for _, e := range entries {
		ids[e.ID] = true
	}
	return ids
}
