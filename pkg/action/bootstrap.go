package action

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/memfs"
	"github.com/go-git/go-billy/v5/util"
	"github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/gitsync/gitsync/pkg/install"
	gsobject "github.com/gitsync/gitsync/pkg/object"
	"github.com/gitsync/gitsync/pkg/redact"
	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/spec"
	"github.com/gitsync/gitsync/pkg/version"
)

// Defaults of a bootstrap.
const (
	// BootstrapName is the default name of the root sync, and of its
	// namespace.
	BootstrapName = "gitsync-system"
	// BootstrapDir is the directory under the bootstrap path that holds
	// gitsync's own manifests.
	BootstrapDir = "gitsync-system"
	// BootstrapBranch is the default branch.
	BootstrapBranch = "main"
	// BootstrapAuthor is the default commit author name and e-mail.
	BootstrapAuthor      = "gitsync"
	BootstrapAuthorEmail = "gitsync@localhost"
)

// BootstrapOptions say what Bootstrap writes into Git and the cluster.
type BootstrapOptions struct {
	// URL is the Git repository. Required.
	URL string
	// Branch is the branch written and synced. Default BootstrapBranch.
	Branch string
	// Path is the directory of the repository the root sync applies, e.g.
	// clusters/prod. Default "" (the repository's root).
	Path string
	// Name and Namespace name the root sync. Default BootstrapName for
	// both.
	Name, Namespace string
	// Insecure allows a plain http:// URL.
	Insecure bool

	// Secret is the credentials Secret written to the cluster (nil: the
	// repository is read anonymously, or SecretName names an existing
	// Secret). Its data are also the push credentials.
	Secret *corev1.Secret
	// SecretName names an existing Secret in Namespace holding the
	// credentials, read for the push. Ignored when Secret is set.
	SecretName string

	// Schedule is the root sync's schedule. Default the spec's.
	Schedule string
	// Install are the image and RBAC mode of the root sync. Default: the
	// default image, RBACCluster. With RBACNamespace (a tenant's
	// bootstrap) the root sync applies only namespaced objects in its
	// namespace, which must exist: no Namespace is written or applied.
	Install install.Options

	// AuthorName and AuthorEmail sign the commit. Default BootstrapAuthor
	// and BootstrapAuthorEmail.
	AuthorName, AuthorEmail string
	// SignKey, when set, OpenPGP-signs the commit (see ReadSignKey).
	// Default: unsigned.
	SignKey *openpgp.Entity
	// Timeout bounds each Git operation. Default source.DefaultTimeout.
	Timeout time.Duration
	// Now is the commit time. Default time.Now.
	Now func() time.Time
	// Progress is told each step. Default none.
	Progress Progress
}

// BootstrapResult is what Bootstrap did. After an error it holds what was
// done before it.
type BootstrapResult struct {
	// Ref names the root sync.
	Ref Ref
	// Files are the files written, relative to the repository's root.
	Files []string
	// Commit is the commit pushed; "" when Git already held the same files.
	Commit string
	// Head is the branch's commit after the push (or as found).
	Head string
	// Applied are the objects applied in the cluster, in order.
	Applied []gsobject.ID
	// CronJob is the root sync's CronJob as applied.
	CronJob *batchv1.CronJob
}

// ErrForeignBootstrap matches (errors.Is) the error of Bootstrap for a path
// that holds another tool's bootstrap (a flux-system directory).
var ErrForeignBootstrap = errors.New("the path holds another tool's bootstrap")

// ErrPushRejected matches (errors.Is) the error of Bootstrap when the
// server refused the push; nothing was written to the cluster.
var ErrPushRejected = errors.New("push rejected")

// BootstrapManifests returns the root sync and the files bootstrap writes
// under opts.Path: BootstrapDir/gitsync.yaml (the Namespace in cluster
// mode, then what
// install --export prints for the root sync) and BootstrapDir/
// kustomization.yaml. The root sync applies opts.Path with manageGitsync,
// so that from its first run it manages itself from these files. Pure: the
// same options give the same bytes, so that a second bootstrap commits
// nothing.
func BootstrapManifests(opts BootstrapOptions) (*install.Objects, map[string][]byte, error) {
	opts = opts.withDefaults()
	s := spec.New(opts.Name, opts.Namespace)
	git := &spec.GitSource{URL: opts.URL, Insecure: opts.Insecure, Ref: spec.GitRef{Branch: opts.Branch}}
	secretName := opts.SecretName
	if opts.Secret != nil {
		secretName = opts.Secret.Name
	}
	if secretName != "" {
		git.SecretRef = &spec.LocalObjectReference{Name: secretName}
	}
	p := opts.Path
	if p == "" {
		p = "./"
	}
	s.Spec = spec.SyncSpec{
		Source:        spec.Source{Git: git},
		Path:          p,
		Schedule:      opts.Schedule,
		Prune:         ptr.To(true),
		ManageGitsync: true,
	}
	objs, err := install.Generate(s, opts.Install)
	if err != nil {
		return nil, nil, err
	}
	list := objs.List()
	if opts.Install.RBAC == install.RBACCluster {
		// A namespace-mode root sync may not apply a Namespace: it
		// lives in one that exists already.
		list = append([]runtime.Object{namespaceObject(opts.Namespace)}, list...)
	}
	body, err := install.Marshal(list, install.FormatYAML)
	if err != nil {
		return nil, nil, err
	}
	header := fmt.Sprintf("# Written by kubectl gitsync bootstrap %s: the root sync %s/%s, which applies %s,\n"+
		"# this directory included. Run bootstrap again to change it, or edit it here.\n", version.Version, opts.Namespace, opts.Name, p)
	kust := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - gitsync.yaml\n"
	dir := path.Join(opts.Path, BootstrapDir)
	return objs, map[string][]byte{
		path.Join(dir, "gitsync.yaml"):       append([]byte(header), body...),
		path.Join(dir, "kustomization.yaml"): []byte(kust),
	}, nil
}

func namespaceObject(name string) *corev1.Namespace {
	return &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: name}}
}

func (opts BootstrapOptions) withDefaults() BootstrapOptions {
	if opts.Branch == "" {
		opts.Branch = BootstrapBranch
	}
	if opts.Name == "" {
		opts.Name = BootstrapName
	}
	if opts.Namespace == "" {
		opts.Namespace = BootstrapName
	}
	opts.Path = strings.Trim(path.Clean("/"+strings.TrimPrefix(opts.Path, "./")), "/")
	if opts.Install.RBAC == "" {
		opts.Install.RBAC = install.RBACCluster
	}
	if opts.AuthorName == "" {
		opts.AuthorName = BootstrapAuthor
	}
	if opts.AuthorEmail == "" {
		opts.AuthorEmail = BootstrapAuthorEmail
	}
	if opts.Timeout == 0 {
		opts.Timeout = source.DefaultTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return opts
}

// Bootstrap makes gitsync manage itself from Git. In order:
//  0. it checks the cluster and the user's rights as Check does;
//  1. it generates the root sync's manifests (BootstrapManifests), which
//     checks every option before anything is written;
//  2. it clones the branch (creating it in an empty repository), refuses a
//     path holding a flux-system directory, writes the files, and commits
//     and pushes only if they changed; a push refused as not fast-forward
//     is retried once on a fresh clone; a refused push is an error matching
//     ErrPushRejected, and the cluster is not touched;
//  3. it server-side applies the Namespace, the credentials Secret and the
//     root sync's objects (as Install does).
//
// The caller then runs the root sync once: its run applies Path, including
// the manifests just pushed, so that from then on Git is the authority on
// the root sync too.
func Bootstrap(ctx context.Context, cfg *Config, opts BootstrapOptions) (*BootstrapResult, error) {
	opts = opts.withDefaults()
	prog := progressOr(opts.Progress)
	res := &BootstrapResult{Ref: Ref{Name: opts.Name, Namespace: opts.Namespace}}
	objs, files, err := BootstrapManifests(opts)
	if err != nil {
		return res, err
	}
	res.Files = slices.Sorted(maps.Keys(files))

	if err := bootstrapCheck(ctx, cfg, opts); err != nil {
		return res, err
	}
	creds, err := bootstrapCredentials(ctx, cfg, opts)
	if err != nil {
		return res, err
	}
	remote, err := source.ParseRemote(opts.URL, opts.Insecure)
	if err != nil {
		return res, fmt.Errorf("url: %w", err)
	}
	auth, ca, err := source.GitAuth(remote, creds, opts.Timeout)
	if err != nil {
		return res, fmt.Errorf("%s: credentials: %w", redact.URL(opts.URL), err)
	}
	g := &bootstrapGit{opts: opts, url: remote.URL, auth: auth, ca: ca, files: files, prog: prog}
	commit, head, err := g.writeAndPush(ctx)
	if err != nil && errors.Is(err, git.ErrNonFastForwardUpdate) {
		prog.Event("push was not a fast-forward: fetching again and retrying once")
		commit, head, err = g.writeAndPush(ctx)
	}
	if err != nil {
		return res, err
	}
	res.Commit, res.Head = commit, head

	if opts.Install.RBAC == install.RBACCluster {
		nsID := gsobject.ID{Kind: "Namespace", Name: opts.Namespace}
		data, err := json.Marshal(namespaceObject(opts.Namespace))
		if err != nil {
			return res, err
		}
		if _, err := cfg.Client.CoreV1().Namespaces().Patch(ctx, opts.Namespace, types.ApplyPatchType, data,
			metav1.PatchOptions{FieldManager: install.FieldManager, Force: ptr.To(true)}); err != nil {
			return res, fmt.Errorf("%s: apply: %w", nsID, err)
		}
		res.Applied = append(res.Applied, nsID)
	}
	if opts.Secret != nil {
		id, err := ApplySecret(ctx, cfg, opts.Secret)
		if err != nil {
			return res, err
		}
		res.Applied = append(res.Applied, id)
	}
	ires, err := Install(ctx, cfg, InstallOptions{Objects: objs})
	res.Applied = append(res.Applied, ires.Applied...)
	res.CronJob = ires.CronJob
	return res, err
}

// bootstrapCheck checks, as check does, that the cluster is reachable and
// serves what gitsync uses, and that the user may write what bootstrap
// applies, before anything is written to Git.
func bootstrapCheck(ctx context.Context, cfg *Config, opts BootstrapOptions) error {
	res, err := Check(ctx, cfg, CheckOptions{Namespace: opts.Namespace, RBAC: opts.Install.RBAC})
	if err != nil {
		return err
	}
	var failed []string
	for _, sec := range res.Sections {
		for _, it := range sec.Items {
			if it.Required && !it.OK {
				failed = append(failed, fmt.Sprintf("%s: %s (%s)", sec.Title, it.Name, it.Detail))
			}
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%w: nothing was written to Git or the cluster:\n  %s", ErrNoRights, strings.Join(failed, "\n  "))
	}
	if opts.Install.RBAC == install.RBACNamespace {
		_, err := cfg.Client.CoreV1().Namespaces().Get(ctx, opts.Namespace, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("namespace %s: not found: a namespace-mode bootstrap lives in a namespace that exists (an admin creates it)", opts.Namespace)
		}
	}
	return nil
}

// ErrNoRights matches (errors.Is) the error of Bootstrap when the check
// before it finds the user may not write what bootstrap applies.
var ErrNoRights = errors.New("the cluster check failed")

// bootstrapCredentials returns the push credentials: those of opts.Secret,
// or of the existing Secret opts.SecretName, or none.
func bootstrapCredentials(ctx context.Context, cfg *Config, opts BootstrapOptions) (source.Credentials, error) {
	switch {
	case opts.Secret != nil:
		return source.CredentialsFromSecret(opts.Secret.Data), nil
	case opts.SecretName != "":
		s, err := cfg.Client.CoreV1().Secrets(opts.Namespace).Get(ctx, opts.SecretName, metav1.GetOptions{})
		if err != nil {
			return source.Credentials{}, fmt.Errorf("Secret/%s/%s: get: %w", opts.Namespace, opts.SecretName, err) //nolint:staticcheck // the message starts with the object's Kind
		}
		return source.CredentialsFromSecret(s.Data), nil
	}
	return source.Credentials{}, nil
}

// bootstrapGit writes the bootstrap files into a branch.
type bootstrapGit struct {
	opts  BootstrapOptions
	url   string
	auth  transport.AuthMethod
	ca    []byte
	files map[string][]byte
	// remove is a directory to delete instead of writing files.
	remove string
	prog   Progress
}

// writeAndPush clones the branch into memory, writes the files, and commits
// and pushes them if anything changed. It returns the new commit ("" when
// nothing changed) and the branch's head.
func (g *bootstrapGit) writeAndPush(ctx context.Context) (string, string, error) {
	ctx, cancel := context.WithTimeout(ctx, g.opts.Timeout)
	defer cancel()
	where := fmt.Sprintf("%s branch %s", redact.URL(g.opts.URL), g.opts.Branch)
	branch := plumbing.NewBranchReferenceName(g.opts.Branch)
	fs := memfs.New()
	repo, err := git.CloneContext(ctx, memory.NewStorage(), fs, &git.CloneOptions{
		URL: g.url, Auth: g.auth, CABundle: g.ca, ReferenceName: branch, SingleBranch: true, Tags: git.NoTags,
	})
	switch {
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		g.prog.Event(fmt.Sprintf("%s: the repository is empty; creating branch %s", redact.URL(g.opts.URL), g.opts.Branch))
		if repo, err = g.initRepo(fs, branch); err != nil {
			return "", "", fmt.Errorf("%s: %w", where, err)
		}
	case err != nil && isRefNotFound(err):
		return "", "", fmt.Errorf("%s: the branch does not exist (bootstrap creates a branch only in an empty repository; create it first)", where)
	case err != nil:
		return "", "", fmt.Errorf("%s: clone: %w", where, redact.Error(classifyGitError(err)))
	default:
		g.prog.Event("cloned " + where)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return "", "", err
	}
	if g.remove != "" {
		if err := removeTree(fs, wt, g.remove); err != nil {
			return "", "", fmt.Errorf("%s: %w", g.remove, err)
		}
	} else {
		if err := checkForeign(fs, g.opts.Path); err != nil {
			return "", "", err
		}
		for _, name := range slices.Sorted(maps.Keys(g.files)) {
			if err := writeFile(fs, name, g.files[name]); err != nil {
				return "", "", fmt.Errorf("%s: %w", name, err)
			}
			if _, err := wt.Add(name); err != nil {
				return "", "", fmt.Errorf("%s: git add: %w", name, err)
			}
		}
	}
	status, err := wt.Status()
	if err != nil {
		return "", "", fmt.Errorf("%s: git status: %w", where, err)
	}
	head, _ := repo.Head()
	if status.IsClean() && head != nil {
		g.prog.Event(fmt.Sprintf("%s: already up to date at %s; nothing to commit", where, shortHash(head.Hash())))
		return "", head.Hash().String(), nil
	}
	sig := &object.Signature{Name: g.opts.AuthorName, Email: g.opts.AuthorEmail, When: g.opts.Now()}
	msg := fmt.Sprintf("gitsync bootstrap %s: root sync %s/%s for %s", version.Version, g.opts.Namespace, g.opts.Name, pathOrRoot(g.opts.Path))
	if g.remove != "" {
		msg = fmt.Sprintf("gitsync uninstall --bootstrap: remove root sync %s/%s (%s)", g.opts.Namespace, g.opts.Name, g.remove)
	}
	hash, err := wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig, SignKey: g.opts.SignKey})
	if err != nil {
		return "", "", fmt.Errorf("%s: commit: %w", where, err)
	}
	err = repo.PushContext(ctx, &git.PushOptions{
		RemoteName: git.DefaultRemoteName, Auth: g.auth, CABundle: g.ca,
		RefSpecs: []gitconfig.RefSpec{gitconfig.RefSpec(branch.String() + ":" + branch.String())},
	})
	switch {
	case errors.Is(err, git.ErrNonFastForwardUpdate) || (err != nil && strings.Contains(err.Error(), "non-fast-forward")):
		return "", "", fmt.Errorf("%s: %w", where, git.ErrNonFastForwardUpdate)
	case err != nil:
		return "", "", fmt.Errorf("%s: %w: %w; nothing was changed in the cluster", where, ErrPushRejected, redact.Error(classifyGitError(err)))
	}
	g.prog.Event(fmt.Sprintf("committed and pushed %s to %s", shortHash(hash), where))
	return hash.String(), hash.String(), nil
}

// initRepo starts the branch in an empty repository.
func (g *bootstrapGit) initRepo(fs billy.Filesystem, branch plumbing.ReferenceName) (*git.Repository, error) {
	repo, err := git.Init(memory.NewStorage(), fs)
	if err != nil {
		return nil, err
	}
	if _, err := repo.CreateRemote(&gitconfig.RemoteConfig{Name: git.DefaultRemoteName, URLs: []string{g.url}}); err != nil {
		return nil, err
	}
	if err := repo.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, branch)); err != nil {
		return nil, err
	}
	return repo, nil
}

// classifyGitError adds what the user can do to the errors a push or clone
// commonly meets.
func classifyGitError(err error) error {
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired):
		return fmt.Errorf("%w (give credentials: --secret, --private-key-file, --token-env, --username/--password)", err)
	case errors.Is(err, transport.ErrAuthorizationFailed):
		return fmt.Errorf("%w (the credentials are not allowed to write to the repository: a read-only deploy key or token?)", err)
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return fmt.Errorf("%w (or the credentials may not see it)", err)
	}
	return err
}

func isRefNotFound(err error) bool {
	return errors.Is(err, plumbing.ErrReferenceNotFound) || strings.Contains(err.Error(), "couldn't find remote ref")
}

// checkForeign refuses a path that holds another tool's bootstrap.
func checkForeign(fs billy.Filesystem, dir string) error {
	p := path.Join(dir, "flux-system")
	if _, err := fs.Stat(p); err == nil {
		return fmt.Errorf("%s: %w: Flux's bootstrap lives here. gitsync runs Flux's objects without Flux (docs/flux.md): "+
			"to migrate, uninstall Flux's controllers (flux uninstall --keep-namespace), delete %s from Git, "+
			"and bootstrap gitsync at the same path; or bootstrap gitsync at another path", p, ErrForeignBootstrap, p)
	}
	return nil
}

func writeFile(fs billy.Filesystem, name string, data []byte) error {
	if err := fs.MkdirAll(path.Dir(name), 0o755); err != nil {
		return err
	}
	if old, err := readFile(fs, name); err == nil && bytes.Equal(old, data) {
		return nil
	}
	f, err := fs.OpenFile(name, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func readFile(fs billy.Filesystem, name string) ([]byte, error) {
	f, err := fs.Open(name)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	return io.ReadAll(f)
}

func shortHash(h plumbing.Hash) string { return h.String()[:7] }

func pathOrRoot(p string) string {
	if p == "" {
		return "the repository's root"
	}
	return p
}

// BootstrapGitFiles returns what uninstall --bootstrap tells the user to
// delete from Git: the bootstrap directory under path.
func BootstrapGitFiles(p string) string {
	return path.Join(strings.Trim(path.Clean("/"+strings.TrimPrefix(p, "./")), "/"), BootstrapDir)
}

// removeTree deletes every file under dir from the worktree and the index.
func removeTree(fs billy.Filesystem, wt *git.Worktree, dir string) error {
	var files []string
	if _, err := fs.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	err := util.Walk(fs, dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !info.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, f := range files {
		if _, err := wt.Remove(f); err != nil {
			return fmt.Errorf("git rm %s: %w", f, err)
		}
	}
	return nil
}

// UninstallBootstrapOptions say which root sync UninstallBootstrap removes.
type UninstallBootstrapOptions struct {
	// Ref names the root sync. Default BootstrapName in BootstrapName.
	Ref
	// Prune deletes what the root sync applied (Uninstall's Prune).
	Prune bool
	// Push deletes the bootstrap directory from Git with a commit, using
	// the root sync's URL, branch, path and credentials Secret. Default
	// false: Git is not touched; GitDir says what to delete.
	Push bool
	// AuthorName and AuthorEmail sign the commit. Default BootstrapAuthor.
	AuthorName, AuthorEmail string
	// Progress is told each step.
	Progress Progress
}

// UninstallBootstrapResult is what UninstallBootstrap did.
type UninstallBootstrapResult struct {
	// URL, Branch and GitDir say where bootstrap's files are in Git.
	URL, Branch, GitDir string
	// Commit is the commit that deleted GitDir (Push); "" when none.
	Commit string
	// Uninstall is what Uninstall did to the root sync.
	Uninstall *UninstallResult
	// SecretDeleted tells that the credentials Secret bootstrap wrote was
	// deleted.
	SecretDeleted string
}

// UninstallBootstrap removes a root sync made by Bootstrap: with Push it
// first deletes PATH/gitsync-system from Git (so that nothing brings the
// root sync back), then it uninstalls the root sync (Uninstall: CronJob,
// spec, state, RBAC; with Prune what it applied), and deletes the
// credentials Secret the spec names if bootstrap wrote it (managed-by
// kubectl-gitsync). Objects the root sync applied stay unless Prune.
func UninstallBootstrap(ctx context.Context, cfg *Config, opts UninstallBootstrapOptions) (*UninstallBootstrapResult, error) {
	if opts.Name == "" {
		opts.Name = BootstrapName
	}
	if opts.Namespace == "" {
		opts.Namespace = BootstrapName
	}
	prog := progressOr(opts.Progress)
	res := &UninstallBootstrapResult{}
	cm, err := spec.GetConfigMap(ctx, cfg.Client, opts.Namespace, opts.Name)
	if err != nil {
		return res, fmt.Errorf("root sync %s: %w", opts.Ref, err)
	}
	s, err := spec.FromConfigMap(cm)
	if err != nil {
		return res, err
	}
	g := s.Spec.Source.Git
	if g == nil || !s.Spec.ManageGitsync {
		return res, fmt.Errorf("sync %s: not a root sync made by bootstrap (no Git source with manageGitsync); use uninstall without --bootstrap", opts.Ref)
	}
	res.URL, res.Branch, res.GitDir = g.URL, g.Ref.Branch, BootstrapGitFiles(s.Spec.Path)
	var secret *corev1.Secret
	if g.SecretRef != nil {
		secret, err = cfg.Client.CoreV1().Secrets(opts.Namespace).Get(ctx, g.SecretRef.Name, metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return res, fmt.Errorf("Secret/%s/%s: get: %w", opts.Namespace, g.SecretRef.Name, err) //nolint:staticcheck // the message starts with the object's Kind
		}
		if err != nil {
			secret = nil
		}
	}
	if opts.Push {
		bo := BootstrapOptions{URL: g.URL, Branch: g.Ref.Branch, Path: s.Spec.Path, Name: opts.Name, Namespace: opts.Namespace,
			Insecure: g.Insecure, AuthorName: opts.AuthorName, AuthorEmail: opts.AuthorEmail, Secret: secret}.withDefaults()
		creds := source.Credentials{}
		if secret != nil {
			creds = source.CredentialsFromSecret(secret.Data)
		}
		remote, err := source.ParseRemote(g.URL, g.Insecure)
		if err != nil {
			return res, err
		}
		auth, ca, err := source.GitAuth(remote, creds, bo.Timeout)
		if err != nil {
			return res, fmt.Errorf("%s: credentials: %w", redact.URL(g.URL), err)
		}
		gw := &bootstrapGit{opts: bo, url: remote.URL, auth: auth, ca: ca, remove: res.GitDir, prog: prog}
		res.Commit, _, err = gw.writeAndPush(ctx)
		if err != nil && errors.Is(err, git.ErrNonFastForwardUpdate) {
			res.Commit, _, err = gw.writeAndPush(ctx)
		}
		if err != nil {
			return res, err
		}
	}
	ures, err := Uninstall(ctx, cfg, UninstallOptions{Ref: opts.Ref, Prune: opts.Prune})
	res.Uninstall = ures
	if err != nil {
		return res, err
	}
	if secret != nil && secret.Labels[install.LabelManagedBy] == install.ManagedBy {
		err := cfg.Client.CoreV1().Secrets(opts.Namespace).Delete(ctx, secret.Name, metav1.DeleteOptions{
			Preconditions: &metav1.Preconditions{UID: &secret.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			return res, fmt.Errorf("Secret/%s/%s: delete: %w", opts.Namespace, secret.Name, err) //nolint:staticcheck // the message starts with the object's Kind
		}
		res.SecretDeleted = secret.Name
	}
	return res, nil
}

// ReadSignKey reads an armored OpenPGP private key to sign bootstrap's
// commits with, decrypting it with passphrase when it is encrypted. The
// first key of the ring that holds a private key is used.
func ReadSignKey(armored, passphrase []byte) (*openpgp.Entity, error) {
	ring, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(armored))
	if err != nil {
		return nil, fmt.Errorf("not an armored OpenPGP key: %w", err)
	}
	for _, e := range ring {
		if e.PrivateKey == nil {
			continue
		}
		if e.PrivateKey.Encrypted {
			if len(passphrase) == 0 {
				return nil, errors.New("the key is encrypted: give its passphrase")
			}
			if err := e.DecryptPrivateKeys(passphrase); err != nil {
				return nil, fmt.Errorf("decrypt: %w", err)
			}
		}
		return e, nil
	}
	return nil, errors.New("no private key in the key ring")
}

// WaitForGitAccess lists the remote's refs with creds every interval until
// it succeeds (an empty repository counts) or timeout passes, telling prog
// each failure. It is how bootstrap waits for a generated deploy key to be
// added on the Git host.
func WaitForGitAccess(ctx context.Context, url string, insecure bool, creds source.Credentials, timeout, interval time.Duration, prog Progress) error {
	prog = progressOr(prog)
	remote, err := source.ParseRemote(url, insecure)
	if err != nil {
		return err
	}
	auth, ca, err := source.GitAuth(remote, creds, interval)
	if err != nil {
		return err
	}
	r := git.NewRemote(memory.NewStorage(), &gitconfig.RemoteConfig{Name: git.DefaultRemoteName, URLs: []string{remote.URL}})
	deadline := time.Now().Add(timeout)
	for {
		lctx, cancel := context.WithTimeout(ctx, interval)
		_, err := r.ListContext(lctx, &git.ListOptions{Auth: auth, CABundle: ca})
		cancel()
		if err == nil || errors.Is(err, transport.ErrEmptyRemoteRepository) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: the key was not accepted within %s: %w", redact.URL(url), timeout, redact.Error(classifyGitError(err)))
		}
		prog.Status(fmt.Sprintf("waiting for the deploy key to be accepted by %s (%v)", redact.URL(url), redact.Error(err)))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}
