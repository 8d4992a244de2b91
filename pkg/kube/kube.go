// Package kube is the narrow Kubernetes client of sync-job: typed clients
// for exactly the kinds a run reads and writes itself (ConfigMaps, Secrets,
// Leases, Namespaces, Events, Jobs, CronJobs and the self-reviews), and API
// discovery (discovery.go).
//
// It exists to keep client-go's clientset (k8s.io/client-go/kubernetes)
// and discovery (k8s.io/client-go/discovery) out of sync-job: both import
// k8s.io/client-go/kubernetes/scheme, which registers every API group's
// types, and package inits touch all of that code, so a run's resident
// memory grows with it. This package builds the same clients on
// k8s.io/client-go/gentype, which the generated typed clients use, with a
// scheme holding only the groups it serves.
//
// Its client interfaces have the method signatures of client-go's typed
// interfaces, so a clientset's CoreV1().ConfigMaps(ns) satisfies
// ConfigMapClient as it is; package kubeclientset adapts a whole clientset
// (for kubectl-gitsync and tests, which link client-go's clientset anyway).
package kube

import (
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/gentype"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

// Interface is what gitsync's engine packages (pkg/inventory, pkg/lease,
// pkg/lockdown, pkg/spec, pkg/syncrun) read and write through. Each method
// returns the client of one kind; the namespace is "" for cluster-scoped
// kinds.
type Interface interface {
	ConfigMaps(namespace string) ConfigMapClient
	Secrets(namespace string) SecretClient
	Events(namespace string) EventClient
	Namespaces() NamespaceClient
	Leases(namespace string) LeaseClient
	Jobs(namespace string) JobClient
	CronJobs(namespace string) CronJobClient
	SelfSubjectReviews() SelfSubjectReviewClient
	SelfSubjectAccessReviews() SelfSubjectAccessReviewClient
}

// ObjectClient reads and writes objects of one kind (T) and lists them
// (L), with the signatures of client-go's typed clients.
type ObjectClient[T, L any] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	List(ctx context.Context, opts metav1.ListOptions) (L, error)
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (T, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
}

// CreateClient creates objects of a kind that is only ever created: a
// review, which the API server answers and stores nowhere.
type CreateClient[T any] interface {
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
}

// ConfigMapClient is the client of ConfigMaps (specs, inventories, history).
type ConfigMapClient = ObjectClient[*corev1.ConfigMap, *corev1.ConfigMapList]

// SecretClient is the client of Secrets (credentials, the units' tree).
type SecretClient = ObjectClient[*corev1.Secret, *corev1.SecretList]

// EventClient is the client of core/v1 Events.
type EventClient = ObjectClient[*corev1.Event, *corev1.EventList]

// NamespaceClient is the client of Namespaces (lockdown labels).
type NamespaceClient = ObjectClient[*corev1.Namespace, *corev1.NamespaceList]

// LeaseClient is the client of Leases (a sync's run lock).
type LeaseClient = ObjectClient[*coordinationv1.Lease, *coordinationv1.LeaseList]

// JobClient is the client of Jobs (dependents started by a run).
type JobClient = ObjectClient[*batchv1.Job, *batchv1.JobList]

// CronJobClient is the client of CronJobs (a sync's schedule).
type CronJobClient = ObjectClient[*batchv1.CronJob, *batchv1.CronJobList]

// SelfSubjectReviewClient asks who the client is.
type SelfSubjectReviewClient = CreateClient[*authenticationv1.SelfSubjectReview]

// SelfSubjectAccessReviewClient asks whether the client may do something.
type SelfSubjectAccessReviewClient = CreateClient[*authorizationv1.SelfSubjectAccessReview]

// scheme holds the groups this package serves, and meta/v1's options and
// Status; nothing else is registered, unlike client-go's
// kubernetes/scheme.
var (
	scheme         = newScheme()
	codecs         = serializer.NewCodecFactory(scheme)
	parameterCodec = runtime.NewParameterCodec(scheme)
)

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	b := runtime.NewSchemeBuilder(corev1.AddToScheme, coordinationv1.AddToScheme, batchv1.AddToScheme,
		authenticationv1.AddToScheme, authorizationv1.AddToScheme)
	utilruntime.Must(b.AddToScheme(s))
	return s
}

// client is Interface on one REST client per group version.
type client struct {
	core, coordination, batch, authentication, authorization rest.Interface
}

// NewForConfig returns a client for c, built as client-go's
// kubernetes.NewForConfig builds its clientset: one HTTP client and one
// rate limiter (c.QPS, c.Burst) shared by all group versions, client-go's
// user agent unless c sets one, and c's transport wrappers (request
// counting, retries) on every request. c is not changed.
func NewForConfig(c *rest.Config) (Interface, error) {
	cfg := *c
	if cfg.UserAgent == "" {
		cfg.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	if cfg.RateLimiter == nil && cfg.QPS > 0 {
		if cfg.Burst <= 0 {
			return nil, fmt.Errorf("kube client: burst must be greater than 0 when QPS is set")
		}
		cfg.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(cfg.QPS, cfg.Burst)
	}
	hc, err := rest.HTTPClientFor(&cfg)
	if err != nil {
		return nil, err
	}
	restFor := func(gv schema.GroupVersion, apiPath string) (rest.Interface, error) {
		gc := cfg
		gc.GroupVersion = &gv
		gc.APIPath = apiPath
		gc.NegotiatedSerializer = rest.CodecFactoryForGeneratedClient(scheme, codecs).WithoutConversion()
		return rest.RESTClientForConfigAndClient(&gc, hc)
	}
	var cl client
	for _, g := range []struct {
		into    *rest.Interface
		gv      schema.GroupVersion
		apiPath string
	}{
		{&cl.core, corev1.SchemeGroupVersion, "/api"},
		{&cl.coordination, coordinationv1.SchemeGroupVersion, "/apis"},
		{&cl.batch, batchv1.SchemeGroupVersion, "/apis"},
		{&cl.authentication, authenticationv1.SchemeGroupVersion, "/apis"},
		{&cl.authorization, authorizationv1.SchemeGroupVersion, "/apis"},
	} {
		if *g.into, err = restFor(g.gv, g.apiPath); err != nil {
			return nil, err
		}
	}
	return &cl, nil
}

// objects returns the client of resource in namespace on rc. Like
// client-go's typed clients, it asks for protobuf when the config sets no
// content type.
func objects[T interface {
	runtime.Object
	metav1.Object
}, L runtime.Object](rc rest.Interface, resource, namespace string, newT func() T, newL func() L) ObjectClient[T, L] {
	return gentype.NewClientWithList(resource, rc, parameterCodec, namespace, newT, newL, gentype.PrefersProtobuf[T]())
}

func (c *client) ConfigMaps(namespace string) ConfigMapClient {
	return objects(c.core, "configmaps", namespace,
		func() *corev1.ConfigMap { return &corev1.ConfigMap{} }, func() *corev1.ConfigMapList { return &corev1.ConfigMapList{} })
}

func (c *client) Secrets(namespace string) SecretClient {
	return objects(c.core, "secrets", namespace,
		func() *corev1.Secret { return &corev1.Secret{} }, func() *corev1.SecretList { return &corev1.SecretList{} })
}

func (c *client) Events(namespace string) EventClient {
	return objects(c.core, "events", namespace,
		func() *corev1.Event { return &corev1.Event{} }, func() *corev1.EventList { return &corev1.EventList{} })
}

func (c *client) Namespaces() NamespaceClient {
	return objects(c.core, "namespaces", "",
		func() *corev1.Namespace { return &corev1.Namespace{} }, func() *corev1.NamespaceList { return &corev1.NamespaceList{} })
}

func (c *client) Leases(namespace string) LeaseClient {
	return objects(c.coordination, "leases", namespace,
		func() *coordinationv1.Lease { return &coordinationv1.Lease{} },
		func() *coordinationv1.LeaseList { return &coordinationv1.LeaseList{} })
}

func (c *client) Jobs(namespace string) JobClient {
	return objects(c.batch, "jobs", namespace,
		func() *batchv1.Job { return &batchv1.Job{} }, func() *batchv1.JobList { return &batchv1.JobList{} })
}

func (c *client) CronJobs(namespace string) CronJobClient {
	return objects(c.batch, "cronjobs", namespace,
		func() *batchv1.CronJob { return &batchv1.CronJob{} }, func() *batchv1.CronJobList { return &batchv1.CronJobList{} })
}

func (c *client) SelfSubjectReviews() SelfSubjectReviewClient {
	return gentype.NewClient("selfsubjectreviews", c.authentication, parameterCodec, "",
		func() *authenticationv1.SelfSubjectReview { return &authenticationv1.SelfSubjectReview{} },
		gentype.PrefersProtobuf[*authenticationv1.SelfSubjectReview]())
}

func (c *client) SelfSubjectAccessReviews() SelfSubjectAccessReviewClient {
	return gentype.NewClient("selfsubjectaccessreviews", c.authorization, parameterCodec, "",
		func() *authorizationv1.SelfSubjectAccessReview { return &authorizationv1.SelfSubjectAccessReview{} },
		gentype.PrefersProtobuf[*authorizationv1.SelfSubjectAccessReview]())
}
