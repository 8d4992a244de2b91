package flux

import (
	"fmt"

	"github.com/gitsync/gitsync/pkg/spec"
)

// SecretUse is a Secret that a run reads for a Flux object: always in the
// object's own namespace, by name.
type SecretUse struct {
	// Namespace and Name of the Secret.
	Namespace, Name string
	// Field is the field of the object that names it, such as
	// spec.verify.secretRef.
	Field string
}

// Secrets returns the Secrets a run reads for obj, in field order: what
// the RBAC of a sync running a Flux tree must grant `get` on. The
// credentials of an included GitRepository are the included object's own
// secretRef, returned for that object. A kind that reads none returns nil.
func Secrets(obj Object) []SecretUse {
	ns := obj.Metadata().ID.Namespace
	var out []SecretUse
	add := func(name, field string) {
		if name != "" {
			out = append(out, SecretUse{Namespace: ns, Name: name, Field: field})
		}
	}
	switch o := obj.(type) {
	case *GitRepository:
		add(o.SecretRef, "spec.secretRef")
		if o.Verify != nil {
			add(o.Verify.SecretRef, "spec.verify.secretRef")
		}
	case *OCIRepository:
		add(o.SecretRef, "spec.secretRef")
		add(o.CertSecretRef, "spec.certSecretRef")
		if o.Verify != nil {
			add(o.Verify.SecretRef, "spec.verify.secretRef")
			add(o.Verify.TrustedRootSecretRef, "spec.verify.trustedRootSecretRef")
		}
	case *HelmRepository:
		add(o.SecretRef, "spec.secretRef")
		add(o.CertSecretRef, "spec.certSecretRef")
	case *Bucket:
		add(o.SecretRef, "spec.secretRef")
		add(o.CertSecretRef, "spec.certSecretRef")
	case *Kustomization:
		// Without a secretRef, decryption uses the keys of the sync's own
		// spec.decryption, which the sync's RBAC covers already.
		if d := o.Decryption; d != nil && d.SecretRef != nil {
			add(d.SecretRef.Name, "spec.decryption.secretRef")
		}
		if o.PostBuild != nil {
			for i, ref := range o.PostBuild.SubstituteFrom {
				if ref.Kind == "Secret" {
					add(ref.Name, fmt.Sprintf("spec.postBuild.substituteFrom[%d]", i))
				}
			}
		}
		addKubeConfig(add, o.KubeConfig)
	case *HelmChart:
		if v := o.Verify; v != nil {
			add(v.SecretRef, "spec.verify.secretRef")
			add(v.TrustedRootSecretRef, "spec.verify.trustedRootSecretRef")
		}
	case *HelmRelease:
		if c := o.Chart; c != nil && c.Verify != nil {
			// Read where Flux's HelmChart would be: the source's namespace.
			for _, u := range []SecretUse{{c.SourceRef.Namespace, c.Verify.SecretRef, "spec.chart.spec.verify.secretRef"},
				{c.SourceRef.Namespace, c.Verify.TrustedRootSecretRef, "spec.chart.spec.verify.trustedRootSecretRef"}} {
				if u.Name != "" {
					out = append(out, u)
				}
			}
		}
		for i, ref := range o.ValuesFrom {
			if ref.Kind == "Secret" {
				add(ref.Name, fmt.Sprintf("spec.valuesFrom[%d]", i))
			}
		}
		addKubeConfig(add, o.KubeConfig)
	case *Provider:
		add(o.SecretRef, "spec.secretRef")
	}
	return out
}

func addKubeConfig(add func(name, field string), kc *spec.KubeConfigReference) {
	if kc != nil && kc.SecretRef != nil {
		add(kc.SecretRef.Name, "spec.kubeConfig.secretRef")
	}
}
