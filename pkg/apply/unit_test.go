package apply

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gitsync/gitsync/pkg/object"
)

func TestPolicyOf(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		want        Policy
		wantErr     string
	}{
		{name: "none", want: Policy{SSA: SSAOverride}},
		{name: "reconcile disabled", annotations: map[string]string{"gitsync.io/reconcile": "disabled"},
			want: Policy{SSA: SSAOverride, ReconcileDisabled: true}},
		{name: "reconcile enabled", annotations: map[string]string{"gitsync.io/reconcile": "Enabled"},
			want: Policy{SSA: SSAOverride}},
		{name: "flux reconcile", annotations: map[string]string{"kustomize.toolkit.fluxcd.io/reconcile": "Disabled"},
			want: Policy{SSA: SSAOverride, ReconcileDisabled: true}},
		{name: "gitsync wins over flux", annotations: map[string]string{
			"gitsync.io/reconcile": "enabled", "kustomize.toolkit.fluxcd.io/reconcile": "disabled"},
			want: Policy{SSA: SSAOverride}},
		{name: "ssa merge", annotations: map[string]string{"gitsync.io/ssa": "Merge"}, want: Policy{SSA: SSAMerge}},
		{name: "ssa lower case", annotations: map[string]string{"gitsync.io/ssa": "ifnotpresent"}, want: Policy{SSA: SSAIfNotPresent}},
		{name: "flux ssa ignore", annotations: map[string]string{"kustomize.toolkit.fluxcd.io/ssa": "Ignore"}, want: Policy{SSA: SSAIgnore}},
		{name: "force", annotations: map[string]string{"kustomize.toolkit.fluxcd.io/force": "Enabled"},
			want: Policy{SSA: SSAOverride, Force: true}},
		{name: "prune disabled", annotations: map[string]string{"gitsync.io/prune": "disabled"},
			want: Policy{SSA: SSAOverride, PruneDisabled: true}},
		{name: "unknown ssa", annotations: map[string]string{"gitsync.io/ssa": "Replace"},
			wantErr: `annotation gitsync.io/ssa: unknown value "Replace"`},
		{name: "unknown force", annotations: map[string]string{"kustomize.toolkit.fluxcd.io/force": "true"},
			wantErr: `annotation kustomize.toolkit.fluxcd.io/force: unknown value "true"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PolicyOf(tt.annotations)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("PolicyOf (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLivePruneOptOut(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		labels      map[string]string
		want        bool
	}{
		{name: "none"},
		{name: "prune disabled", annotations: map[string]string{"gitsync.io/prune": "disabled"}, want: true},
		{name: "flux prune disabled", annotations: map[string]string{"kustomize.toolkit.fluxcd.io/prune": "disabled"}, want: true},
		{name: "prune enabled", annotations: map[string]string{"gitsync.io/prune": "enabled"}},
		{name: "reconcile disabled label", labels: map[string]string{"kustomize.toolkit.fluxcd.io/reconcile": "disabled"}, want: true},
		{name: "ssa ignore", annotations: map[string]string{"gitsync.io/ssa": "Ignore"}, want: true},
		{name: "ssa if not present is pruned", annotations: map[string]string{"gitsync.io/ssa": "IfNotPresent"}},
		{name: "garbage value ignored", annotations: map[string]string{"gitsync.io/prune": "nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, _ := livePruneOptOut(tt.annotations, tt.labels); got != tt.want {
				t.Errorf("livePruneOptOut = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestStageOf(t *testing.T) {
	tests := []struct {
		gk   schema.GroupKind
		want Stage
	}{
		{schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}, StageClusterDefinitions},
		{schema.GroupKind{Kind: "Namespace"}, StageClusterDefinitions},
		{schema.GroupKind{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}, StageClusterDefinitions},
		{schema.GroupKind{Group: "rbac.authorization.k8s.io", Kind: "Role"}, StageClassesAndRoles},
		{schema.GroupKind{Group: "storage.k8s.io", Kind: "StorageClass"}, StageClassesAndRoles},
		{schema.GroupKind{Group: "networking.k8s.io", Kind: "IngressClass"}, StageClassesAndRoles},
		{schema.GroupKind{Group: "scheduling.k8s.io", Kind: "PriorityClass"}, StageClassesAndRoles},
		{schema.GroupKind{Group: "gateway.networking.k8s.io", Kind: "GatewayClass"}, StageClassesAndRoles},
		{schema.GroupKind{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}, StageObjects},
		{schema.GroupKind{Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"}, StageObjects},
		{schema.GroupKind{Kind: "ConfigMap"}, StageObjects},
		{schema.GroupKind{Group: "apps", Kind: "Deployment"}, StageObjects},
		{schema.GroupKind{Group: "example.com", Kind: "Class"}, StageObjects},
		{schema.GroupKind{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration"}, StageAdmission},
		{schema.GroupKind{Group: "apiregistration.k8s.io", Kind: "APIService"}, StageAdmission},
	}
	for _, tt := range tests {
		t.Run(tt.gk.String(), func(t *testing.T) {
			if got := StageOf(tt.gk); got != tt.want {
				t.Errorf("StageOf(%s) = %s, want %s", tt.gk, got, tt.want)
			}
		})
	}
}

func entry(manager string, op metav1.ManagedFieldsOperationType, fields string, at time.Time) metav1.ManagedFieldsEntry {
	t := metav1.NewTime(at)
	return metav1.ManagedFieldsEntry{Manager: manager, Operation: op, APIVersion: "v1", FieldsType: "FieldsV1",
		FieldsV1: metav1.NewFieldsV1(fields), Time: &t}
}

func liveMeta(uid string, annotations map[string]string, entries ...metav1.ManagedFieldsEntry) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{UID: types.UID("u-" + uid), Annotations: annotations, ManagedFields: entries}}
}

func TestStateOf(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	base := liveMeta("1", nil,
		entry("gitsync", metav1.ManagedFieldsOperationApply, `{"f:data":{"f:a":{}}}`, t0),
		entry("kube-controller-manager", metav1.ManagedFieldsOperationUpdate, `{"f:status":{}}`, t0))
	fp := stateOf(base, "gitsync")
	if len(fp) != 16 {
		t.Fatalf("fingerprint %q: want 16 hex digits", fp)
	}
	tests := []struct {
		name string
		m    *metav1.PartialObjectMetadata
		same bool
	}{
		{name: "same content", same: true, m: liveMeta("1", nil,
			entry("gitsync", metav1.ManagedFieldsOperationApply, `{"f:data":{"f:a":{}}}`, t0),
			entry("kube-controller-manager", metav1.ManagedFieldsOperationUpdate, `{"f:status":{}}`, t0))},
		{name: "later timestamp", same: true, m: liveMeta("1", nil,
			entry("gitsync", metav1.ManagedFieldsOperationApply, `{"f:data":{"f:a":{}}}`, t0.Add(time.Hour)))},
		{name: "other managers change", same: true, m: liveMeta("1", nil,
			entry("gitsync", metav1.ManagedFieldsOperationApply, `{"f:data":{"f:a":{}}}`, t0),
			entry("kubectl-edit", metav1.ManagedFieldsOperationUpdate, `{"f:data":{"f:b":{}}}`, t0))},
		{name: "field taken by someone else", m: liveMeta("1", nil,
			entry("gitsync", metav1.ManagedFieldsOperationApply, `{"f:data":{}}`, t0),
			entry("kubectl-edit", metav1.ManagedFieldsOperationUpdate, `{"f:data":{"f:a":{}}}`, t0))},
		{name: "recreated", m: liveMeta("2", nil,
			entry("gitsync", metav1.ManagedFieldsOperationApply, `{"f:data":{"f:a":{}}}`, t0))},
		{name: "gitsync entry gone", m: liveMeta("1", nil,
			entry("kubectl-edit", metav1.ManagedFieldsOperationUpdate, `{"f:data":{"f:a":{}}}`, t0))},
		{name: "gitsync update entry is not the apply entry", m: liveMeta("1", nil,
			entry("gitsync", metav1.ManagedFieldsOperationUpdate, `{"f:data":{"f:a":{}}}`, t0))},
	}
	tests = append(tests,
		struct {
			name string
			m    *metav1.PartialObjectMetadata
			same bool
		}{name: "same set, encoded otherwise", same: true, m: liveMeta("1", nil,
			entry("gitsync", metav1.ManagedFieldsOperationApply, `{ "f:data" : { "f:a" : { } } }`, t0))},
		struct {
			name string
			m    *metav1.PartialObjectMetadata
			same bool
		}{name: "another set, encoded otherwise", m: liveMeta("1", nil,
			entry("gitsync", metav1.ManagedFieldsOperationApply, `{ "f:data" : { "f:b" : { } } }`, t0))})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := stateOf(tt.m, "gitsync")
			if (got == fp) != tt.same {
				t.Errorf("Fingerprint = %s, base %s: want same=%v", got, fp, tt.same)
			}
			if stateMatches(tt.m, "gitsync", fp) != tt.same {
				t.Errorf("stateMatches = %v, want %v", !tt.same, tt.same)
			}
		})
	}
	t.Run("if not present ignores fields", func(t *testing.T) {
		a := liveMeta("1", map[string]string{"gitsync.io/ssa": "IfNotPresent"},
			entry("gitsync", metav1.ManagedFieldsOperationApply, `{"f:data":{"f:a":{}}}`, t0))
		b := liveMeta("1", map[string]string{"gitsync.io/ssa": "IfNotPresent"})
		if stateOf(a, "gitsync") != stateOf(b, "gitsync") {
			t.Error("IfNotPresent fingerprints differ by field set")
		}
		if stateOf(a, "gitsync") == stateOf(liveMeta("2", map[string]string{"gitsync.io/ssa": "IfNotPresent"}), "gitsync") {
			t.Error("IfNotPresent fingerprints equal across UIDs")
		}
	})
}

func TestFingerprintParts(t *testing.T) {
	fp := fingerprint("0123456789abcdef", digestOf([]byte(`{"a":1}`)))
	if len(fp) != 33 || stateOfFingerprint(fp) != "0123456789abcdef" {
		t.Errorf("fingerprint %q: want 33 bytes starting with the state", fp)
	}
	if fingerprint("0123456789abcdef", "") != "0123456789abcdef" || stateOfFingerprint("0123456789abcdef") != "0123456789abcdef" {
		t.Error("a fingerprint without digest is its state")
	}
	if digestOf([]byte(`{"a":1}`)) == digestOf([]byte(`{"a":2}`)) {
		t.Error("digest ignores the body")
	}
}

func TestClassify(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	withRV := func(m *metav1.PartialObjectMetadata, rv string) *metav1.PartialObjectMetadata {
		m.ResourceVersion = rv
		return m
	}
	applied := func(at time.Time) metav1.ManagedFieldsEntry {
		return entry("gitsync", metav1.ManagedFieldsOperationApply, `{"f:data":{}}`, at)
	}
	tests := []struct {
		name      string
		created   bool
		pre, post *metav1.PartialObjectMetadata
		listed    time.Time
		want      Action
	}{
		{name: "created", created: true, post: withRV(liveMeta("1", nil, applied(t0)), "5"), want: Created},
		{name: "not listed before", post: withRV(liveMeta("1", nil, applied(t0)), "5"), listed: t0, want: Configured},
		{name: "same resourceVersion", pre: withRV(liveMeta("1", nil, applied(t0)), "5"),
			post: withRV(liveMeta("1", nil, applied(t0)), "5"), listed: t0, want: Unchanged},
		{name: "someone else wrote, our stamp old", pre: withRV(liveMeta("1", nil, applied(t0.Add(-time.Minute))), "5"),
			post: withRV(liveMeta("1", nil, applied(t0.Add(-time.Minute))), "6"), listed: t0, want: Unchanged},
		{name: "we changed it", pre: withRV(liveMeta("1", nil, applied(t0.Add(-time.Minute))), "5"),
			post: withRV(liveMeta("1", nil, applied(t0)), "6"), listed: t0, want: Configured},
		{name: "ambiguous: our stamp in the list's second", pre: withRV(liveMeta("1", nil, applied(t0)), "5"),
			post: withRV(liveMeta("1", nil, applied(t0)), "6"), listed: t0, want: Configured},
		{name: "ambiguous: within clock skew", pre: withRV(liveMeta("1", nil, applied(t0.Add(-time.Second))), "5"),
			post: withRV(liveMeta("1", nil, applied(t0.Add(-time.Second))), "6"), listed: t0, want: Configured},
		{name: "no server time", pre: withRV(liveMeta("1", nil, applied(t0.Add(-time.Minute))), "5"),
			post: withRV(liveMeta("1", nil, applied(t0.Add(-time.Minute))), "6"), want: Configured},
		{name: "no entry before", pre: withRV(liveMeta("1", nil), "5"),
			post: withRV(liveMeta("1", nil, applied(t0)), "6"), listed: t0, want: Configured},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(tt.created, tt.pre, tt.post, tt.listed, "gitsync"); got != tt.want {
				t.Errorf("classify = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestIsImmutable(t *testing.T) {
	gk := schema.GroupKind{Kind: "ConfigMap"}
	invalid := func(msg string) error {
		return apierrors.NewInvalid(gk, "x", field.ErrorList{field.Forbidden(field.NewPath("data"), msg)})
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "configmap", err: invalid("field is immutable when `immutable` is set"), want: true},
		{name: "service clusterIP", err: apierrors.NewInvalid(schema.GroupKind{Kind: "Service"}, "x",
			field.ErrorList{field.Invalid(field.NewPath("spec", "clusterIPs").Index(0), "10.0.0.1", "may not change once set")}), want: true},
		{name: "statefulset", err: invalid("updates to statefulset spec for fields other than 'replicas', 'template' are forbidden"), want: true},
		{name: "other invalid", err: invalid("must be no more than 63 characters")},
		{name: "conflict", err: apierrors.NewConflict(schema.GroupResource{Resource: "configmaps"}, "x", errors.New("field is immutable"))},
		{name: "plain", err: fmt.Errorf("field is immutable")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isImmutable(tt.err); got != tt.want {
				t.Errorf("isImmutable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestChangeSetErr(t *testing.T) {
	id := func(n string) object.ID { return object.ID{Kind: "ConfigMap", Namespace: "ns", Name: n} }
	cs := &ChangeSet{Changes: []Change{
		{Target: Target{ID: id("a")}, Action: Created},
		{Target: Target{ID: id("b")}, Action: Failed, Err: fmt.Errorf("%s: apply: boom", id("b"))},
		{Target: Target{ID: id("c")}, Action: Skipped, Err: fmt.Errorf("%s: %w", id("c"), ErrNotAttempted)},
		{Target: Target{ID: id("d")}, Action: Skipped, Err: fmt.Errorf("%s: %w", id("d"), ErrNotAttempted)},
		{Target: Target{ID: id("e")}, Action: Skipped},
	}}
	want := "ConfigMap/ns/b: apply: boom\n2 objects not attempted: an earlier stage failed"
	if err := cs.Err(); err == nil || err.Error() != want {
		t.Errorf("Err() = %v, want %q", err, want)
	}
	if !errors.Is(cs.Err(), ErrNotAttempted) {
		t.Error("Err() does not wrap ErrNotAttempted")
	}
	if diff := cmp.Diff(map[Action]int{Created: 1, Failed: 1, Skipped: 3}, cs.Counts()); diff != "" {
		t.Errorf("Counts (-want +got):\n%s", diff)
	}
	if got := len(cs.Targets(Skipped)); got != 3 {
		t.Errorf("Targets(Skipped) = %d, want 3", got)
	}
	if (&ChangeSet{Changes: []Change{{Action: Unchanged}}}).Err() != nil {
		t.Error("Err() of a clean change set is not nil")
	}
}

func TestResourcePath(t *testing.T) {
	tests := []struct {
		t    Target
		name string
		want string
	}{
		{Target{ID: object.ID{Kind: "ConfigMap", Namespace: "ns", Name: "a"}, Version: "v1", Resource: "configmaps", Namespaced: true}, "a",
			"/api/v1/namespaces/ns/configmaps/a"},
		{Target{ID: object.ID{Group: "apps", Kind: "Deployment", Namespace: "ns"}, Version: "v1", Resource: "deployments", Namespaced: true}, "",
			"/apis/apps/v1/namespaces/ns/deployments"},
		{Target{ID: object.ID{Kind: "Namespace", Name: "ns"}, Version: "v1", Resource: "namespaces"}, "ns", "/api/v1/namespaces/ns"},
	}
	for _, tt := range tests {
		if got := strings.Join(resourcePath(tt.t, tt.name), "/"); strings.ReplaceAll(got, "//", "/") != tt.want {
			t.Errorf("resourcePath(%s) = %s, want %s", tt.t.ID, got, tt.want)
		}
	}
}
