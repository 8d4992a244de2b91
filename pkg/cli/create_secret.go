package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/gitsync/gitsync/pkg/action"
	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/source"
)

// newCreateCommand returns the `create` command, the parent of `create
// secret`.
func newCreateCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create objects syncs read: credentials Secrets",
		Args:  cobra.NoArgs,
	}
	secret := &cobra.Command{
		Use:   "secret",
		Short: "Create a Secret with credentials for a sync's source or decryption",
		Args:  cobra.NoArgs,
	}
	for _, kind := range action.SecretKinds() {
		secret.AddCommand(newCreateSecretCommand(kind, flags, streams))
	}
	cmd.AddCommand(secret)
	return cmd
}

// createSecretOptions are the options of `kubectl gitsync create secret
// KIND NAME`.
type createSecretOptions struct {
	// Kind is the subcommand.
	Kind action.SecretKind
	// URL, Username, Password, BearerToken and Insecure map onto
	// action.SecretOptions.
	URL, Username, Password, BearerToken string
	Insecure                             bool
	// PrivateKeyFile, KnownHostsFile, CAFile, CertFile, KeyFile and
	// AgeKeyFile are read into action.SecretOptions by Complete.
	PrivateKeyFile, KnownHostsFile, CAFile, CertFile, KeyFile, AgeKeyFile string
	// AgeRecipients are checked against the identities of AgeKeyFile.
	AgeRecipients []string
	// KeyAlgorithm, RSABits and ECDSACurve select a generated SSH key.
	KeyAlgorithm, ECDSACurve string
	RSABits                  int
	// ScanTimeout bounds the host key scan of an SSH URL without
	// --known-hosts-file.
	ScanTimeout time.Duration
	// Export prints the Secret instead of applying it.
	Export bool
	// Output is the format of Export: yaml (default) or json.
	Output string

	opts        action.SecretOptions
	configFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams
}

// newCreateSecretCommand returns `create secret KIND`.
func newCreateSecretCommand(kind action.SecretKind, flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &createSecretOptions{Kind: kind, configFlags: flags, IOStreams: streams}
	cmd := &cobra.Command{
		Use:     string(kind) + " NAME",
		Short:   createSecretShort[kind],
		Long:    createSecretLong[kind] + createSecretCommon,
		Example: createSecretExample[kind],
		Args:    cobra.ExactArgs(1),
		RunE:    runE(o),
	}
	f := cmd.Flags()
	switch kind {
	case action.SecretGit:
		f.StringVar(&o.URL, "url", "", "Git repository URL the secret is for: https://, http:// (with --insecure) or ssh://")
		f.BoolVar(&o.Insecure, "insecure", false, "allow a plain http:// URL")
		f.StringVar(&o.BearerToken, "bearer-token", "", "HTTPS bearer token (key bearerToken)")
		f.StringVar(&o.PrivateKeyFile, "private-key-file", "", "SSH private key (key identity); default: a new key is generated")
		f.StringVar(&o.KeyAlgorithm, "ssh-key-algorithm", "", "algorithm of a generated SSH key: ed25519 (default), ecdsa or rsa")
		f.IntVar(&o.RSABits, "ssh-rsa-bits", 0, "size of a generated RSA key (default 4096)")
		f.StringVar(&o.ECDSACurve, "ssh-ecdsa-curve", "", "curve of a generated ECDSA key: p256, p384 (default) or p521")
		f.StringVar(&o.KnownHostsFile, "known-hosts-file", "", "known_hosts for the SSH host (key known_hosts); default: scanned from the host and printed")
		f.DurationVar(&o.ScanTimeout, "scan-timeout", 10*time.Second, "bound on scanning the SSH host's keys")
		f.StringVar(&o.CAFile, "ca-file", "", "CA bundle trusted for HTTPS (key ca.crt)")
	case action.SecretHelm:
		f.StringVar(&o.CAFile, "ca-file", "", "CA bundle trusted for HTTPS (key ca.crt)")
		f.StringVar(&o.CertFile, "cert-file", "", "TLS client certificate (key tls.crt)")
		f.StringVar(&o.KeyFile, "key-file", "", "TLS client key (key tls.key)")
	case action.SecretOCI:
		f.StringVar(&o.URL, "url", "", "registry host, e.g. ghcr.io (an oci:// URL's host is taken)")
	case action.SecretSOPS:
		f.StringSliceVar(&o.AgeRecipients, "age-recipients", nil, "age public keys (age1...) the repository's files are encrypted for; each must match an identity of the key (checked before writing)")
		f.StringVar(&o.AgeKeyFile, "age-key-file", "", "age identities (AGE-SECRET-KEY-1...), - for stdin (key "+action.SecretAgeKey+"); default: a new identity is generated")
	}
	if kind != action.SecretSOPS {
		f.StringVarP(&o.Username, "username", "u", "", "basic-auth username (key username)")
		f.StringVarP(&o.Password, "password", "p", "", "basic-auth password, or the passphrase of --private-key-file (key password)")
	}
	f.BoolVar(&o.Export, "export", false, "print the Secret (with its values) instead of applying it")
	f.StringVarP(&o.Output, "output", "o", "", "format of --export: yaml (default) or json")
	return cmd
}

var createSecretShort = map[action.SecretKind]string{
	action.SecretGit:  "Create a Secret with Git credentials (spec.source.git.secretRef)",
	action.SecretHelm: "Create a Secret with Helm repository credentials (spec.source.helm.secretRef)",
	action.SecretOCI:  "Create a Secret with an OCI registry login (kubernetes.io/dockerconfigjson)",
	action.SecretSOPS: "Create a Secret with age identities for SOPS decryption",
}

var createSecretLong = map[action.SecretKind]string{
	action.SecretGit: `Create the Secret NAME with credentials for a Git repository, with Flux's keys:
  https://  --username/--password (keys username, password) or --bearer-token (bearerToken); --ca-file (ca.crt)
  ssh://    an SSH key (identity, identity.pub; password holds the key's passphrase) and known_hosts.
For SSH without --private-key-file a new key is generated (ed25519 unless --ssh-key-algorithm says otherwise)
and its public key is printed: add it to the repository as a deploy key (read-only for syncs; with write
access for bootstrap). Without --known-hosts-file the host's keys are scanned and printed, to be compared
with the fingerprints the host publishes.`,
	action.SecretHelm: `Create the Secret NAME with credentials for a Helm repository: --username/--password (keys username,
password), --ca-file (ca.crt), --cert-file/--key-file (tls.crt, tls.key). The certificate and key must match.`,
	action.SecretOCI: `Create the Secret NAME of type kubernetes.io/dockerconfigjson holding a login for the registry --url.`,
	action.SecretSOPS: `Create the Secret NAME holding age identities under the key ` + action.SecretAgeKey + `, as Flux's decryption reads
them (spec.decryption.secretRef). Without --age-key-file a new identity is generated. The public keys
(recipients) are printed: encrypt for them (sops --age RECIPIENT, or creation_rules in .sops.yaml).`,
}

const createSecretCommon = `

Every value is validated before anything is written. The Secret is server-side applied with the field
manager kubectl-gitsync; running the command again updates it. Secret values are never printed, except by
--export, which prints the Secret instead of applying it (for a repository encrypted with SOPS, say).`

var createSecretExample = map[action.SecretKind]string{
	action.SecretGit: `  # Basic auth for HTTPS
  kubectl gitsync create secret git web-auth --url https://git.example.com/web.git -u bot -p "$TOKEN"

  # A new ed25519 deploy key for SSH; prints the public key and the scanned known_hosts
  kubectl gitsync create secret git web-ssh --url ssh://git@git.example.com/web.git

  # An existing key and known_hosts, printed instead of applied
  kubectl gitsync create secret git web-ssh --url ssh://git@git.example.com/web.git \
    --private-key-file ./id_ed25519 --known-hosts-file ./known_hosts --export`,
	action.SecretHelm: `  kubectl gitsync create secret helm charts --username bot --password "$TOKEN" --ca-file ca.pem`,
	action.SecretOCI:  `  kubectl gitsync create secret oci ghcr --url ghcr.io --username bot --password "$TOKEN"`,
	action.SecretSOPS: `  # A new age identity; prints its recipient
  kubectl gitsync create secret sops sops-age

  # An existing one
  kubectl gitsync create secret sops sops-age --age-key-file ./age.agekey`,
}

// Complete reads NAME, the namespace and the files the flags name; for an
// SSH URL without --known-hosts-file it scans the host's keys.
func (o *createSecretOptions) Complete(cmd *cobra.Command, args []string) error {
	ns, err := syncNamespace(o.configFlags)
	if err != nil {
		return err
	}
	o.opts = action.SecretOptions{
		Name: args[0], Namespace: ns, Kind: o.Kind,
		URL: o.URL, Insecure: o.Insecure, Username: o.Username, Password: o.Password, BearerToken: o.BearerToken,
		KeyAlgorithm: o.KeyAlgorithm, RSABits: o.RSABits, ECDSACurve: o.ECDSACurve, AgeRecipients: o.AgeRecipients,
	}
	for _, file := range []struct {
		flag, path string
		into       *[]byte
	}{
		{"private-key-file", o.PrivateKeyFile, &o.opts.PrivateKey},
		{"known-hosts-file", o.KnownHostsFile, &o.opts.KnownHosts},
		{"ca-file", o.CAFile, &o.opts.CAPEM},
		{"cert-file", o.CertFile, &o.opts.CertPEM},
		{"key-file", o.KeyFile, &o.opts.KeyPEM},
		{"age-key-file", o.AgeKeyFile, &o.opts.AgeKey},
	} {
		if file.path == "" {
			continue
		}
		var data []byte
		if file.path == "-" {
			data, err = io.ReadAll(io.LimitReader(o.In, maxSecretFile))
		} else {
			data, err = readSecretFile(file.path)
		}
		if err != nil {
			return fmt.Errorf("--%s: %w", file.flag, err)
		}
		if len(data) == 0 {
			return fmt.Errorf("--%s: %s is empty", file.flag, file.path)
		}
		*file.into = data
	}
	if o.Kind == action.SecretGit && o.KnownHostsFile == "" && o.URL != "" {
		if r, err := source.ParseRemote(o.URL, o.Insecure); err == nil && r.SSH {
			kh, err := action.ScanHostKeys(cmd.Context(), o.URL, o.ScanTimeout)
			if err != nil {
				return fmt.Errorf("--known-hosts-file not given, and scanning the host keys failed: %w", err)
			}
			o.opts.KnownHosts = kh
			fmt.Fprintf(o.ErrOut, "known_hosts scanned from %s (compare with the host's published fingerprints):\n%s", r.HostPort, kh)
		}
	}
	return nil
}

// Validate checks the flags and builds the Secret.
func (o *createSecretOptions) Validate() error {
	switch {
	case o.Output != "" && !o.Export:
		return fmt.Errorf("--output: only with --export")
	case o.Output != "" && o.Output != install.FormatYAML && o.Output != install.FormatJSON:
		return fmt.Errorf("--output: must be yaml or json, not %q", o.Output)
	}
	return validateSecretName(o.opts.Name)
}

// Run builds the Secret, then prints it (--export) or applies it, and
// prints what may be shown: the public key and the generated state.
func (o *createSecretOptions) Run(ctx context.Context) error {
	res, err := action.BuildSecret(o.opts)
	if err != nil {
		return flagError(err)
	}
	if o.Export {
		format := o.Output
		if format == "" {
			format = install.FormatYAML
		}
		data, err := install.Marshal([]runtime.Object{res.Secret}, format)
		if err != nil {
			return err
		}
		if _, err := o.Out.Write(data); err != nil {
			return err
		}
		o.printPublicKey(res, o.ErrOut)
		return nil
	}
	cfg, err := actionConfig(ctx, o.configFlags)
	if err != nil {
		return err
	}
	id, err := action.ApplySecret(ctx, cfg, res.Secret)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "%s applied\n", id)
	o.printPublicKey(res, o.Out)
	return nil
}

func (o *createSecretOptions) printPublicKey(res *action.SecretResult, w interface{ Write([]byte) (int, error) }) {
	if res.PublicKey == "" {
		return
	}
	switch o.Kind {
	case action.SecretGit:
		what := "public key"
		if res.Generated {
			what = "generated key's public key"
		}
		fmt.Fprintf(w, "%s; add it to the repository as a deploy key:\n%s\n", what, res.PublicKey)
	case action.SecretSOPS:
		fmt.Fprintf(w, "age recipient(s); encrypt for them with sops --age:\n%s\n", res.PublicKey)
	}
}

// flagError turns an action.SecretOptions error ("field: ...") into one that
// names the flag ("--field: ...").
func flagError(err error) error {
	msg := err.Error()
	if name, _, ok := strings.Cut(msg, ":"); ok && !strings.ContainsAny(name, " \"") && name != "" {
		return fmt.Errorf("--%w", err)
	}
	return err
}

// validateSecretName checks NAME as the API server would, with a message
// naming the argument.
func validateSecretName(name string) error {
	if name == "" {
		return fmt.Errorf("NAME: required")
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return fmt.Errorf("NAME %q: not a valid Secret name: %s", name, strings.Join(errs, "; "))
	}
	return nil
}

// maxSecretFile bounds a file read into a Secret: a Secret holds at most
// 1 MiB.
const maxSecretFile = 1 << 20

// readSecretFile reads a file of at most maxSecretFile bytes.
func readSecretFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxSecretFile {
		return nil, fmt.Errorf("%s: larger than a Secret may be (1 MiB)", path)
	}
	return data, nil
}
