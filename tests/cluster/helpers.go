package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
)

// FieldManager is the server-side apply field manager of ApplyYAML.
const FieldManager = "test"

// NewNamespace creates a namespace named after t.Name() (lower-cased, other
// characters replaced by '-', shortened) plus a random suffix, waits until its
// default ServiceAccount and kube-root-ca.crt ConfigMap exist (Pods need
// both), and deletes it in t.Cleanup. It fails the test on error.
func (c *Cluster) NewNamespace(t testing.TB) string {
	t.Helper()
	ctx := t.Context()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   namespaceName(t.Name()),
		Labels: map[string]string{"gitsync.io/test": "true"},
	}}
	ns, err := c.client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("test namespace: %v", err)
	}
	name := ns.Name
	t.Cleanup(func() {
		// t.Context() is already cancelled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := c.client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("namespace %s: delete: %v", name, err)
		}
	})
	err = c.WaitFor(ctx, func(ctx context.Context) (bool, error) {
		if _, err := c.client.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{}); err != nil {
			return false, ignoreNotFound(err)
		}
		if _, err := c.client.CoreV1().ConfigMaps(name).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{}); err != nil {
			return false, ignoreNotFound(err)
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("namespace %s: waiting for its default ServiceAccount and kube-root-ca.crt: %v", name, err)
	}
	return name
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// namespaceName turns a test name into a valid, unique namespace name.
func namespaceName(testName string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(testName) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	base := strings.Trim(b.String(), "-")
	// 63 characters at most; leave room for "-" and the suffix.
	if len(base) > 50 {
		base = strings.TrimRight(base[:50], "-")
	}
	if base == "" {
		base = "test"
	}
	return base + "-" + randomSuffix(6)
}

func randomSuffix(n int) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	buf := make([]byte, n)
	_, _ = rand.Read(buf)
	for i := range buf {
		buf[i] = alphabet[int(buf[i])%len(alphabet)]
	}
	return string(buf)
}

// ServiceAccountConfig returns a configuration that authenticates as the
// ServiceAccount namespace/name with a token from the TokenRequest API (valid
// for an hour), for tests of what a least-privileged identity may do.
func (c *Cluster) ServiceAccountConfig(ctx context.Context, namespace, name string) (*rest.Config, error) {
	expiry := int64(3600)
	tr, err := c.client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("ServiceAccount/%s/%s: token request: %w", namespace, name, err)
	}
	return &rest.Config{
		Host:            c.config.Host,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.config.CAData},
		BearerToken:     tr.Status.Token,
		QPS:             c.config.QPS,
		Burst:           c.config.Burst,
	}, nil
}

// ApplyYAML server-side applies each document of a multi-document YAML (or
// JSON) stream, in order (the items of a kind: List in place), with field manager "test", forcing conflicts.
// Namespaced objects without a namespace go to namespace; it is an error if
// that is empty. Kinds are resolved through discovery; a kind that is not
// (yet) known, such as a custom resource whose CRD was applied just before, is
// retried for a few seconds.
func (c *Cluster) ApplyYAML(ctx context.Context, namespace, manifests string) error {
	objs, err := decodeYAML(manifests)
	if err != nil {
		return err
	}
	for _, obj := range objs {
		if err := c.applyObject(ctx, namespace, obj); err != nil {
			return err
		}
	}
	return nil
}

func decodeYAML(manifests string) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewBufferString(manifests), 4096)
	var objs []*unstructured.Unstructured
	for i := 1; ; i++ {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if len(m) == 0 {
			continue // empty document
		}
		obj := &unstructured.Unstructured{Object: m}
		items := []*unstructured.Unstructured{obj}
		if obj.IsList() { // kind: List, as kubectl prints
			list, err := obj.ToList()
			if err != nil {
				return nil, fmt.Errorf("document %d: %w", i, err)
			}
			items = items[:0]
			for j := range list.Items {
				items = append(items, &list.Items[j])
			}
		}
		for _, item := range items {
			if item.GetKind() == "" || item.GetAPIVersion() == "" {
				return nil, fmt.Errorf("document %d: apiVersion and kind are required", i)
			}
			if item.GetName() == "" {
				return nil, fmt.Errorf("document %d (%s): metadata.name is required", i, item.GetKind())
			}
		}
		objs = append(objs, items...)
	}
}

func (c *Cluster) applyObject(ctx context.Context, namespace string, obj *unstructured.Unstructured) error {
	gvk := obj.GroupVersionKind()
	id := gvk.Kind + "/" + obj.GetName()
	var mapping *meta.RESTMapping
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		var err error
		mapping, err = c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if meta.IsNoMatchError(err) {
			c.mapper.Reset()
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		return fmt.Errorf("%s: resolving %s: %w", id, gvk, err)
	}
	var res = c.dynamic.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		ns := obj.GetNamespace()
		if ns == "" {
			ns = namespace
		}
		if ns == "" {
			return fmt.Errorf("%s: namespaced kind, but neither the object nor the call names a namespace", id)
		}
		obj.SetNamespace(ns)
		id = gvk.Kind + "/" + ns + "/" + obj.GetName()
		_, err = res.Namespace(ns).Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
	} else {
		_, err = res.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
	}
	if err != nil {
		return fmt.Errorf("%s: apply: %w", id, err)
	}
	return nil
}

// WaitFor calls cond every 100 ms until it returns true (nil error), returns
// an error (that error), or ctx is done. If ctx has no deadline, Options
// .WaitTimeout (default 1 minute) bounds the wait.
func (c *Cluster) WaitFor(ctx context.Context, cond func(ctx context.Context) (bool, error)) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.WaitTimeout)
		defer cancel()
	}
	if err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, cond); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("condition not met: %w", ctx.Err())
		}
		return err
	}
	return nil
}

// WatchCacheCaughtUp waits until the API server's watch cache of resource
// gvr in namespace ns holds every write made so far. gitsync's drift
// check lists from that cache, which may lag by moments; a test that
// wrote and expects the next check to see it waits here first.
func (c *Cluster) WatchCacheCaughtUp(ctx context.Context, gvr schema.GroupVersionResource, ns string) error {
	res := c.dynamic.Resource(gvr).Namespace(ns)
	now, err := res.List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return err
	}
	_, err = res.List(ctx, metav1.ListOptions{Limit: 1, ResourceVersion: now.GetResourceVersion(),
		ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
	return err
}
