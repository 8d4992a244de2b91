package render

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// nameRule checks a metadata.name; it returns the API server's messages.
type nameRule func(string) []string

// nameRules are the kinds whose name rule the API server is known to
// apply, by group and kind: a render refuses a name it would refuse, so
// that one bad name fails the run before anything is applied rather than
// halfway through the apply. Kinds not listed (custom resources,
// aggregated APIs, RBAC's path-segment names) get only the rule every
// kind has: a path segment (no "/" or "%", not "." or "..").
var nameRules = buildNameRules()

// subdomainKinds are kinds whose names are DNS-1123 subdomains.
var subdomainKinds = [][2]string{
	{"", "ConfigMap"}, {"", "Secret"}, {"", "ServiceAccount"}, {"", "PersistentVolumeClaim"},
	{"", "PersistentVolume"}, {"", "Pod"}, {"", "ReplicationController"}, {"", "LimitRange"}, {"", "ResourceQuota"},
	{"apps", "Deployment"}, {"apps", "StatefulSet"}, {"apps", "DaemonSet"}, {"apps", "ReplicaSet"},
	{"batch", "Job"}, {"batch", "CronJob"},
	{"networking.k8s.io", "Ingress"}, {"networking.k8s.io", "IngressClass"}, {"networking.k8s.io", "NetworkPolicy"},
	{"policy", "PodDisruptionBudget"}, {"autoscaling", "HorizontalPodAutoscaler"},
	{"storage.k8s.io", "StorageClass"}, {"scheduling.k8s.io", "PriorityClass"},
	{"apiextensions.k8s.io", "CustomResourceDefinition"},
	{"admissionregistration.k8s.io", "ValidatingWebhookConfiguration"},
	{"admissionregistration.k8s.io", "MutatingWebhookConfiguration"},
}

func buildNameRules() map[[2]string]nameRule {
	rules := map[[2]string]nameRule{
		{"", "Namespace"}: validation.IsDNS1123Label,
		// DNS-1035 before Kubernetes 1.34's RelaxedServiceNameValidation
		// (GA in 1.37); the rule of the servers that accept most.
		{"", "Service"}: validation.IsDNS1123Label,
	}
	for _, k := range subdomainKinds {
		rules[k] = validation.IsDNS1123Subdomain
	}
	return rules
}

// checkNames refuses a name or namespace no API server accepts for the
// object's kind (see nameRules), naming the object's file and line and
// quoting the value with %q, so that control characters show.
func checkNames(o *object) error {
	group, kind, ns, name := identity(o.obj)
	if ns != "" {
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			return fmt.Errorf("%s: %w: metadata.namespace %q: %s", o.where(), ErrInvalidObject, ns, strings.Join(msgs, "; "))
		}
	}
	var msgs []string
	if rule, ok := nameRules[[2]string{group, kind}]; ok {
		msgs = rule(name)
	} else {
		msgs = pathSegment(name)
	}
	if len(msgs) > 0 {
		return fmt.Errorf("%s: %w: metadata.name %q: %s", o.where(), ErrInvalidObject, name, strings.Join(msgs, "; "))
	}
	return nil
}

// pathSegment is the rule of every kind: the name is one segment of the
// object's URL.
func pathSegment(name string) []string {
	switch {
	case name == "." || name == "..":
		return []string{"may not be '.' or '..'"}
	case strings.ContainsAny(name, "/%"):
		return []string{"may not contain '/' or '%'"}
	case len(name) > validation.DNS1123SubdomainMaxLength:
		return []string{validation.MaxLenError(validation.DNS1123SubdomainMaxLength)}
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return []string{"may not contain control characters"}
		}
	}
	return nil
}
