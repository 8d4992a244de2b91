package action

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	rbacv1 "k8s.io/api/rbac/v1"
)

func TestSyncWriteRights(t *testing.T) {
	rule := func(groups, resources, verbs []string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{APIGroups: groups, Resources: resources, Verbs: verbs}
	}
	core, batch := []string{""}, []string{"batch"}
	for _, tt := range []struct {
		name  string
		rules []rbacv1.PolicyRule
		want  []string
	}{
		{"read only", []rbacv1.PolicyRule{rule(core, []string{"configmaps", "pods"}, []string{"get", "list", "watch"})}, nil},
		{"configmaps", []rbacv1.PolicyRule{rule(core, []string{"configmaps"}, []string{"update"})}, []string{"configmaps"}},
		{"cronjobs in the wrong group", []rbacv1.PolicyRule{rule(core, []string{"cronjobs"}, []string{"create"})}, nil},
		{"cronjobs and jobs", []rbacv1.PolicyRule{rule(batch, []string{"cronjobs", "jobs"}, []string{"patch"})}, []string{"cronjobs.batch", "jobs.batch"}},
		{"one named configmap", []rbacv1.PolicyRule{{APIGroups: core, Resources: []string{"configmaps"}, ResourceNames: []string{"gitsync-infra"}, Verbs: []string{"patch"}}}, []string{"configmaps"}},
		{"wildcard", []rbacv1.PolicyRule{rule([]string{"*"}, []string{"*"}, []string{"*"})}, []string{
			"configmaps", "cronjobs.batch", "jobs.batch", "pods", "deployments.apps", "statefulsets.apps", "daemonsets.apps",
			"replicasets.apps", "replicationcontrollers"}},
		{"delete only", []rbacv1.PolicyRule{rule(core, []string{"configmaps"}, []string{"delete"})}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, SyncWriteRights(tt.rules)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
