package install

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/spec"
)

// TestGenerateEachSourceKind checks, for every kind of source, the two
// things install derives from it: get on exactly the Secrets a run reads,
// and a Job deadline that leaves room for the source's own timeouts.
func TestGenerateEachSourceKind(t *testing.T) {
	tests := []struct {
		name     string
		doc      string
		secrets  []string
		deadline time.Duration
	}{
		{"git with verify, include and submodules", `
source:
  git:
    url: https://git.example.com/app.git
    secretRef: {name: git-creds}
    timeout: 30s
    verify: {secretRef: {name: git-keys}}
    recurseSubmodules: true
    include:
    - repository: {url: 'https://git.example.com/base.git', secretRef: {name: base-creds}}
    - repository: {url: 'https://git.example.com/lib.git'}
timeout: 3m`,
			// 3m + (2 + 2×2 includes + 2 submodules) × 30s + 2m.
			[]string{"base-creds", "git-creds", "git-keys"}, 3*time.Minute + 8*30*time.Second + DeadlineMargin},
		{"oci with cosign", `
source:
  oci:
    url: oci://registry.example.com/app
    secretRef: {name: registry}
    verify: {secretRef: {name: cosign-keys}}
    timeout: 5m`,
			// 5m default spec timeout + 2 × 5m + 2m.
			[]string{"cosign-keys", "registry"}, spec.DefaultTimeout + 10*time.Minute + DeadlineMargin},
		{"bucket with a long timeout", `
source:
  bucket: {endpoint: minio.example.com, bucketName: configs, secretRef: {name: s3-keys}, timeout: 10m}
postBuild: {substituteFrom: [{kind: Secret, name: vars}]}`,
			[]string{"s3-keys", "vars"}, spec.DefaultTimeout + 20*time.Minute + DeadlineMargin},
		{"helm with valuesFrom, default timeouts", `
source:
  helm: {url: 'https://charts.example.com', chart: web, secretRef: {name: charts}}
helm: {valuesFrom: [{kind: Secret, name: web-values}, {kind: ConfigMap, name: not-a-secret}]}`,
			[]string{"charts", "web-values"}, spec.DefaultTimeout + 2*spec.DefaultHelmTimeout + DeadlineMargin},
		{"anonymous bucket", `
source:
  bucket: {endpoint: minio.example.com, bucketName: configs}`,
			nil, spec.DefaultTimeout + 2*spec.DefaultBucketTimeout + DeadlineMargin},
		{"runTimeout raises the deadline", `
source:
  bucket: {endpoint: minio.example.com, bucketName: configs}
runTimeout: 1h`,
			nil, time.Hour},
		{"a chart's tests add their timeout", `
source:
  helm: {url: https://charts.example.com, chart: app}
timeout: 2m
helm:
  test: {enable: true, timeout: 3m}`,
			nil, 5*time.Minute + 2*spec.DefaultHelmTimeout + DeadlineMargin},
		{"runTimeout never lowers it", `
source:
  bucket: {endpoint: minio.example.com, bucketName: configs}
runTimeout: 1m`,
			nil, spec.DefaultTimeout + 2*spec.DefaultBucketTimeout + DeadlineMargin},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := spec.Parse([]byte("apiVersion: gitsync.io/v1alpha1\nkind: Sync\nmetadata: {name: web, namespace: team-a}\nspec:\n" + indentSpec(tt.doc)))
			if err != nil {
				t.Fatal(err)
			}
			objs, err := Generate(s, Options{Image: "registry.example.com/sync-job:v1"})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range objs.Roles {
				for _, rule := range r.Rules {
					if slices.Equal(rule.ResourceNames, []string{names.Render("web")}) {
						continue // the stored render, not a credential (install_test.go)
					}
					if len(rule.Resources) == 1 && rule.Resources[0] == "secrets" && r.Name == "gitsync-web" {
						want := rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: rule.ResourceNames, Verbs: []string{"get"}}
						if diff := cmp.Diff(want, rule); diff != "" {
							t.Errorf("Secrets rule grants more than get by name (-want +got):\n%s", diff)
						}
						got = append(got, rule.ResourceNames...)
					}
				}
			}
			if diff := cmp.Diff(tt.secrets, got); diff != "" {
				t.Errorf("Secrets granted (-want +got):\n%s", diff)
			}
			job := objs.CronJob.Spec.JobTemplate.Spec
			if d := time.Duration(*job.ActiveDeadlineSeconds) * time.Second; d != tt.deadline {
				t.Errorf("activeDeadlineSeconds %s, want %s", d, tt.deadline)
			}
		})
	}
}

// indentSpec indents a spec body under "spec:".
func indentSpec(body string) string {
	return "  " + strings.ReplaceAll(strings.TrimSpace(body), "\n", "\n  ") + "\n"
}
