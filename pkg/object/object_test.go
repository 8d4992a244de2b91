package object

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestIDStringRoundTrip(t *testing.T) {
	tests := []struct {
		id   ID
		want string
	}{
		{ID{Kind: "ConfigMap", Namespace: "ns", Name: "a"}, "ConfigMap/ns/a"},
		{ID{Group: "apps", Kind: "Deployment", Namespace: "ns", Name: "web"}, "Deployment.apps/ns/web"},
		{ID{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "x"}, "ClusterRole.rbac.authorization.k8s.io/x"},
		{ID{Kind: "Namespace", Name: "prod"}, "Namespace/prod"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.id.String(); got != tt.want {
				t.Fatalf("String() = %q, want %q", got, tt.want)
			}
			back, err := ParseID(tt.want)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.id, back); diff != "" {
				t.Fatalf("ParseID mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseIDRejects(t *testing.T) {
	for _, s := range []string{"", "ConfigMap", "a/b/c/d", "/ns/name", "ConfigMap/ns/"} {
		if _, err := ParseID(s); err == nil {
			t.Errorf("ParseID(%q) succeeded, want error", s)
		}
	}
}
