package spec

import (
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// KubeConfigReference is Flux's kubeConfig: where the kubeconfig of the
// cluster to apply to is. Flux's configMapRef (cloud provider identity) is
// not supported.
type KubeConfigReference struct {
	// SecretRef names the Secret, in the sync's namespace, holding the
	// kubeconfig. Required.
	SecretRef *SecretKeyReference `json:"secretRef,omitempty"`
}

// SecretKeyReference names one key of a Secret.
type SecretKeyReference struct {
	// Name of the Secret. Required.
	Name string `json:"name"`
	// Key holding the kubeconfig. Default: "value", else "value.yaml"
	// (DefaultKubeConfigKeys), as in Flux.
	Key string `json:"key,omitempty"`
}

// DefaultKubeConfigKeys are the keys a kubeconfig Secret is read from
// when secretRef.key is not set, in order, as Flux reads them.
var DefaultKubeConfigKeys = []string{"value", "value.yaml"}

func (k *KubeConfigReference) validate(p *field.Path) field.ErrorList {
	if k == nil {
		return nil
	}
	if k.SecretRef == nil {
		return field.ErrorList{field.Required(p.Child("secretRef"), "the Secret holding the kubeconfig")}
	}
	errs := validateRefName(p.Child("secretRef", "name"), k.SecretRef.Name)
	if key := k.SecretRef.Key; key != "" {
		errs = append(errs, validateSecretKey(p.Child("secretRef", "key"), key)...)
	}
	return errs
}

func validateSecretKey(p *field.Path, key string) field.ErrorList {
	if msgs := validation.IsConfigMapKey(key); len(msgs) > 0 {
		return field.ErrorList{field.Invalid(p, key, strings.Join(msgs, "; "))}
	}
	return nil
}
