package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/gitsync/gitsync/pkg/action"
	"github.com/gitsync/gitsync/pkg/format"
	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/source"
)

// newBootstrapCommand returns the `bootstrap` command, parent of
// `bootstrap git`.
func newBootstrapCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bootstrap",
		Short: "Make gitsync manage itself from a Git repository",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newBootstrapGitCommand(flags, streams))
	return cmd
}

// bootstrapOptions are the options of `kubectl gitsync bootstrap git`.
type bootstrapOptions struct {
	// URL, Branch, Path, Insecure, Schedule, Image, AuthorName and
	// AuthorEmail map onto action.BootstrapOptions.
	URL, Branch, Path, Schedule, Image, AuthorName, AuthorEmail string
	Insecure                                                    bool
	// Name is the root sync's name.
	Name string
	// Secret names an existing credentials Secret in the root sync's
	// namespace.
	Secret string
	// SecretName is the name of the credentials Secret bootstrap writes
	// from the credential flags. Default NAME-auth.
	SecretName string
	// Credential flags, as create secret git takes them.
	Username, Password, PrivateKeyFile, KnownHostsFile, CAFile string
	// TokenEnv and BearerTokenEnv name environment variables holding a
	// token, sent as the basic-auth password (TokenEnv) or as a bearer
	// token, so that it is not on the command line.
	TokenEnv, BearerTokenEnv string
	// SignKeyFile is an armored OpenPGP private key signing the commit;
	// SignKeyPassphraseEnv names the variable holding its passphrase.
	SignKeyFile, SignKeyPassphraseEnv string
	// RBAC is the root sync's RBAC mode: cluster (default) or namespace.
	RBAC string
	// RBACExtraRules are added in namespace mode, as install's.
	RBACExtraRules []string
	// GenerateSSHKey generates an ed25519 deploy key; bootstrap prints its
	// public key and waits up to DeployKeyTimeout for it to be accepted.
	GenerateSSHKey   bool
	DeployKeyTimeout time.Duration
	// GitTimeout bounds each Git operation.
	GitTimeout time.Duration
	// FirstRun makes the first run; Local makes it in this process.
	FirstRun, Local bool
	// Timeout bounds the wait for the first run.
	Timeout time.Duration

	namespace   string
	secret      action.SecretOptions
	hasSecret   bool
	configFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams
}

func newBootstrapGitCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &bootstrapOptions{configFlags: flags, IOStreams: streams, FirstRun: true}
	cmd := &cobra.Command{
		Use:   "git --url URL [--branch B] [--path clusters/NAME] [credentials]",
		Short: "Write gitsync's own manifests into a Git repository and sync the cluster from it",
		Long: `Bootstrap writes the root sync's manifests (Namespace, ServiceAccount, RBAC, spec ConfigMap and CronJob,
as install --export prints them, plus a kustomization.yaml) under PATH/gitsync-system/ of the branch,
commits and pushes them if they changed, creates the credentials Secret in the cluster, installs the root
sync and runs it once. The root sync applies PATH, gitsync-system/ included (spec.manageGitsync), so from
then on Git is the authority: a schedule or image changed in Git reaches the CronJob on the next run, and
a sync or application added under PATH is applied by it.

Running bootstrap again with the same flags changes nothing: no commit is made when the files are the
same. With other flags (or a newer version) it commits the difference and applies it. After the cluster
(or the gitsync-system namespace) is lost, running bootstrap again brings everything back from Git.

Credentials (also written to the Secret NAME-auth, or --secret-name, that the root sync reads):
  https://  --username/--password, --token-env VAR (basic auth, username "git" unless --username), or
            --bearer-token-env VAR; --ca-file for a private CA
  ssh://    --private-key-file with --known-hosts-file (scanned from the host and printed when not given)
  --secret  an existing Secret in the root sync's namespace, with create secret git's keys
--generate-ssh-key makes an ed25519 key instead, prints its public key and waits (--deploy-key-timeout) until
the host accepts it as a deploy key. --sign-key signs the commit with an OpenPGP key.

The root sync has --rbac=cluster. --rbac=namespace bootstraps a tenant's root sync in an existing namespace:
no Namespace is written, and it may apply only namespaced objects there.

The credentials must be allowed to push. A refused push fails with the server's reason and leaves the
cluster untouched. The first run happens in a Job (the sync-job image must be pullable); --local runs it
in this process with your kubeconfig instead.`,
		Example: `  kubectl gitsync bootstrap git --url ssh://git@github.com/example/fleet.git --path clusters/prod \
    --private-key-file ./deploy-key

  GITSYNC_TOKEN=... kubectl gitsync bootstrap git --url https://github.com/example/fleet.git \
    --path clusters/prod --token-env GITSYNC_TOKEN`,
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	f := cmd.Flags()
	f.StringVar(&o.URL, "url", "", "Git repository URL: https://, ssh:// or http:// (with --insecure)")
	f.StringVar(&o.Branch, "branch", action.BootstrapBranch, "branch to write and sync; created if the repository is empty")
	f.StringVar(&o.Path, "path", "", "directory of the repository the root sync applies, e.g. clusters/prod (default: the root)")
	f.StringVar(&o.Name, "name", action.BootstrapName, "name of the root sync; its namespace is --namespace, default "+action.BootstrapName)
	f.BoolVar(&o.Insecure, "insecure", false, "allow a plain http:// URL")
	f.StringVar(&o.Secret, "secret", "", "existing Secret with the Git credentials, in the root sync's namespace")
	f.StringVar(&o.SecretName, "secret-name", "", "name of the Secret written from the credential flags (default NAME-auth)")
	f.StringVarP(&o.Username, "username", "u", "", "basic-auth username")
	f.StringVarP(&o.Password, "password", "p", "", "basic-auth password, or the passphrase of --private-key-file")
	f.StringVar(&o.TokenEnv, "token-env", "", "environment variable holding a token used as the basic-auth password")
	f.StringVar(&o.BearerTokenEnv, "bearer-token-env", "", "environment variable holding a bearer token")
	f.StringVar(&o.PrivateKeyFile, "private-key-file", "", "SSH private key allowed to push")
	f.StringVar(&o.KnownHostsFile, "known-hosts-file", "", "known_hosts for the SSH host (default: scanned and printed)")
	f.StringVar(&o.CAFile, "ca-file", "", "CA bundle trusted for HTTPS")
	f.StringVar(&o.AuthorName, "author-name", action.BootstrapAuthor, "commit author name")
	f.StringVar(&o.AuthorEmail, "author-email", action.BootstrapAuthorEmail, "commit author e-mail")
	f.BoolVar(&o.GenerateSSHKey, "generate-ssh-key", false, "generate an ed25519 deploy key, print its public key and wait until the host accepts it")
	f.DurationVar(&o.DeployKeyTimeout, "deploy-key-timeout", 10*time.Minute, "how long --generate-ssh-key waits for the deploy key to be added")
	f.StringVar(&o.SignKeyFile, "sign-key", "", "armored OpenPGP private key to sign the commit with")
	f.StringVar(&o.SignKeyPassphraseEnv, "sign-key-passphrase-env", "", "environment variable holding the passphrase of --sign-key")
	f.StringVar(&o.Schedule, "schedule", "", `cron schedule of the root sync (default "*/5 * * * *")`)
	f.StringVar(&o.RBAC, "rbac", string(install.RBACCluster), "RBAC mode of the root sync: cluster, or namespace for a tenant (namespaced objects in its own, existing namespace only)")
	f.StringArrayVar(&o.RBACExtraRules, "rbac-extra-rule", nil, "RESOURCE[.GROUP][:VERB,...] to grant in namespace mode (repeatable)")
	f.StringVar(&o.Image, "image", "", "sync-job image (default "+install.DefaultImage()+")")
	f.DurationVar(&o.GitTimeout, "git-timeout", source.DefaultTimeout, "bound on each Git operation")
	f.BoolVar(&o.FirstRun, "run", true, "run the root sync once after installing it, and wait")
	f.BoolVar(&o.Local, "local", false, "make the first run in this process with your kubeconfig instead of in a Job")
	f.DurationVar(&o.Timeout, "timeout", 0, "how long to wait for the first run (default: the Job's deadline plus 1m)")
	return cmd
}

// Complete reads the namespace, the token variables and the files, and
// scans the SSH host keys when known_hosts is not given.
func (o *bootstrapOptions) Complete(cmd *cobra.Command, _ []string) error {
	o.namespace = action.BootstrapName
	if o.configFlags.Namespace != nil && *o.configFlags.Namespace != "" {
		o.namespace = *o.configFlags.Namespace
	}
	s := action.SecretOptions{Namespace: o.namespace, Kind: action.SecretGit, URL: o.URL, Insecure: o.Insecure,
		Username: o.Username, Password: o.Password}
	for _, env := range []struct {
		flag, name string
		into       *string
	}{{"token-env", o.TokenEnv, &s.Password}, {"bearer-token-env", o.BearerTokenEnv, &s.BearerToken}} {
		if env.name == "" {
			continue
		}
		v := os.Getenv(env.name)
		if v == "" {
			return fmt.Errorf("--%s: the environment variable %s is empty or not set", env.flag, env.name)
		}
		*env.into = v
	}
	if o.TokenEnv != "" && s.Username == "" {
		s.Username = "git"
	}
	for _, file := range []struct {
		flag, path string
		into       *[]byte
	}{{"private-key-file", o.PrivateKeyFile, &s.PrivateKey}, {"known-hosts-file", o.KnownHostsFile, &s.KnownHosts}, {"ca-file", o.CAFile, &s.CAPEM}} {
		if file.path == "" {
			continue
		}
		data, err := readSecretFile(file.path)
		if err != nil {
			return fmt.Errorf("--%s: %w", file.flag, err)
		}
		*file.into = data
	}
	if o.GenerateSSHKey {
		if len(s.PrivateKey) > 0 {
			return errors.New("--generate-ssh-key: cannot be combined with --private-key-file")
		}
		key, err := action.GenerateSSHKey(action.KeyEd25519, 0, "")
		if err != nil {
			return err
		}
		s.PrivateKey = key
	}
	if len(s.PrivateKey) > 0 && len(s.KnownHosts) == 0 {
		kh, err := action.ScanHostKeys(cmd.Context(), o.URL, 10*time.Second)
		if err != nil {
			return fmt.Errorf("--known-hosts-file not given, and scanning the host keys failed: %w", err)
		}
		s.KnownHosts = kh
		fmt.Fprintf(o.ErrOut, "known_hosts scanned (compare with the host's published fingerprints):\n%s", kh)
	}
	o.hasSecret = s.Username != "" || s.Password != "" || s.BearerToken != "" || len(s.PrivateKey) > 0 || len(s.CAPEM) > 0
	s.Name = o.SecretName
	if s.Name == "" {
		s.Name = o.Name + "-auth"
	}
	o.secret = s
	return nil
}

// Validate checks the flags.
func (o *bootstrapOptions) Validate() error {
	switch {
	case o.URL == "":
		return errors.New("--url: required")
	case o.Secret != "" && o.hasSecret:
		return errors.New("--secret: cannot be combined with credential flags; it names a Secret that holds them")
	case o.SecretName != "" && !o.hasSecret:
		return errors.New("--secret-name: only with credential flags (--username, --token-env, --private-key-file ...)")
	case o.RBAC != string(install.RBACCluster) && o.RBAC != string(install.RBACNamespace):
		return fmt.Errorf("--rbac: must be cluster or namespace, not %q", o.RBAC)
	case len(o.RBACExtraRules) > 0 && o.RBAC != string(install.RBACNamespace):
		return errors.New("--rbac-extra-rule: only with --rbac=namespace")
	case o.Local && !o.FirstRun:
		return errors.New("--local: only with --run")
	}
	if err := validateSyncName(o.Name); err != nil {
		return fmt.Errorf("--name: %w", err)
	}
	remote, err := source.ParseRemote(o.URL, o.Insecure)
	if err != nil {
		return fmt.Errorf("--url: %w", err)
	}
	if o.GenerateSSHKey && !remote.SSH {
		return errors.New("--generate-ssh-key: needs an ssh:// URL")
	}
	return nil
}

// Run bootstraps and makes the first run.
func (o *bootstrapOptions) Run(ctx context.Context) error {
	cfg, err := actionConfig(ctx, o.configFlags)
	if err != nil {
		return err
	}
	opts := action.BootstrapOptions{
		URL: o.URL, Branch: o.Branch, Path: o.Path, Name: o.Name, Namespace: o.namespace, Insecure: o.Insecure,
		SecretName: o.Secret, Schedule: o.Schedule, Install: install.Options{Image: o.Image, RBAC: install.RBACMode(o.RBAC)},
		AuthorName: o.AuthorName, AuthorEmail: o.AuthorEmail, Timeout: o.GitTimeout,
	}
	if o.hasSecret {
		sec, err := action.BuildSecret(o.secret)
		if err != nil {
			return flagError(err)
		}
		opts.Secret = sec.Secret
		if o.GenerateSSHKey {
			fmt.Fprintf(o.Out, "generated deploy key; add this public key to the repository with write access:\n%s\n", sec.PublicKey)
			prog := format.NewProgress(o.ErrOut, cfg.Now)
			stop := prog.Spin()
			err := action.WaitForGitAccess(ctx, o.URL, o.Insecure, source.CredentialsFromSecret(sec.Secret.Data), o.DeployKeyTimeout, 5*time.Second, prog)
			stop()
			if err != nil {
				return fmt.Errorf("--generate-ssh-key: %w; nothing was written to Git or the cluster", err)
			}
			prog.Event("deploy key accepted")
		}
	}
	for _, r := range o.RBACExtraRules {
		rule, err := install.ParseRule(r)
		if err != nil {
			return fmt.Errorf("--rbac-extra-rule: %w", err)
		}
		opts.Install.ExtraRules = append(opts.Install.ExtraRules, rule)
	}
	if o.SignKeyFile != "" {
		data, err := readSecretFile(o.SignKeyFile)
		if err != nil {
			return fmt.Errorf("--sign-key: %w", err)
		}
		var pass []byte
		if o.SignKeyPassphraseEnv != "" {
			pass = []byte(os.Getenv(o.SignKeyPassphraseEnv))
		}
		if opts.SignKey, err = action.ReadSignKey(data, pass); err != nil {
			return fmt.Errorf("--sign-key: %s: %w", o.SignKeyFile, err)
		}
	}
	prog := format.NewProgress(o.ErrOut, cfg.Now)
	opts.Progress = prog
	res, err := action.Bootstrap(ctx, cfg, opts)
	switch {
	case res.Commit != "":
		fmt.Fprintf(o.Out, "commit %s pushed to %s: %s\n", res.Commit, o.Branch, strings.Join(res.Files, ", "))
	case res.Head != "":
		fmt.Fprintf(o.Out, "Git unchanged at %s (no commit)\n", res.Head)
	}
	for _, id := range res.Applied {
		fmt.Fprintf(o.Out, "%s applied\n", id)
	}
	if err != nil {
		return err
	}
	if !o.FirstRun {
		_, err := fmt.Fprintf(o.Out, "root sync %s installed; it runs on schedule %q\n", res.Ref, res.CronJob.Spec.Schedule)
		return err
	}
	run := &runOptions{Local: o.Local, Wait: true, Timeout: o.Timeout, IOStreams: o.IOStreams,
		syncRef: syncRef{Name: o.Name, Namespace: o.namespace, flags: o.configFlags, cfg: cfg}}
	if err := run.Run(ctx); err != nil {
		return err
	}
	_, err = fmt.Fprintf(o.Out, "root sync %s bootstrapped: it applies %s of %s from Git on schedule %q (CronJob %s)\n",
		res.Ref, pathOrRoot(o.Path), o.URL, res.CronJob.Spec.Schedule, names.CronJob(o.Name))
	return err
}

func pathOrRoot(p string) string {
	if p == "" {
		return "the root"
	}
	return p
}
