package helm

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// HookEvent is a point of a release's life at which Helm runs a hook.
type HookEvent string

// Hook events. gitsync runs the install and upgrade ones; test hooks are
// left out of a render unless asked for; the delete and rollback ones are
// reported but a sync never fires them (see docs/helm.md).
const (
	HookPreInstall   HookEvent = "pre-install"
	HookPostInstall  HookEvent = "post-install"
	HookPreUpgrade   HookEvent = "pre-upgrade"
	HookPostUpgrade  HookEvent = "post-upgrade"
	HookPreDelete    HookEvent = "pre-delete"
	HookPostDelete   HookEvent = "post-delete"
	HookPreRollback  HookEvent = "pre-rollback"
	HookPostRollback HookEvent = "post-rollback"
	HookTest         HookEvent = "test"
)

// HookDeletePolicy says when a hook's object is deleted.
type HookDeletePolicy string

// Hook delete policies, as Helm's helm.sh/hook-delete-policy annotation
// names them.
const (
	// HookSucceeded deletes the hook's object after it succeeded.
	HookSucceeded HookDeletePolicy = "hook-succeeded"
	// HookFailed deletes the hook's object after it failed.
	HookFailed HookDeletePolicy = "hook-failed"
	// HookBeforeHookCreation deletes an existing object of the hook
	// before the hook is applied again. It is the policy of hooks that
	// name none.
	HookBeforeHookCreation HookDeletePolicy = "before-hook-creation"
)

// Annotations Helm reads hooks from.
const (
	HookAnnotation       = "helm.sh/hook"
	HookWeightAnnotation = "helm.sh/hook-weight"
	HookDeleteAnnotation = "helm.sh/hook-delete-policy"
)

// Hook is one object of the chart that is applied at a point of the
// release's life instead of with the chart's objects.
type Hook struct {
	// Object is the hook's object, post-rendered like the others.
	Object *unstructured.Unstructured
	// Source is the template file it came from, e.g.
	// "app/templates/migrate-job.yaml".
	Source string
	// Events are the events the hook runs at, as annotated (test-success
	// is read as test).
	Events []HookEvent
	// Weight orders hooks of one event, lowest first.
	Weight int
	// DeletePolicies are the hook's delete policies; never empty: a hook
	// that names none has HookBeforeHookCreation, as in Helm.
	DeletePolicies []HookDeletePolicy
}

// Has reports whether the hook runs at event e.
func (h *Hook) Has(e HookEvent) bool { return slices.Contains(h.Events, e) }

// HasDeletePolicy reports whether the hook has delete policy p.
func (h *Hook) HasDeletePolicy(p HookDeletePolicy) bool { return slices.Contains(h.DeletePolicies, p) }

// knownEvents maps annotation values to events; test-success is Helm 2's
// name for test, which Helm still reads.
var knownEvents = map[string]HookEvent{
	string(HookPreInstall): HookPreInstall, string(HookPostInstall): HookPostInstall,
	string(HookPreUpgrade): HookPreUpgrade, string(HookPostUpgrade): HookPostUpgrade,
	string(HookPreDelete): HookPreDelete, string(HookPostDelete): HookPostDelete,
	string(HookPreRollback): HookPreRollback, string(HookPostRollback): HookPostRollback,
	string(HookTest): HookTest, "test-success": HookTest,
}

// hookOf reads the hook annotations of obj. ok is false for an object that
// is not a hook. Unlike Helm, which skips hooks with an unknown event
// without a word, an unknown event, weight or delete policy is an error:
// gitsync never drops input silently.
func hookOf(obj *unstructured.Unstructured, source string) (h Hook, ok bool, err error) {
	ann := obj.GetAnnotations()
	events, ok := ann[HookAnnotation]
	if !ok {
		return Hook{}, false, nil
	}
	h = Hook{Object: obj, Source: source}
	for e := range strings.SplitSeq(events, ",") {
		e = strings.ToLower(strings.TrimSpace(e))
		ev, known := knownEvents[e]
		if !known {
			return Hook{}, false, fmt.Errorf("annotation %s: unknown hook event %q", HookAnnotation, e)
		}
		if !slices.Contains(h.Events, ev) {
			h.Events = append(h.Events, ev)
		}
	}
	if w, set := ann[HookWeightAnnotation]; set && strings.TrimSpace(w) != "" {
		h.Weight, err = strconv.Atoi(strings.TrimSpace(w))
		if err != nil {
			return Hook{}, false, fmt.Errorf("annotation %s: %q is not an integer", HookWeightAnnotation, w)
		}
	}
	if ps, set := ann[HookDeleteAnnotation]; set {
		for p := range strings.SplitSeq(ps, ",") {
			p = strings.ToLower(strings.TrimSpace(p))
			switch pol := HookDeletePolicy(p); pol {
			case HookSucceeded, HookFailed, HookBeforeHookCreation:
				if !slices.Contains(h.DeletePolicies, pol) {
					h.DeletePolicies = append(h.DeletePolicies, pol)
				}
			case "":
			default:
				return Hook{}, false, fmt.Errorf("annotation %s: unknown delete policy %q", HookDeleteAnnotation, p)
			}
		}
	}
	if len(h.DeletePolicies) == 0 {
		h.DeletePolicies = []HookDeletePolicy{HookBeforeHookCreation}
	}
	return h, true, nil
}

// InstallOrder is the order of kinds in which Helm installs objects of
// equal weight (Helm's releaseutil.InstallOrder; pkg/helm/sdk's tests keep
// the two equal). Kinds not listed come last.
var InstallOrder = []string{
	"PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
	"PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass",
	"PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole", "ClusterRoleList",
	"ClusterRoleBinding", "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList",
	"Service", "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
	"HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService",
	"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
}

// kindRank ranks kinds the way Helm orders objects of equal weight.
func kindRank(kind string) int {
	if r := slices.Index(InstallOrder, kind); r >= 0 {
		return r
	}
	return len(InstallOrder)
}

// sortHooks orders hooks as Helm runs them: by weight, then by name; ties
// by Helm's install order of kinds, then namespace and source.
func sortHooks(hooks []Hook) {
	slices.SortStableFunc(hooks, func(a, b Hook) int {
		return cmp.Or(
			cmp.Compare(a.Weight, b.Weight),
			cmp.Compare(a.Object.GetName(), b.Object.GetName()),
			cmp.Compare(kindRank(a.Object.GetKind()), kindRank(b.Object.GetKind())),
			cmp.Compare(a.Object.GetKind(), b.Object.GetKind()),
			cmp.Compare(a.Object.GetNamespace(), b.Object.GetNamespace()),
			cmp.Compare(a.Source, b.Source),
		)
	})
}

// HooksFor returns the hooks that run at event, in the order they must
// run (see Rendered.Hooks).
func (r *Rendered) HooksFor(event HookEvent) []Hook {
	var out []Hook
	for _, h := range r.Hooks {
		if h.Has(event) {
			out = append(out, h)
		}
	}
	return out
}
