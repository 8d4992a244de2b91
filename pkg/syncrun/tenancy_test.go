package syncrun

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/spec"
	"github.com/gitsync/gitsync/tests/cluster"
	"github.com/gitsync/gitsync/tests/gitserver"
)

// TestTenancy runs syncs on a second control plane whose API server writes
// an audit log, so that who made each request is the server's word:
// impersonation of a tenant's ServiceAccount (serviceAccountName) and a
// sync of the package's cluster applying to this one (kubeConfig).
func TestTenancy(t *testing.T) {
	ctx := context.WithoutCancel(t.Context())
	audited, err := cluster.Start(ctx, cluster.Options{AuditLog: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := audited.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	t.Run("impersonation", func(t *testing.T) { testImpersonation(t, audited) })
	t.Run("flux unit impersonation", func(t *testing.T) { testFluxUnitImpersonation(t, audited) })
	t.Run("remote cluster", func(t *testing.T) { testRemoteCluster(t, audited) })
	t.Run("remote kubeconfig refusals", func(t *testing.T) { testRemoteRefusals(t) })
	t.Run("render as the caller", func(t *testing.T) { testRenderAsCaller(t) })
}

const tenantDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: example.com/web:1}]
`

// installSync writes what `kubectl gitsync install` writes for doc into
// c (spec, the job's ServiceAccount, its generated RBAC, a suspended
// CronJob) and returns a config authenticating as the job's
// ServiceAccount.
func installSync(t *testing.T, c *cluster.Cluster, doc string) *rest.Config {
	t.Helper()
	s, err := spec.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("test spec: %v\n%s", err, doc)
	}
	objs, err := install.Generate(s, install.Options{Image: "example.com/gitsync/sync-job:v0.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	y, err := install.Marshal(objs.List(), install.FormatYAML)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ApplyYAML(t.Context(), s.Namespace, string(y)); err != nil {
		t.Fatal(err)
	}
	cfg, err := c.ServiceAccountConfig(t.Context(), s.Namespace, names.ServiceAccount(s.Name))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// appRepo starts a Git server with one repository, app, holding files on
// its main branch, and returns both.
func appRepo(t *testing.T, files map[string]string) (*gitserver.Server, *gitserver.Repo) {
	t.Helper()
	git, repo := gitserver.StartTestRepo(t, gitserver.Options{}, "app")
	if _, err := repo.Commit(t.Context(), "app", files); err != nil {
		t.Fatal(err)
	}
	return git, repo
}

func syncDoc(ns, url, extra string) string {
	return fmt.Sprintf(`apiVersion: gitsync.io/v1alpha1
kind: Sync
metadata: {name: app, namespace: %s}
spec:
  suspend: true
  source: {git: {url: %s, insecure: true, ref: {branch: main}}}
  path: ./deploy
%s`, ns, url, extra)
}

func runAs(t *testing.T, ns string, cfg *rest.Config) *Result {
	t.Helper()
	res, err := Run(t.Context(), Options{Name: "app", Namespace: ns, Config: cfg,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

// grantTenant writes Role and RoleBinding "tenant" for ServiceAccount
// tenant: every verb the sync needs on ConfigMaps, and verbs on
// Deployments.
func grantTenant(t *testing.T, c *cluster.Cluster, ns string, deploymentVerbs ...string) {
	t.Helper()
	all := []string{"get", "list", "create", "update", "patch", "delete"}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "tenant", Namespace: ns}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: all},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: deploymentVerbs},
	}}
	roles := c.Client().RbacV1().Roles(ns)
	if _, err := roles.Create(t.Context(), role, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
		if _, err := roles.Update(t.Context(), role, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	} else if err != nil {
		t.Fatal(err)
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "tenant", Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "tenant"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "tenant", Namespace: ns}},
	}
	if _, err := c.Client().RbacV1().RoleBindings(ns).Create(t.Context(), rb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func exists(t *testing.T, c *cluster.Cluster, ns, kind, name string) bool {
	t.Helper()
	var err error
	switch kind {
	case "ConfigMap":
		_, err = c.Client().CoreV1().ConfigMaps(ns).Get(t.Context(), name, metav1.GetOptions{})
	case "Deployment":
		_, err = c.Client().AppsV1().Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
	}
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

func testImpersonation(t *testing.T, c *cluster.Cluster) {
	ctx := t.Context()
	ns := c.NewNamespace(t)
	git, repo := appRepo(t, map[string]string{
		"deploy/config.yaml": cm("app-config", "v1"), "deploy/web.yaml": tenantDeployment,
	})
	jobCfg := installSync(t, c, syncDoc(ns, git.HTTPURL("app"), "  serviceAccountName: tenant\n"))
	if _, err := c.Client().CoreV1().ServiceAccounts(ns).Create(ctx,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "tenant"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tenant := "system:serviceaccount:" + ns + ":tenant"
	job := "system:serviceaccount:" + ns + ":" + names.ServiceAccount("app")

	// Without create on deployments: a Forbidden naming the tenant, the
	// verb and the resource, and nothing applied.
	grantTenant(t, c, ns, "get", "list", "patch", "update", "delete")
	res := runAs(t, ns, jobCfg)
	if res.Outcome != Failed {
		t.Fatalf("run without create deployments: %s (%s), want Failed", res.Outcome, res.Message)
	}
	for _, want := range []string{`"` + tenant + `"`, "cannot create", `"deployments.apps"`, "Deployment.apps/" + ns + "/web"} {
		if !strings.Contains(res.Err.Error(), want) {
			t.Errorf("error %q does not contain %q", res.Err, want)
		}
	}
	if exists(t, c, ns, "ConfigMap", "app-config") || exists(t, c, ns, "Deployment", "web") {
		t.Errorf("a run that lacked a right applied objects")
	}

	// With the right: applied.
	grantTenant(t, c, ns, "get", "list", "create", "patch", "update", "delete")
	res = runAs(t, ns, jobCfg)
	if res.Outcome != Succeeded {
		t.Fatalf("run: %s: %v", res.Outcome, res.Err)
	}
	if !exists(t, c, ns, "ConfigMap", "app-config") || !exists(t, c, ns, "Deployment", "web") {
		t.Fatalf("objects not applied")
	}
	if res.ServiceAccount != tenant {
		t.Errorf("Result.ServiceAccount = %q, want %q", res.ServiceAccount, tenant)
	}
	// Drift is found and corrected as the tenant too.
	if err := c.Client().CoreV1().ConfigMaps(ns).Delete(ctx, "app-config", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if res = runAs(t, ns, jobCfg); res.Outcome != Succeeded || len(res.Drifted) != 1 {
		t.Fatalf("drift run: %s, drifted %v: %v", res.Outcome, res.Drifted, res.Err)
	}
	// Prune deletes as the tenant.
	if _, err := repo.Remove(ctx, "drop config", "deploy/config.yaml"); err != nil {
		t.Fatal(err)
	}
	if res = runAs(t, ns, jobCfg); res.Outcome != Succeeded {
		t.Fatalf("prune run: %s: %v", res.Outcome, res.Err)
	}
	if exists(t, c, ns, "ConfigMap", "app-config") {
		t.Fatalf("app-config not pruned")
	}

	// The API server's audit log: every request for the sync's objects was
	// made by the job as the tenant; the state was written by the job as
	// itself.
	events, err := c.AuditEvents()
	if err != nil {
		t.Fatal(err)
	}
	objects := map[string]bool{"configmaps/app-config": true, "deployments/web": true}
	mutating := []string{"create", "update", "patch", "delete", "deletecollection"}
	seen := map[string]bool{}
	var stateWrites int
	for _, e := range events {
		if e.ObjectRef == nil || e.ObjectRef.Namespace != ns || !slices.Contains(mutating, e.Verb) {
			continue
		}
		as := ""
		if e.ImpersonatedUser != nil {
			as = e.ImpersonatedUser.Username
		}
		key := e.ObjectRef.Resource + "/" + e.ObjectRef.Name
		switch {
		case objects[key]:
			if e.User.Username == job || as != "" {
				seen[e.Verb+" "+key] = true
				if as != tenant || e.User.Username != job {
					t.Errorf("%s %s made by %q as %q, want by %q as %q", e.Verb, key, e.User.Username, as, job, tenant)
				}
			}
		case e.User.Username == job && strings.HasPrefix(e.ObjectRef.Name, names.Spec("app")):
			// State ConfigMaps, Lease: the job's own identity.
			stateWrites++
			if as != "" {
				t.Errorf("%s %s (the sync's state) made as %q, want the job's own identity", e.Verb, key, as)
			}
		}
	}
	for _, want := range []string{"patch configmaps/app-config", "patch deployments/web", "delete configmaps/app-config"} {
		if !seen[want] {
			t.Errorf("the audit log has no %q by the job; saw %v", want, seen)
		}
	}
	if stateWrites == 0 {
		t.Errorf("the audit log has no write of the sync's state by the job")
	}
}

// kubeconfigFor returns a kubeconfig, credentials inline, for cfg.
func kubeconfigFor(t *testing.T, cfg *rest.Config) []byte {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["remote"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["deployer"] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken}
	kc.Contexts["remote"] = &clientcmdapi.Context{Cluster: "remote", AuthInfo: "deployer"}
	kc.CurrentContext = "remote"
	data, err := clientcmd.Write(*kc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func putSecret(t *testing.T, c *cluster.Cluster, ns, name string, data map[string][]byte) {
	t.Helper()
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Data: data}
	secrets := c.Client().CoreV1().Secrets(ns)
	if _, err := secrets.Create(t.Context(), sec, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
		if _, err := secrets.Update(t.Context(), sec, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	} else if err != nil {
		t.Fatal(err)
	}
}

// A sync in the package's cluster (A) applies to and prunes in the
// audited cluster (B) with a kubeconfig from a Secret; its spec, Secrets
// and state stay in A.
func testRemoteCluster(t *testing.T, b *cluster.Cluster) {
	ctx := t.Context()
	nsA, nsB := env.NewNamespace(t), b.NewNamespace(t)
	git, repo := appRepo(t, map[string]string{
		"deploy/a.yaml": cm("remote-a", "1"), "deploy/b.yaml": cm("remote-b", "1"),
	})
	// The remote identity: ServiceAccount deployer of B with ConfigMap
	// rights in nsB only.
	if _, err := b.Client().CoreV1().ServiceAccounts(nsB).Create(ctx,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "deployer"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "deployer", Namespace: nsB},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "deployer", Namespace: nsB}},
	}
	if _, err := b.Client().RbacV1().RoleBindings(nsB).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deployer, err := b.ServiceAccountConfig(ctx, nsB, "deployer")
	if err != nil {
		t.Fatal(err)
	}
	putSecret(t, env, nsA, "cluster-b", map[string][]byte{"value": kubeconfigFor(t, deployer)})
	jobCfg := installSync(t, env, syncDoc(nsA, git.HTTPURL("app"),
		"  targetNamespace: "+nsB+"\n  kubeConfig: {secretRef: {name: cluster-b}}\n"))

	res := runAs(t, nsA, jobCfg)
	if res.Outcome != Succeeded {
		t.Fatalf("run: %s: %v", res.Outcome, res.Err)
	}
	for _, n := range []string{"remote-a", "remote-b"} {
		if !exists(t, b, nsB, "ConfigMap", n) {
			t.Errorf("ConfigMap %s/%s not applied in cluster B", nsB, n)
		}
	}
	inv, err := (&inventory.Store{Client: env.Client(), Namespace: nsA, Sync: "app"}).Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Entries) != 2 || inv.Record.LastAppliedRevision == "" {
		t.Errorf("state in cluster A: %d entries, revision %q; want 2 and a revision", len(inv.Entries), inv.Record.LastAppliedRevision)
	}
	if got, want := inv.Record.LastRun.Target, b.Config().Host; got != want || res.Target != want {
		t.Errorf("recorded target %q (result %q), want %q", got, res.Target, want)
	}
	// Nothing of the sync's state went to B.
	cms, err := b.Client().CoreV1().ConfigMaps(nsB).List(ctx, metav1.ListOptions{LabelSelector: inventory.LabelKind})
	if err != nil {
		t.Fatal(err)
	}
	if len(cms.Items) > 0 {
		t.Errorf("state ConfigMaps in cluster B: %d", len(cms.Items))
	}

	if _, err := repo.Remove(ctx, "drop b", "deploy/b.yaml"); err != nil {
		t.Fatal(err)
	}
	if res = runAs(t, nsA, jobCfg); res.Outcome != Succeeded {
		t.Fatalf("prune run: %s: %v", res.Outcome, res.Err)
	}
	if exists(t, b, nsB, "ConfigMap", "remote-b") || !exists(t, b, nsB, "ConfigMap", "remote-a") {
		t.Errorf("prune in cluster B: want remote-b deleted and remote-a kept")
	}
}

// A kubeconfig that would start a process or read a file of the job's Pod
// is refused, naming the field, and nothing is applied.
func testRemoteRefusals(t *testing.T) {
	ns := env.NewNamespace(t)
	git, _ := appRepo(t, map[string]string{"deploy/a.yaml": cm("refused", "1")})
	const kubeconfig = `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
users: [{name: u, user: %s}]
`
	jobCfg := installSync(t, env, syncDoc(ns, git.HTTPURL("app"), "  kubeConfig: {secretRef: {name: kc, key: config}}\n"))
	for _, tc := range []struct{ user, want string }{
		{`{exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/sh, args: [-c, "touch /tmp/pwned"]}}`,
			`users["u"].user.exec: exec credential plugins are refused`},
		{`{auth-provider: {name: oidc}}`, `users["u"].user.auth-provider: auth provider plugins are refused`},
		{`{tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token}`, `users["u"].user.tokenFile: files are refused`},
	} {
		putSecret(t, env, ns, "kc", map[string][]byte{"config": fmt.Appendf(nil, kubeconfig, tc.user)})
		res := runAs(t, ns, jobCfg)
		if res.Outcome != Failed || !strings.Contains(res.Err.Error(), tc.want) ||
			!strings.Contains(res.Err.Error(), "spec.kubeConfig.secretRef: Secret/"+ns+"/kc key config") {
			t.Errorf("run: %s: %v; want Failed naming the Secret and %q", res.Outcome, res.Err, tc.want)
		}
	}
	if exists(t, env, ns, "ConfigMap", "refused") {
		t.Errorf("a refused kubeconfig applied objects")
	}
}

// A Flux Kustomization's own serviceAccountName is impersonated for its
// objects, in its namespace; the job needs impersonate on it too (install
// does not read Git, so the administrator grants it).
func testFluxUnitImpersonation(t *testing.T, c *cluster.Cluster) {
	ctx := t.Context()
	ns := c.NewNamespace(t)
	git, _ := appRepo(t, expandNS(map[string]string{
		"clusters/test/flux-system/gotk-sync.yaml": ownRepository,
		"clusters/test/units.yaml":                 kustomization("team", "./team", "  serviceAccountName: unit-sa\n"),
		"team/cm.yaml":                             cm("unit-cm", "1"),
	}, ns))
	doc := fmt.Sprintf("apiVersion: gitsync.io/v1alpha1\nkind: Sync\nmetadata: {name: app, namespace: %s}\n"+
		"spec:\n  suspend: true\n  serviceAccountName: tenant\n  source: {git: {url: %s, insecure: true, ref: {branch: main}}}\n  path: ./clusters/test\n",
		ns, git.HTTPURL("app"))
	jobCfg := installSync(t, c, doc)
	for _, sa := range []string{"tenant", "unit-sa"} {
		if _, err := c.Client().CoreV1().ServiceAccounts(ns).Create(ctx,
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	job := "system:serviceaccount:" + ns + ":" + names.ServiceAccount("app")
	unitUser := "system:serviceaccount:" + ns + ":unit-sa"
	yaml := fmt.Sprintf(`apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: unit-sa}
rules:
- {apiGroups: [""], resources: [configmaps], verbs: [get, list, create, update, patch, delete]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: unit-sa}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: unit-sa}
subjects: [{kind: ServiceAccount, name: unit-sa, namespace: %[1]s}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: impersonate-units}
rules:
- {apiGroups: [""], resources: [serviceaccounts], resourceNames: [unit-sa], verbs: [impersonate]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: impersonate-units}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: impersonate-units}
subjects: [{kind: ServiceAccount, name: %[2]s, namespace: %[1]s}]
`, ns, names.ServiceAccount("app"))
	if err := c.ApplyYAML(ctx, ns, yaml); err != nil {
		t.Fatal(err)
	}
	res := runAs(t, ns, jobCfg)
	if res.Outcome != Succeeded {
		t.Fatalf("run: %s: %v", res.Outcome, res.Err)
	}
	if len(res.Units) != 1 || res.Units[0].ServiceAccount != unitUser {
		t.Errorf("units %+v, want one, as %s", res.Units, unitUser)
	}
	if !exists(t, c, ns, "ConfigMap", "unit-cm") {
		t.Fatal("unit-cm not applied")
	}
	events, err := c.AuditEvents()
	if err != nil {
		t.Fatal(err)
	}
	var writes int
	for _, e := range events {
		if e.ObjectRef == nil || e.ObjectRef.Namespace != ns || e.ObjectRef.Name != "unit-cm" || e.User.Username != job {
			continue
		}
		writes++
		if e.ImpersonatedUser == nil || e.ImpersonatedUser.Username != unitUser {
			t.Errorf("%s configmaps/unit-cm by the job not as %s: %+v", e.Verb, unitUser, e.ImpersonatedUser)
		}
	}
	if writes == 0 {
		t.Error("the audit log has no request by the job for unit-cm")
	}
}

// Render (build, diff) writes nothing and works as the plugin's user, in
// the sync's own cluster: it neither impersonates nor reads the
// kubeconfig Secret, which here does not exist.
func testRenderAsCaller(t *testing.T) {
	ctx := t.Context()
	ns := env.NewNamespace(t)
	git, _ := appRepo(t, map[string]string{"deploy/a.yaml": cm("rendered", "1")})
	installSync(t, env, syncDoc(ns, git.HTTPURL("app"),
		"  serviceAccountName: nobody\n  kubeConfig: {secretRef: {name: missing}}\n"))
	out, err := Render(ctx, RenderOptions{Name: "app", Namespace: ns, Config: env.Config()})
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if len(out.Objects) != 1 || len(out.Targets) != 1 {
		t.Errorf("Render: %d objects, %d targets; want 1 and 1", len(out.Objects), len(out.Targets))
	}
}
