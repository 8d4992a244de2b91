package spec

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/kube"
	"github.com/gitsync/gitsync/pkg/names"
)

// GetConfigMap reads the spec ConfigMap of the sync namespace/sync, the one
// place gitsync reads it from the cluster. The error is the API server's,
// prefixed with the ConfigMap; apierrors.IsNotFound tells a sync that does
// not exist.
func GetConfigMap(ctx context.Context, client kube.Interface, namespace, sync string) (*corev1.ConfigMap, error) {
	cm, err := client.ConfigMaps(namespace).Get(ctx, names.Spec(sync), metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("ConfigMap/%s/%s: %w", namespace, names.Spec(sync), err)
	}
	return cm, nil
}

// ConfigMapError is the error of FromConfigMap: what is wrong with the spec
// a ConfigMap holds.
type ConfigMapError struct {
	// ConfigMap is the ConfigMap, as ConfigMap/NAMESPACE/NAME.
	ConfigMap string
	// Err is what is wrong: a missing key, a parse error (prefixed with the
	// key), a spec naming another sync.
	Err error
}

func (e *ConfigMapError) Error() string { return e.ConfigMap + ": " + e.Err.Error() }
func (e *ConfigMapError) Unwrap() error { return e.Err }

// FromConfigMap returns the spec a spec ConfigMap holds under ConfigMapKey,
// parsed with Parse, as sync-job reads it. The spec must name the sync the
// ConfigMap is named after (or nothing, which Parse defaults); a spec naming
// another sync is an error, since its runs would write another sync's
// state. Errors are *ConfigMapError, and start with ConfigMap/NAMESPACE/NAME.
func FromConfigMap(cm *corev1.ConfigMap) (*Sync, error) {
	fail := func(err error) (*Sync, error) {
		return nil, &ConfigMapError{ConfigMap: "ConfigMap/" + cm.Namespace + "/" + cm.Name, Err: err}
	}
	data, ok := cm.Data[ConfigMapKey]
	if !ok {
		return fail(fmt.Errorf("no key %q", ConfigMapKey))
	}
	s, err := Parse([]byte(data))
	if err != nil {
		return fail(fmt.Errorf("%s: %w", ConfigMapKey, err))
	}
	if sync, ok := names.SyncOfSpec(cm.Name); ok && (s.Name != "" && s.Name != sync || s.Namespace != "" && s.Namespace != cm.Namespace) {
		return fail(fmt.Errorf("the spec names sync %s/%s", s.Namespace, s.Name))
	}
	return s, nil
}

// IsSpecConfigMap tells whether cm is a spec ConfigMap: named gitsync-NAME
// and holding ConfigMapKey. It returns NAME.
func IsSpecConfigMap(cm *corev1.ConfigMap) (string, bool) {
	name, ok := names.SyncOfSpec(cm.Name)
	if !ok {
		return "", false
	}
	if _, ok := cm.Data[ConfigMapKey]; !ok {
		return "", false
	}
	return name, true
}

// ConfigMapData returns the document the spec ConfigMap stores for s, under
// ConfigMapKey, and the spec as sync-job will read it back: s in canonical
// form (Marshal), parsed again, so that what is written is exactly what is
// read. An error (an Aggregate of field errors, reachable with errors.As,
// when the spec is invalid) means nothing must be written.
func (s *Sync) ConfigMapData() (string, *Sync, error) {
	data, err := s.Marshal()
	if err != nil {
		return "", nil, err
	}
	parsed, err := Parse(data)
	if err != nil {
		return "", nil, err
	}
	return string(data), parsed, nil
}
