package spec

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestFromConfigMap(t *testing.T) {
	doc := func(name string) string {
		return "apiVersion: gitsync.io/v1alpha1\nkind: Sync\nmetadata: {name: " + name + "}\nspec:\n  source: {git: {url: 'https://git.example.com/web.git'}}\n"
	}
	cm := func(name string, data map[string]string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "team-a"}, Data: data}
	}
	tests := []struct {
		name    string
		cm      *corev1.ConfigMap
		wantErr string
	}{
		{"valid", cm("gitsync-web", map[string]string{ConfigMapKey: doc("web")}), ""},
		{"no key", cm("gitsync-web", map[string]string{"other": "x"}), `ConfigMap/team-a/gitsync-web: no key "sync.yaml"`},
		{"invalid", cm("gitsync-web", map[string]string{ConfigMapKey: doc("web") + "  prunee: true\n"}), "ConfigMap/team-a/gitsync-web: sync.yaml: spec.prunee"},
		{"another sync", cm("gitsync-web", map[string]string{ConfigMapKey: doc("api")}), "ConfigMap/team-a/gitsync-web: the spec names sync /api"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := FromConfigMap(tt.cm)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || s.Name != "web" {
				t.Fatalf("FromConfigMap = %v, %v", s, err)
			}
		})
	}
}

func TestConfigMapDataRoundTrip(t *testing.T) {
	s := New("web", "team-a")
	s.Spec.Source.Git = &GitSource{URL: "https://git.example.com/web.git"}
	s.Spec.Suspend = true
	data, parsed, err := s.ConfigMapData()
	if err != nil {
		t.Fatal(err)
	}
	back, err := FromConfigMap(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "gitsync-web", Namespace: "team-a"}, Data: map[string]string{ConfigMapKey: data}})
	if err != nil {
		t.Fatal(err)
	}
	if back.Digest() != parsed.Digest() || !back.Spec.Suspend {
		t.Errorf("the written spec reads back differently:\n%s", data)
	}
	s.Spec.Source.Git.URL = "ftp://nope"
	if _, _, err := s.ConfigMapData(); err == nil {
		t.Error("an invalid spec gave data to write")
	}
}

func TestIsSpecConfigMap(t *testing.T) {
	for _, tt := range []struct {
		name string
		data map[string]string
		want string
	}{
		{"gitsync-web", map[string]string{ConfigMapKey: ""}, "web"},
		{"gitsync-web-inventory", map[string]string{"record.json": ""}, ""},
		{"web", map[string]string{ConfigMapKey: ""}, ""},
	} {
		got, ok := IsSpecConfigMap(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: tt.name}, Data: tt.data})
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("IsSpecConfigMap(%s) = %q, %v", tt.name, got, ok)
		}
	}
}
