package install

import (
	"strconv"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/gitsync/gitsync/pkg/names"
)

// The job guard: RBAC only adds rights, and a namespace-mode sync needs
// write on the ConfigMaps (and, applying to its own namespace, the
// CronJobs and Roles) of its namespace, so RBAC cannot keep its
// ServiceAccount off its own spec, CronJob and RBAC. A
// ValidatingAdmissionPolicy can: it is evaluated by the API server for
// every request, with no webhook and no controller to run. One policy
// serves every sync of the cluster: it matches requests made by a sync's
// ServiceAccount (system:serviceaccount:NS:gitsync-NAME) and refuses those
// that write that sync's own install objects:
//
//   - in NS, the ConfigMap (its spec), ServiceAccount, CronJob, Role and
//     RoleBinding named gitsync-NAME;
//   - anywhere, the Role, RoleBinding, ClusterRole and ClusterRoleBinding
//     named gitsync:NS:NAME (its applying rights).
//
// A sync that manages itself from Git (spec.manageGitsync: bootstrap's
// root sync) must write its own objects: install labels them
// LabelSelfManaged, and the policy lets an update or delete through when
// the object as stored already carries that label, which only whoever
// installed the sync can have put there.

const (
	// GuardName names the ValidatingAdmissionPolicy and its binding.
	GuardName = "gitsync-job-guard"
	// LabelSelfManaged marks the install objects of a sync with
	// spec.manageGitsync, which its own runs may write.
	LabelSelfManaged = "gitsync.io/self-managed"
)

// Guard returns the job guard's ValidatingAdmissionPolicy and binding.
func Guard() (*admissionregistrationv1.ValidatingAdmissionPolicy, *admissionregistrationv1.ValidatingAdmissionPolicyBinding) {
	labels := map[string]string{LabelName: AppName, LabelManagedBy: ManagedBy}
	ops := []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update, admissionregistrationv1.Delete}
	rule := func(group string, resources ...string) admissionregistrationv1.NamedRuleWithOperations {
		return admissionregistrationv1.NamedRuleWithOperations{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
			Operations: ops,
			Rule:       admissionregistrationv1.Rule{APIGroups: []string{group}, APIVersions: []string{"*"}, Resources: resources},
		}}
	}
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "ValidatingAdmissionPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: GuardName, Labels: labels},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{
				rule("", "configmaps", "serviceaccounts"),
				rule("batch", "cronjobs"),
				rule("rbac.authorization.k8s.io", "roles", "rolebindings", "clusterroles", "clusterrolebindings"),
			}},
			MatchConditions: []admissionregistrationv1.MatchCondition{{
				Name: "by-a-sync-service-account",
				Expression: "request.userInfo.username.startsWith('system:serviceaccount:') && " +
					"request.userInfo.username.split(':').size() == 4 && " +
					"request.userInfo.username.split(':')[3].startsWith('" + names.Prefix + "')",
			}},
			Variables: []admissionregistrationv1.Variable{
				{Name: "saNamespace", Expression: "request.userInfo.username.split(':')[2]"},
				{Name: "saName", Expression: "request.userInfo.username.split(':')[3]"},
				{Name: "applier", Expression: "'gitsync:' + variables.saNamespace + ':' + variables.saName.substring(" + strconv.Itoa(len(names.Prefix)) + ")"},
				{Name: "own", Expression: "(request.namespace == variables.saNamespace && request.name == variables.saName && " +
					"request.resource.resource in ['configmaps', 'serviceaccounts', 'cronjobs', 'roles', 'rolebindings']) || " +
					"(request.name == variables.applier && request.resource.group == 'rbac.authorization.k8s.io')"},
				{Name: "selfManaged", Expression: "request.operation != 'CREATE' && oldObject != null && " +
					"has(oldObject.metadata.labels) && '" + LabelSelfManaged + "' in oldObject.metadata.labels && " +
					"oldObject.metadata.labels['" + LabelSelfManaged + "'] == 'true'"},
			},
			Validations: []admissionregistrationv1.Validation{{
				Expression: "!variables.own || variables.selfManaged",
				MessageExpression: "'gitsync: ' + request.userInfo.username + ' may not ' + request.operation.lowerAscii() + ' ' + " +
					"request.resource.resource + ' ' + request.name + ': it is its own sync\\'s spec, account, CronJob or RBAC " +
					"(kubectl gitsync install writes them)'",
				Reason: ptr.To(metav1.StatusReasonForbidden),
			}},
		},
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "ValidatingAdmissionPolicyBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: GuardName, Labels: labels},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        GuardName,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
		},
	}
	return policy, binding
}
