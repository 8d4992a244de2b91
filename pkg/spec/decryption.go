package spec

import "k8s.io/apimachinery/pkg/util/validation/field"

// DecryptionProviderSOPS is the only decryption provider, as in Flux.
const DecryptionProviderSOPS = "sops"

// Decryption decrypts SOPS-encrypted files of the render, as Flux's
// Kustomization spec.decryption: manifests, patches, secretGenerator files
// and envs, and Helm values files and valuesFrom Secrets.
type Decryption struct {
	// Provider must be "sops".
	Provider string `json:"provider"`
	// SecretRef names a Secret in the sync's namespace holding the private
	// keys: age identities in entries ending in .agekey, armored OpenPGP
	// private keys in entries ending in .asc. Required: gitsync reaches no
	// cloud key service.
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`
}

func (d *Decryption) validate(p *field.Path) field.ErrorList {
	if d == nil {
		return nil
	}
	var errs field.ErrorList
	switch d.Provider {
	case DecryptionProviderSOPS:
	case "":
		errs = append(errs, field.Required(p.Child("provider"), "must be "+DecryptionProviderSOPS))
	default:
		errs = append(errs, field.NotSupported(p.Child("provider"), d.Provider, []string{DecryptionProviderSOPS}))
	}
	if d.SecretRef == nil {
		errs = append(errs, field.Required(p.Child("secretRef"),
			"the Secret holding the age (*.agekey) or OpenPGP (*.asc) private keys"))
	} else {
		errs = append(errs, validateRefName(p.Child("secretRef", "name"), d.SecretRef.Name)...)
	}
	return errs
}
