package cli

import (
	"bytes"
	"context"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/gitsync/gitsync/pkg/action"
	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/tests/gitserver"
)

// gitOut runs git in the bare repository dir and returns its trimmed output.
func gitOut(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// managers returns the field managers of the object's managedFields.
func managers(fields []metav1.ManagedFieldsEntry) []string {
	var out []string
	for _, f := range fields {
		out = append(out, f.Manager)
	}
	return out
}

// lastRunOK checks that the root sync's last recorded run succeeded at
// revision commit, and returns its inventory.
func lastRunOK(ctx context.Context, t *testing.T, ns, name, commit string) *inventory.Inventory {
	t.Helper()
	store := &inventory.Store{Client: env.Client(), Namespace: ns, Sync: name}
	inv, err := store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	run := inv.Record.LastRun
	if run.Result != inventory.ResultSucceeded || !strings.Contains(run.Revision, commit) {
		t.Fatalf("last run %+v, want succeeded at %s", run, commit)
	}
	return inv
}

// TestBootstrapHTTP bootstraps into an empty repository over HTTP with basic
// auth and checks, on the real control plane and the real Git server: the
// files in Git; the root sync's first run applied gitsync's own objects
// from Git (the CronJob carries sync-job's field manager); a second
// bootstrap makes no commit; a schedule changed by a commit in Git reaches
// the CronJob on the next run; an application added under the path is
// applied; bootstrap with a new --schedule makes exactly one commit.
func TestBootstrapHTTP(t *testing.T) {
	ctx := t.Context()
	srv, repo := gitserver.StartTestRepo(t, gitserver.Options{Username: "bot", Password: "s3cret"}, "fleet")
	ns := env.NewNamespace(t)
	name := "root"
	args := []string{"bootstrap", "git", "--url", srv.HTTPURL("fleet"), "--insecure", "--path", "clusters/test",
		"--username", "bot", "--password", "s3cret", "--name", name, "-n", ns, "--image", testImage, "--local",
		"--kubeconfig", env.KubeconfigPath()}
	out, errOut, err := runCLISplit(ctx, args...)
	if err != nil {
		t.Fatalf("bootstrap: %v\n%s\n%s", err, out, errOut)
	}
	t.Logf("bootstrap:\n%s%s", out, errOut)
	if strings.Contains(out+errOut, "s3cret") {
		t.Errorf("the password was printed:\n%s\n%s", out, errOut)
	}
	head := gitOut(t, repo.Dir(), "rev-parse", "main")
	files := gitOut(t, repo.Dir(), "ls-tree", "-r", "--name-only", "main")
	if files != "clusters/test/gitsync-system/gitsync.yaml\nclusters/test/gitsync-system/kustomization.yaml" {
		t.Errorf("files in Git:\n%s", files)
	}
	if !strings.Contains(out, "commit "+head+" pushed") {
		t.Errorf("output does not name commit %s:\n%s", head, out)
	}
	inv := lastRunOK(ctx, t, ns, name, head)
	var sawCronJob bool
	for _, e := range inv.Entries {
		if e.Kind == "CronJob" && e.Name == names.CronJob(name) {
			sawCronJob = true
		}
	}
	if !sawCronJob {
		t.Errorf("the root sync's inventory lacks its own CronJob: %+v", inv.Entries)
	}
	cjs := env.Client().BatchV1().CronJobs(ns)
	cj, err := cjs.Get(ctx, names.CronJob(name), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m := managers(cj.ManagedFields); !strings.Contains(strings.Join(m, ","), "gitsync") || len(m) < 2 {
		t.Errorf("CronJob managers %v: want kubectl-gitsync and the run's", m)
	}
	secret, err := env.Client().CoreV1().Secrets(ns).Get(ctx, name+"-auth", metav1.GetOptions{})
	if err != nil || string(secret.Data["username"]) != "bot" {
		t.Fatalf("credentials Secret: %v %v", err, secret)
	}

	// Again, same flags: no commit.
	out, errOut, err = runCLISplit(ctx, args...)
	if err != nil {
		t.Fatalf("second bootstrap: %v\n%s\n%s", err, out, errOut)
	}
	if got := gitOut(t, repo.Dir(), "rev-parse", "main"); got != head {
		t.Errorf("second bootstrap committed %s", got)
	}
	if !strings.Contains(out, "Git unchanged") {
		t.Errorf("second bootstrap output:\n%s", out)
	}

	// Git is the authority: a schedule changed in Git, and an app added
	// under the path, reach the cluster with the next run.
	file := "clusters/test/gitsync-system/gitsync.yaml"
	content := gitOut(t, repo.Dir(), "show", "main:"+file)
	if !strings.Contains(content, "*/5 * * * *") {
		t.Fatalf("%s holds no default schedule:\n%s", file, content)
	}
	edited := strings.ReplaceAll(content, "*/5 * * * *", "*/9 * * * *") + "\n"
	app := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: " + ns + "\ndata:\n  k: v\n"
	commit, err := repo.Commit(ctx, "schedule every 9 minutes; an app", map[string]string{file: edited, "clusters/test/app.yaml": app})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(ctx, "", "run", name, "-n", ns, "--local", "--kubeconfig", env.KubeconfigPath()); err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	lastRunOK(ctx, t, ns, name, commit)
	if cj, err = cjs.Get(ctx, names.CronJob(name), metav1.GetOptions{}); err != nil || cj.Spec.Schedule != "*/9 * * * *" {
		t.Errorf("CronJob schedule after the run: %v %q, want */9 * * * *", err, cj.Spec.Schedule)
	}
	if _, err := env.Client().CoreV1().ConfigMaps(ns).Get(ctx, "app", metav1.GetOptions{}); err != nil {
		t.Errorf("the app added under the path was not applied: %v", err)
	}

	// bootstrap with a new schedule: exactly one commit on top, and the
	// CronJob follows.
	args2 := append(append([]string{}, args...), "--schedule", "*/3 * * * *")
	if out, errOut, err = runCLISplit(ctx, args2...); err != nil {
		t.Fatalf("bootstrap --schedule: %v\n%s\n%s", err, out, errOut)
	}
	newHead := gitOut(t, repo.Dir(), "rev-parse", "main")
	if parent := gitOut(t, repo.Dir(), "rev-parse", "main^"); parent != commit || newHead == commit {
		t.Errorf("bootstrap --schedule: head %s with parent %s, want one commit on %s", newHead, parent, commit)
	}
	lastRunOK(ctx, t, ns, name, newHead)
	if cj, err = cjs.Get(ctx, names.CronJob(name), metav1.GetOptions{}); err != nil || cj.Spec.Schedule != "*/3 * * * *" {
		t.Errorf("CronJob schedule: %v %q, want */3 * * * *", err, cj.Spec.Schedule)
	}
}

// TestBootstrapSSH bootstraps over SSH with a key and known_hosts into a
// repository that already has content, on a branch that exists, with a
// bearer-token-free SSH path; the existing files stay.
func TestBootstrapSSH(t *testing.T) {
	ctx := t.Context()
	srv, repo := gitserver.StartTestRepo(t, gitserver.Options{}, "fleet")
	first, err := repo.Commit(ctx, "existing", map[string]string{"README.md": "fleet\n", "clusters/other/x.yaml": "# other\n"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	key, kh := filepath.Join(dir, "id"), filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(key, srv.ClientKey(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kh, srv.KnownHosts(), 0o600); err != nil {
		t.Fatal(err)
	}
	ns := env.NewNamespace(t)
	args := []string{"bootstrap", "git", "--url", srv.SSHURL("fleet"), "--path", "clusters/ssh",
		"--private-key-file", key, "--known-hosts-file", kh, "--name", "root", "-n", ns, "--image", testImage,
		"--local", "--kubeconfig", env.KubeconfigPath()}
	out, errOut, err := runCLISplit(ctx, args...)
	if err != nil {
		t.Fatalf("bootstrap: %v\n%s\n%s", err, out, errOut)
	}
	if strings.Contains(out+errOut, "PRIVATE KEY") {
		t.Errorf("the key was printed")
	}
	head := gitOut(t, repo.Dir(), "rev-parse", "main")
	if parent := gitOut(t, repo.Dir(), "rev-parse", "main^"); parent != first {
		t.Errorf("parent %s, want the existing commit %s", parent, first)
	}
	if got := gitOut(t, repo.Dir(), "show", "main:README.md"); got != "fleet" {
		t.Errorf("README.md: %q", got)
	}
	lastRunOK(ctx, t, ns, "root", head)

	// uninstall --bootstrap without --yes: the cluster forgets the root
	// sync and its Secret; Git is untouched and the output says what to
	// delete there.
	cj := names.CronJob("root")
	out, err = runCLI(ctx, "", "uninstall", "--bootstrap", "root", "-n", ns, "--kubeconfig", env.KubeconfigPath())
	if err != nil {
		t.Fatalf("uninstall --bootstrap: %v\n%s", err, out)
	}
	if !strings.Contains(out, "delete clusters/ssh/gitsync-system from branch main") {
		t.Errorf("uninstall does not say what to delete in Git:\n%s", out)
	}
	if _, err := env.Client().BatchV1().CronJobs(ns).Get(ctx, cj, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("CronJob after uninstall: %v", err)
	}
	if _, err := env.Client().CoreV1().Secrets(ns).Get(ctx, "root-auth", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("credentials Secret after uninstall: %v", err)
	}
	if got := gitOut(t, repo.Dir(), "rev-parse", "main"); got != head {
		t.Errorf("uninstall without --yes changed Git: %s", got)
	}

	// bootstrap again brings everything back from Git, without a commit.
	out, errOut, err = runCLISplit(ctx, args...)
	if err != nil || !strings.Contains(out, "Git unchanged") {
		t.Fatalf("bootstrap after uninstall: %v\n%s\n%s", err, out, errOut)
	}
	if _, err := env.Client().BatchV1().CronJobs(ns).Get(ctx, cj, metav1.GetOptions{}); err != nil {
		t.Errorf("CronJob after the second bootstrap: %v", err)
	}

	// --yes also deletes the directory from Git, and only it.
	out, err = runCLI(ctx, "", "uninstall", "--bootstrap", "root", "-n", ns, "--yes", "--kubeconfig", env.KubeconfigPath())
	if err != nil {
		t.Fatalf("uninstall --bootstrap --yes: %v\n%s", err, out)
	}
	if parent := gitOut(t, repo.Dir(), "rev-parse", "main^"); parent != head {
		t.Errorf("uninstall --yes: want one commit on %s, parent is %s", head, parent)
	}
	if files := gitOut(t, repo.Dir(), "ls-tree", "-r", "--name-only", "main"); files != "README.md\nclusters/other/x.yaml" {
		t.Errorf("files after uninstall --yes:\n%s", files)
	}
}

// TestBootstrapRefused: a push the server refuses (a pre-receive hook, as a
// read-only credential or branch protection answers) fails with the
// server's reason and leaves the cluster untouched; a path holding Flux's
// bootstrap is refused before any push.
func TestBootstrapRefused(t *testing.T) {
	ctx := t.Context()
	srv := gitserver.StartTest(t, gitserver.Options{BearerToken: "t0ken"})
	t.Setenv("BOOT_TEST_TOKEN", "t0ken")

	ro, err := srv.CreateRepo(ctx, "readonly")
	if err != nil {
		t.Fatal(err)
	}
	hook := filepath.Join(ro.Dir(), "hooks", "pre-receive")
	if err := os.MkdirAll(filepath.Dir(hook), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hook, []byte("#!/bin/sh\necho 'branch main is protected: read-only access' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ns := "boot-refused-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))[:10]
	out, errOut, err := runCLISplit(ctx, "bootstrap", "git", "--url", srv.HTTPURL("readonly"), "--insecure",
		"--bearer-token-env", "BOOT_TEST_TOKEN", "-n", ns, "--local", "--kubeconfig", env.KubeconfigPath())
	t.Logf("refused: %v", err)
	if err == nil || !strings.Contains(err.Error(), "push rejected") || !strings.Contains(err.Error(), "pre-receive hook declined") {
		t.Fatalf("error %v, want a refused push naming the cause\n%s\n%s", err, out, errOut)
	}
	if strings.Contains(err.Error()+out+errOut, "t0ken") {
		t.Errorf("the token was printed: %v", err)
	}
	if _, err := env.Client().CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace %s: %v; want the cluster untouched", ns, err)
	}

	// A generated deploy key that is never added: bootstrap prints the
	// public key, waits, and gives up with nothing written.
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, srv.KnownHosts(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, err = runCLISplit(ctx, "bootstrap", "git", "--url", srv.SSHURL("readonly"), "--generate-ssh-key",
		"--known-hosts-file", kh, "--deploy-key-timeout", "1s", "-n", ns, "--local", "--kubeconfig", env.KubeconfigPath())
	if err == nil || !strings.Contains(err.Error(), "the key was not accepted within 1s") || !strings.Contains(out, "ssh-ed25519 ") {
		t.Fatalf("error %v, want the deploy key wait to time out\n%s\n%s", err, out, errOut)
	}
	if strings.Contains(out+errOut+err.Error(), "PRIVATE KEY") {
		t.Error("the generated private key was printed")
	}
	if _, err := env.Client().CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace %s: %v; want the cluster untouched", ns, err)
	}

	flux, err := srv.CreateRepo(ctx, "flux")
	if err != nil {
		t.Fatal(err)
	}
	head, err := flux.Commit(ctx, "flux", map[string]string{"clusters/prod/flux-system/gotk-sync.yaml": "# flux\n"})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = runCLISplit(ctx, "bootstrap", "git", "--url", srv.HTTPURL("flux"), "--insecure", "--path", "clusters/prod",
		"--bearer-token-env", "BOOT_TEST_TOKEN", "-n", ns, "--local", "--kubeconfig", env.KubeconfigPath())
	if err == nil || !strings.Contains(err.Error(), "clusters/prod/flux-system") || !strings.Contains(err.Error(), "migrate") {
		t.Fatalf("error %v, want the flux-system directory refused with a migration hint", err)
	}
	if got := gitOut(t, flux.Dir(), "rev-parse", "main"); got != head {
		t.Errorf("something was pushed: %s", got)
	}
}

// TestBootstrapHTTPSBearer bootstraps over HTTPS with a private CA and a
// bearer token read from the environment.
func TestBootstrapHTTPSBearer(t *testing.T) {
	ctx := t.Context()
	srv, repo := gitserver.StartTestRepo(t, gitserver.Options{BearerToken: "t0ken"}, "fleet")
	ca := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(ca, srv.CACert(), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BOOT_TEST_TOKEN", "t0ken")
	signer, err := openpgp.NewEntity("gitsync test", "", "boot@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	var priv, pub bytes.Buffer
	w, _ := armor.Encode(&priv, openpgp.PrivateKeyType, nil)
	if err := signer.SerializePrivate(w, nil); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	w, _ = armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err := signer.Serialize(w); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	keyFile := filepath.Join(t.TempDir(), "sign.asc")
	if err := os.WriteFile(keyFile, priv.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	ns := env.NewNamespace(t)
	out, errOut, err := runCLISplit(ctx, "bootstrap", "git", "--url", srv.HTTPSURL("fleet"), "--ca-file", ca,
		"--bearer-token-env", "BOOT_TEST_TOKEN", "--name", "root", "-n", ns, "--image", testImage, "--local",
		"--sign-key", keyFile, "--kubeconfig", env.KubeconfigPath())
	if err != nil {
		t.Fatalf("bootstrap: %v\n%s\n%s", err, out, errOut)
	}
	if strings.Contains(out+errOut, "t0ken") {
		t.Errorf("the token was printed")
	}
	head := gitOut(t, repo.Dir(), "rev-parse", "main")
	if files := gitOut(t, repo.Dir(), "ls-tree", "-r", "--name-only", "main"); files != "gitsync-system/gitsync.yaml\ngitsync-system/kustomization.yaml" {
		t.Errorf("files at the root:\n%s", files)
	}
	lastRunOK(ctx, t, ns, "root", head)
	r, err := git.PlainOpen(repo.Dir())
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.CommitObject(plumbing.NewHash(head))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Verify(pub.String()); err != nil {
		t.Errorf("commit %s not signed by --sign-key: %v", head, err)
	}
}

// TestBootstrapNoRights: a user who may not write what bootstrap applies is
// stopped by the check before anything reaches Git.
func TestBootstrapNoRights(t *testing.T) {
	ctx := t.Context()
	srv, repo := gitserver.StartTestRepo(t, gitserver.Options{}, "fleet")
	ns := env.NewNamespace(t)
	if _, err := env.Client().CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "nobody"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg, err := env.ServiceAccountConfig(ctx, ns, "nobody")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = runCLISplit(ctx, "bootstrap", "git", "--url", srv.HTTPURL("fleet"), "--insecure", "-n", ns,
		"--local", "--kubeconfig", kubeconfigFor(t, cfg, ns))
	if err == nil || !strings.Contains(err.Error(), "the cluster check failed") || !strings.Contains(err.Error(), "cronjobs.batch") {
		t.Fatalf("error %v, want the check's failures", err)
	}
	if out, _ := exec.Command("git", "-C", repo.Dir(), "rev-parse", "--verify", "-q", "main").CombinedOutput(); len(out) > 0 {
		t.Errorf("something was pushed: %s", out)
	}
}

// TestBootstrapNamespaceMode: a tenant with admin rights in its namespace
// only bootstraps a namespace-mode root sync, which manages its own
// ServiceAccount, Roles, spec and CronJob from Git, with no Namespace.
func TestBootstrapNamespaceMode(t *testing.T) {
	ctx := t.Context()
	srv, repo := gitserver.StartTestRepo(t, gitserver.Options{}, "tenant")
	ns := env.NewNamespace(t)
	admin := env.Client()
	if _, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "tenant"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "tenant-admin"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "admin"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "tenant", Namespace: ns}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg, err := env.ServiceAccountConfig(ctx, ns, "tenant")
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runCLISplit(ctx, "bootstrap", "git", "--url", srv.HTTPURL("tenant"), "--insecure", "--rbac", "namespace",
		"--name", "root", "-n", ns, "--image", testImage, "--local", "--kubeconfig", kubeconfigFor(t, cfg, ns))
	if err != nil {
		t.Fatalf("bootstrap: %v\n%s\n%s", err, out, errOut)
	}
	head := gitOut(t, repo.Dir(), "rev-parse", "main")
	content := gitOut(t, repo.Dir(), "show", "main:gitsync-system/gitsync.yaml")
	if strings.Contains(content, "kind: Namespace") || strings.Contains(content, "kind: ClusterRole") {
		t.Errorf("a namespace-mode bootstrap wrote cluster-scoped objects:\n%s", content)
	}
	inv := lastRunOK(ctx, t, ns, "root", head)
	kinds := map[string]bool{}
	for _, e := range inv.Entries {
		kinds[e.Kind] = true
	}
	for _, k := range []string{"ServiceAccount", "Role", "RoleBinding", "ConfigMap", "CronJob"} {
		if !kinds[k] {
			t.Errorf("the root sync did not apply its own %s from Git: %v", k, kinds)
		}
	}
}

// raceProgress pushes a commit of its own to the repository the first time
// bootstrap reports its clone, so that bootstrap's push meets a branch that
// moved after the clone, as when two people bootstrap at once.
type raceProgress struct {
	ctx    context.Context
	repo   *gitserver.Repo
	raced  string
	events []string
	err    error
}

func (p *raceProgress) Event(msg string) {
	p.events = append(p.events, msg)
	if p.raced == "" && strings.HasPrefix(msg, "cloned ") {
		p.raced, p.err = p.repo.Commit(p.ctx, "a concurrent commit", map[string]string{"README.md": "raced\n"})
	}
}

func (p *raceProgress) Status(string) {}

// TestBootstrapPushRace: the branch moves between bootstrap's clone and its
// push; the push is refused as not a fast-forward, and bootstrap clones
// again and pushes its commit on top of the concurrent one, losing neither.
func TestBootstrapPushRace(t *testing.T) {
	ctx := t.Context()
	srv, repo := gitserver.StartTestRepo(t, gitserver.Options{}, "race")
	if _, err := repo.Commit(ctx, "first", map[string]string{"README.md": "first\n"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := action.NewConfig(env.Config())
	if err != nil {
		t.Fatal(err)
	}
	ns := env.NewNamespace(t)
	prog := &raceProgress{ctx: ctx, repo: repo}
	res, err := action.Bootstrap(ctx, cfg, action.BootstrapOptions{
		URL: srv.HTTPURL("race"), Insecure: true, Path: "clusters/race", Name: "root", Namespace: ns,
		Install: install.Options{Image: testImage, RBAC: install.RBACNamespace}, Progress: prog,
	})
	if err != nil {
		t.Fatalf("bootstrap: %v\nevents: %q", err, prog.events)
	}
	if prog.err != nil || prog.raced == "" {
		t.Fatalf("the concurrent commit was not made: %v", prog.err)
	}
	head := gitOut(t, repo.Dir(), "rev-parse", "main")
	if res.Commit != head {
		t.Errorf("bootstrap reports commit %s; the branch is at %s", res.Commit, head)
	}
	if parent := gitOut(t, repo.Dir(), "rev-parse", "main^"); parent != prog.raced {
		t.Errorf("bootstrap's commit %s has parent %s, want the concurrent commit %s", head, parent, prog.raced)
	}
	if got := gitOut(t, repo.Dir(), "show", "main:README.md"); got != "raced" {
		t.Errorf("README.md after bootstrap: %q, want the concurrent commit's", got)
	}
	if !slices.ContainsFunc(prog.events, func(e string) bool { return strings.Contains(e, "not a fast-forward") }) {
		t.Errorf("no event says the push was retried: %q", prog.events)
	}
}

// deployKeyWriter is bootstrap's standard output: when the generated
// public key appears, it adds the key to the server, as a user adds a
// deploy key while bootstrap waits.
type deployKeyWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	srv   *gitserver.Server
	added bool
	err   error
}

func (w *deployKeyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if w.added {
		return len(p), nil
	}
	for line := range strings.Lines(w.buf.String()) {
		if strings.HasPrefix(line, "ssh-ed25519 ") && strings.HasSuffix(line, "\n") {
			key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
			if err != nil {
				w.err = err
				return len(p), nil
			}
			w.srv.AuthorizeKey(key)
			w.added = true
		}
	}
	return len(p), nil
}

// TestBootstrapGeneratedKey: --generate-ssh-key prints an ed25519 public
// key, waits until the server accepts it (added while bootstrap waits), then
// pushes over SSH; the Secret holds the private key and the known_hosts
// given, and the first run reads the repository with them.
func TestBootstrapGeneratedKey(t *testing.T) {
	ctx := t.Context()
	srv, repo := gitserver.StartTestRepo(t, gitserver.Options{}, "keyed")
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, srv.KnownHosts(), 0o600); err != nil {
		t.Fatal(err)
	}
	ns := env.NewNamespace(t)
	out := &deployKeyWriter{srv: srv}
	var errOut bytes.Buffer
	cmd := NewRootCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: out, ErrOut: &errOut})
	cmd.SetArgs([]string{"bootstrap", "git", "--url", srv.SSHURL("keyed"), "--generate-ssh-key", "--known-hosts-file", kh,
		"--deploy-key-timeout", "2m", "--path", "clusters/keyed", "--name", "root", "-n", ns, "--image", testImage,
		"--rbac", "namespace", "--local", "--kubeconfig", env.KubeconfigPath()})
	if err := cmd.ExecuteContext(ctx); err != nil {
		t.Fatalf("bootstrap: %v\n%s\n%s", err, out.buf.String(), errOut.String())
	}
	if !out.added || out.err != nil {
		t.Fatalf("no public key was printed (%v):\n%s", out.err, out.buf.String())
	}
	if strings.Contains(out.buf.String()+errOut.String(), "PRIVATE KEY") {
		t.Error("the generated private key was printed")
	}
	head := gitOut(t, repo.Dir(), "rev-parse", "main")
	lastRunOK(ctx, t, ns, "root", head)
	sec, err := env.Client().CoreV1().Secrets(ns).Get(ctx, "root-auth", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(sec.Data["identity"], []byte("PRIVATE KEY")) || !bytes.Equal(sec.Data["known_hosts"], srv.KnownHosts()) {
		t.Errorf("Secret root-auth holds keys %v; want identity (the generated private key) and the known_hosts given", slices.Sorted(maps.Keys(sec.Data)))
	}
}
