package syncrun

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestFluxReadSecrets: the job of a sync that delegates its objects to a
// ServiceAccount (serviceAccountName) may read only the Secrets its spec
// names (in namespace mode its applying Role also covers the Secrets of
// the target namespace, the sync's own by default). A Flux Kustomization of its tree that reads
// another (substituteFrom) fails, and its message says how to grant it;
// listed in spec.flux.readSecrets, install's RBAC grants it and the unit
// renders with its variables.
func TestFluxReadSecrets(t *testing.T) {
	ctx := t.Context()
	ns := env.NewNamespace(t)
	git, _ := appRepo(t, expandNS(map[string]string{
		"clusters/test/flux-system/gotk-sync.yaml": ownRepository,
		"clusters/test/units.yaml": kustomization("apps", "./apps",
			"  postBuild:\n    substituteFrom:\n    - {kind: Secret, name: cluster-vars}\n"),
		"apps/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: vars-cm\ndata:\n  env: ${env}\n",
	}, ns))
	if _, err := env.Client().CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "cluster-vars"}, StringData: map[string]string{"env": "prod"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	configMapDeployer(t, ns)
	doc := strings.Replace(syncDoc(ns, git.HTTPURL("app"), "  serviceAccountName: deployer\n"), "path: ./deploy", "path: ./clusters/test", 1)

	res := runAs(t, ns, installSync(t, env, doc))
	u := units(res)["Kustomization/"+ns+"/apps"]
	if u.Outcome != Failed || !strings.Contains(u.Message, "forbidden") ||
		!strings.Contains(u.Message, "spec.flux.readSecrets (kubectl gitsync install ... --flux-secret cluster-vars)") {
		t.Fatalf("unit apps: %s %q; want it refused the Secret, saying how to grant it", u.Outcome, u.Message)
	}

	res = runAs(t, ns, installSync(t, env, doc+"  flux:\n    readSecrets: [cluster-vars]\n"))
	if u := units(res)["Kustomization/"+ns+"/apps"]; u.Outcome != Succeeded {
		t.Fatalf("unit apps with readSecrets: %s %q", u.Outcome, u.Message)
	}
	cm, err := env.Client().CoreV1().ConfigMaps(ns).Get(ctx, "vars-cm", metav1.GetOptions{})
	if err != nil || cm.Data["env"] != "prod" {
		t.Fatalf("vars-cm: %v %v", cm, err)
	}
}

// configMapDeployer creates ServiceAccount deployer in ns with every verb a
// sync needs on ConfigMaps there, for syncs that impersonate it.
func configMapDeployer(t *testing.T, ns string) {
	t.Helper()
	if _, err := env.Client().CoreV1().ServiceAccounts(ns).Create(t.Context(),
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "deployer"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := env.ApplyYAML(t.Context(), ns, `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: deployer}
rules:
- {apiGroups: [""], resources: [configmaps], verbs: [get, list, create, update, patch, delete]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: deployer}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: deployer}
subjects: [{kind: ServiceAccount, name: deployer, namespace: `+ns+`}]
`); err != nil {
		t.Fatal(err)
	}
}
