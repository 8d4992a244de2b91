// Package kubeclientset adapts client-go's clientset to kube.Interface, for
// kubectl-gitsync and tests, which call gitsync's engine packages with a
// clientset they have anyway. sync-job does not link it: it would bring
// back every API group's types (see package kube).
package kubeclientset

import (
	"k8s.io/client-go/kubernetes"

	"github.com/gitsync/gitsync/pkg/kube"
)

// Clientset is a client-go clientset that is also a kube.Interface: it can
// be passed both to client-go's helpers and to gitsync's engine packages.
type Clientset interface {
	kubernetes.Interface
	kube.Interface
}

// FromClientset returns cs as a Clientset. Each kube.Interface method
// returns cs's own typed client, which has the same methods.
func FromClientset(cs kubernetes.Interface) Clientset {
	if c, ok := cs.(Clientset); ok {
		return c
	}
	return clientset{cs}
}

type clientset struct{ kubernetes.Interface }

func (c clientset) ConfigMaps(namespace string) kube.ConfigMapClient {
	return c.CoreV1().ConfigMaps(namespace)
}

func (c clientset) Secrets(namespace string) kube.SecretClient {
	return c.CoreV1().Secrets(namespace)
}

func (c clientset) Events(namespace string) kube.EventClient {
	return c.CoreV1().Events(namespace)
}

func (c clientset) Namespaces() kube.NamespaceClient { return c.CoreV1().Namespaces() }

func (c clientset) Leases(namespace string) kube.LeaseClient {
	return c.CoordinationV1().Leases(namespace)
}

func (c clientset) Jobs(namespace string) kube.JobClient { return c.BatchV1().Jobs(namespace) }

func (c clientset) CronJobs(namespace string) kube.CronJobClient {
	return c.BatchV1().CronJobs(namespace)
}

func (c clientset) SelfSubjectReviews() kube.SelfSubjectReviewClient {
	return c.AuthenticationV1().SelfSubjectReviews()
}

func (c clientset) SelfSubjectAccessReviews() kube.SelfSubjectAccessReviewClient {
	return c.AuthorizationV1().SelfSubjectAccessReviews()
}
