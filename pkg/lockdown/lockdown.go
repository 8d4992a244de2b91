// Package lockdown reads and writes a namespace's tenancy lockdown: the
// equivalent of Flux's --no-cross-namespace-refs and
// --default-service-account controller flags, for the syncs of one
// namespace. Flux sets them once for a whole installation; gitsync has no
// controller to set them on, so a cluster administrator sets them on the
// Namespace, as annotations. A Namespace is cluster-scoped: a tenant with
// admin rights in it cannot change its annotations, and neither can
// anything the tenant commits to Git or writes into the sync's spec.
//
// Every run reads its Namespace and holds the sync and its units to the
// policy (pkg/syncrun lockdown.go); install applies the default
// ServiceAccount when it writes the spec, so that the RBAC it generates
// is the delegated one.
package lockdown

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/gitsync/gitsync/pkg/kube"
	"github.com/gitsync/gitsync/pkg/object"
	"github.com/gitsync/gitsync/pkg/spec"
)

const (
	// AnnotationNoCrossNamespaceRefs, "true" on a Namespace, refuses every
	// sourceRef, chartRef or dependsOn of a Flux object that names another
	// namespace than the object's own, for every sync of the namespace,
	// whatever its spec.flux.noCrossNamespaceRefs says.
	AnnotationNoCrossNamespaceRefs = "gitsync.io/no-cross-namespace-refs"
	// AnnotationDefaultServiceAccount on a Namespace names the
	// ServiceAccount a sync of the namespace, and each Kustomization and
	// HelmRelease it runs, is impersonated as when it names none itself
	// (spec.serviceAccountName).
	AnnotationDefaultServiceAccount = "gitsync.io/default-service-account"
)

// Policy is a namespace's lockdown. The zero Policy locks nothing.
type Policy struct {
	// NoCrossNamespaceRefs refuses cross-namespace references.
	NoCrossNamespaceRefs bool `json:"noCrossNamespaceRefs"`
	// DefaultServiceAccount is the ServiceAccount of the namespace that
	// objects are written as when the sync or unit names none; "" for
	// none.
	DefaultServiceAccount string `json:"defaultServiceAccount,omitempty"`
}

// Active reports whether p locks anything.
func (p Policy) Active() bool { return p.NoCrossNamespaceRefs || p.DefaultServiceAccount != "" }

// String says what p locks, for messages.
func (p Policy) String() string {
	if !p.Active() {
		return "not locked down"
	}
	var parts []string
	if p.NoCrossNamespaceRefs {
		parts = append(parts, "cross-namespace references refused")
	}
	if sa := p.DefaultServiceAccount; sa != "" {
		parts = append(parts, "default ServiceAccount "+sa)
	}
	return strings.Join(parts, "; ")
}

// Validate checks the default ServiceAccount's name.
func (p Policy) Validate() error {
	if sa := p.DefaultServiceAccount; sa != "" {
		if msgs := validation.IsDNS1123Subdomain(sa); len(msgs) > 0 {
			return fmt.Errorf("default ServiceAccount %q: %s", sa, strings.Join(msgs, "; "))
		}
	}
	return nil
}

// FromNamespace reads ns's policy from its annotations. A value that does
// not parse is an error naming the Namespace and the annotation: a
// lockdown that is unreadable must not read as none.
func FromNamespace(ns *corev1.Namespace) (Policy, error) {
	var p Policy
	where := func(key string) string { return fmt.Sprintf("%s: annotation %s", nsID(ns.Name), key) }
	if v, ok := ns.Annotations[AnnotationNoCrossNamespaceRefs]; ok {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return Policy{}, fmt.Errorf("%s: %q is not true or false", where(AnnotationNoCrossNamespaceRefs), v)
		}
		p.NoCrossNamespaceRefs = b
	}
	if v, ok := ns.Annotations[AnnotationDefaultServiceAccount]; ok {
		p.DefaultServiceAccount = strings.TrimSpace(v)
		if p.DefaultServiceAccount == "" {
			return Policy{}, fmt.Errorf("%s: empty (remove the annotation for no default)", where(AnnotationDefaultServiceAccount))
		}
		if err := p.Validate(); err != nil {
			return Policy{}, fmt.Errorf("%s: %w", where(AnnotationDefaultServiceAccount), err)
		}
	}
	return p, nil
}

// Read returns the policy of namespace. The caller decides what a
// Forbidden error means: a run fails on it (it cannot tell whether it is
// locked down), install goes on (the run checks again).
func Read(ctx context.Context, client kube.Interface, namespace string) (Policy, error) {
	ns, err := client.Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsForbidden(err) {
			return Policy{}, fmt.Errorf("%s: cannot read its lockdown annotations: %w", nsID(namespace), err)
		}
		return Policy{}, fmt.Errorf("%s: %w", nsID(namespace), err)
	}
	return FromNamespace(ns)
}

// MergePatch returns the JSON merge patch that sets p on a Namespace: the
// annotations p does not use are removed.
func (p Policy) MergePatch() ([]byte, error) {
	ann := map[string]any{AnnotationNoCrossNamespaceRefs: nil, AnnotationDefaultServiceAccount: nil}
	if p.NoCrossNamespaceRefs {
		ann[AnnotationNoCrossNamespaceRefs] = "true"
	}
	if p.DefaultServiceAccount != "" {
		ann[AnnotationDefaultServiceAccount] = p.DefaultServiceAccount
	}
	return json.Marshal(map[string]any{"metadata": map[string]any{"annotations": ann}})
}

// Apply holds s to p and returns what it changed, as field paths with
// their new values, for the run's log: a spec with no serviceAccountName
// (and no kubeConfig: a remote cluster's identity is the kubeconfig's)
// gets the default ServiceAccount, and cross-namespace references of its
// Flux objects are refused. Nothing p does not lock is touched.
func (p Policy) Apply(s *spec.Sync) []string {
	var changed []string
	if sa := p.DefaultServiceAccount; sa != "" && s.Spec.ServiceAccountName == "" && s.Spec.KubeConfig == nil {
		s.Spec.ServiceAccountName = sa
		changed = append(changed, "spec.serviceAccountName="+sa)
	}
	if p.NoCrossNamespaceRefs && !s.Spec.Flux.CrossNamespaceRefsRefused() {
		if s.Spec.Flux == nil {
			s.Spec.Flux = &spec.FluxSpec{}
		}
		s.Spec.Flux.NoCrossNamespaceRefs = true
		changed = append(changed, "spec.flux.noCrossNamespaceRefs=true")
	}
	return changed
}

// UnitServiceAccount returns the ServiceAccount a Flux Kustomization or
// HelmRelease is impersonated as: its own serviceAccountName, else the
// default, unless it names a kubeConfig.
func (p Policy) UnitServiceAccount(own string, remote bool) string {
	if own != "" || remote {
		return own
	}
	return p.DefaultServiceAccount
}

func nsID(name string) object.ID { return object.ID{Kind: "Namespace", Name: name} }
