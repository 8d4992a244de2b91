package lockdown

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/spec"
)

func TestFromNamespace(t *testing.T) {
	tests := []struct {
		name    string
		ann     map[string]string
		want    Policy
		wantErr string
	}{
		{name: "none", ann: nil, want: Policy{}},
		{name: "both", ann: map[string]string{AnnotationNoCrossNamespaceRefs: "true", AnnotationDefaultServiceAccount: "deployer"},
			want: Policy{NoCrossNamespaceRefs: true, DefaultServiceAccount: "deployer"}},
		{name: "false", ann: map[string]string{AnnotationNoCrossNamespaceRefs: "false"}, want: Policy{}},
		{name: "not a bool", ann: map[string]string{AnnotationNoCrossNamespaceRefs: "yes"},
			wantErr: `Namespace/team-a: annotation gitsync.io/no-cross-namespace-refs: "yes" is not true or false`},
		{name: "empty account", ann: map[string]string{AnnotationDefaultServiceAccount: " "},
			wantErr: "Namespace/team-a: annotation gitsync.io/default-service-account: empty"},
		{name: "bad account", ann: map[string]string{AnnotationDefaultServiceAccount: "Deployer!"},
			wantErr: `Namespace/team-a: annotation gitsync.io/default-service-account: default ServiceAccount "Deployer!"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromNamespace(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Annotations: tt.ann}})
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want prefix %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// MergePatch sets what the policy locks and removes the other annotation,
// so that writing a narrower policy lifts what it no longer holds.
func TestMergePatch(t *testing.T) {
	b, err := Policy{DefaultServiceAccount: "deployer"}.MergePatch()
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]map[string]map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{AnnotationNoCrossNamespaceRefs: nil, AnnotationDefaultServiceAccount: "deployer"}
	if diff := cmp.Diff(want, got["metadata"]["annotations"]); diff != "" {
		t.Errorf("patch (-want +got):\n%s", diff)
	}
}

// Apply fills only what the spec leaves open: a named ServiceAccount and a
// kubeConfig's identity stay.
func TestApply(t *testing.T) {
	p := Policy{NoCrossNamespaceRefs: true, DefaultServiceAccount: "deployer"}
	var s spec.Sync
	if got := p.Apply(&s); len(got) != 2 || s.Spec.ServiceAccountName != "deployer" || !s.Spec.Flux.CrossNamespaceRefsRefused() {
		t.Errorf("empty spec: changed %v, spec %+v", got, s.Spec)
	}
	named := spec.Sync{Spec: spec.SyncSpec{ServiceAccountName: "own"}}
	p.Apply(&named)
	if named.Spec.ServiceAccountName != "own" {
		t.Errorf("a named ServiceAccount became %q", named.Spec.ServiceAccountName)
	}
	remote := spec.Sync{Spec: spec.SyncSpec{KubeConfig: &spec.KubeConfigReference{}}}
	p.Apply(&remote)
	if remote.Spec.ServiceAccountName != "" {
		t.Errorf("a kubeConfig sync got ServiceAccount %q", remote.Spec.ServiceAccountName)
	}
	if got := (Policy{}).Apply(&spec.Sync{}); got != nil {
		t.Errorf("no lockdown changed %v", got)
	}
	if p.UnitServiceAccount("", false) != "deployer" || p.UnitServiceAccount("x", false) != "x" || p.UnitServiceAccount("", true) != "" {
		t.Error("UnitServiceAccount")
	}
}
