package apply

import (
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Stage is one step of an apply: objects of a stage are sent concurrently,
// and a stage starts only when all earlier ones succeeded. Prune walks the
// stages backwards.
type Stage int

// The stages, in apply order.
const (
	// StageClusterDefinitions holds CustomResourceDefinitions, Namespaces and
	// ClusterRoles: what later objects live in or refer to. After it, the
	// engine waits for the CRDs to be Established and re-reads discovery.
	StageClusterDefinitions Stage = iota
	// StageClassesAndRoles holds kinds named *Class (StorageClass,
	// IngressClass, PriorityClass, RuntimeClass, GatewayClass, ...), which
	// workloads name and some admission plugins check at create time, and
	// Roles, so that their bindings in the next stage pass RBAC's escalation
	// check for an applier that is not cluster-admin.
	StageClassesAndRoles
	// StageObjects holds everything else, including RoleBindings and
	// ClusterRoleBindings.
	StageObjects
	// StageAdmission holds Mutating/ValidatingWebhookConfigurations and
	// APIServices. Applied last so that a webhook whose server is part of
	// this very set does not reject the rest of the set before its server
	// runs; pruned first for the same reason.
	StageAdmission

	numStages = int(StageAdmission) + 1
)

// String names the stage in logs.
func (s Stage) String() string {
	switch s {
	case StageClusterDefinitions:
		return "cluster-definitions"
	case StageClassesAndRoles:
		return "classes-and-roles"
	case StageObjects:
		return "objects"
	case StageAdmission:
		return "admission"
	}
	return "unknown"
}

// StageOf returns the stage of a kind.
func StageOf(gk schema.GroupKind) Stage {
	switch gk {
	case schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"},
		schema.GroupKind{Kind: "Namespace"},
		schema.GroupKind{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}:
		return StageClusterDefinitions
	case schema.GroupKind{Group: "rbac.authorization.k8s.io", Kind: "Role"}:
		return StageClassesAndRoles
	case schema.GroupKind{Group: "admissionregistration.k8s.io", Kind: "MutatingWebhookConfiguration"},
		schema.GroupKind{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration"},
		schema.GroupKind{Group: "apiregistration.k8s.io", Kind: "APIService"}:
		return StageAdmission
	}
	if strings.HasSuffix(gk.Kind, "Class") && gk.Kind != "Class" {
		return StageClassesAndRoles
	}
	return StageObjects
}

func isCRD(gk schema.GroupKind) bool {
	return gk == schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}
}
