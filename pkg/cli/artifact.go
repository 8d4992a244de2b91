package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/gitsync/gitsync/pkg/redact"
	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/source/oci"
	"github.com/gitsync/gitsync/pkg/source/registry"
)

// newArtifactCommands returns `push artifact` and `tag artifact`, with
// which CI publishes configuration to a registry as OCI artifacts in
// Flux's format. flags are the root's kubeconfig flags (for --secret).
func newArtifactCommands(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) []*cobra.Command {
	push := &cobra.Command{Use: "push", Short: "Publish to a registry"}
	push.AddCommand(newPushArtifactCommand(flags, streams))
	tag := &cobra.Command{Use: "tag", Short: "Tag what is in a registry"}
	tag.AddCommand(newTagArtifactCommand(flags, streams))
	return []*cobra.Command{push, tag}
}

// registryFlags are the flags that say how to reach a registry, shared
// by push and tag.
type registryFlags struct {
	// Creds is --creds: "user:password", or ":token" for a registry
	// token.
	Creds string
	// Secret is --secret: a Secret of the namespace (--namespace) with
	// the login (.dockerconfigjson, or username and password) and ca.crt.
	Secret string
	// CAFile is --ca-file: CA certificates trusted besides the system's.
	CAFile string
	// Insecure is --insecure: plain HTTP.
	Insecure bool

	configFlags *genericclioptions.ConfigFlags
	client      registry.Client
}

func (f *registryFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.Creds, "creds", "", "registry login as user:password (or :token); default: the Docker config (~/.docker/config.json, credential helpers)")
	cmd.Flags().StringVar(&f.Secret, "secret", "", "read the registry login and ca.crt from this Secret of the namespace (.dockerconfigjson, or username and password)")
	cmd.Flags().StringVar(&f.CAFile, "ca-file", "", "PEM file of CA certificates trusted for the registry besides the system's")
	cmd.Flags().BoolVar(&f.Insecure, "insecure", false, "speak plain HTTP to the registry")
}

// validate checks the registry flags.
func (f *registryFlags) validate() error {
	if f.Creds != "" && f.Secret != "" {
		return errors.New("--creds and --secret: use one")
	}
	if f.Creds != "" && !strings.Contains(f.Creds, ":") {
		return errors.New("--creds: must be user:password, or :token")
	}
	return nil
}

// complete builds the registry client: the login of --creds or --secret,
// else the Docker config's; --ca-file's CAs.
func (f *registryFlags) complete(ctx context.Context) error {
	var creds source.Credentials
	switch {
	case f.Creds != "":
		user, pw, _ := strings.Cut(f.Creds, ":")
		if user == "" {
			creds.BearerToken = pw
		} else {
			creds.Username, creds.Password = user, pw
		}
	case f.Secret != "":
		data, err := f.readSecret(ctx)
		if err != nil {
			return err
		}
		creds = source.CredentialsFromSecret(data)
	}
	if f.CAFile != "" {
		pem, err := os.ReadFile(f.CAFile)
		if err != nil {
			return fmt.Errorf("--ca-file: %w", err)
		}
		creds.CAPEM = append(creds.CAPEM, pem...)
	}
	f.client = registry.Client{Auth: creds, Insecure: f.Insecure, UserAgent: "kubectl-gitsync", Keychain: authn.DefaultKeychain}
	return nil
}

// readSecret reads --secret from the namespace.
func (f *registryFlags) readSecret(ctx context.Context) (map[string][]byte, error) {
	ns, err := syncNamespace(f.configFlags)
	if err != nil {
		return nil, err
	}
	cfg, err := f.configFlags.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	s, err := cs.CoreV1().Secrets(ns).Get(ctx, f.Secret, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("--secret: Secret/%s/%s not found", ns, f.Secret)
	}
	if err != nil {
		return nil, fmt.Errorf("--secret: Secret/%s/%s: %w", ns, f.Secret, err)
	}
	return s.Data, nil
}

// PushArtifactOptions are the options of `push artifact`.
type PushArtifactOptions struct {
	// URL is the argument: oci://host/path:tag.
	URL string
	// Path is --path, the directory (or file) packed.
	Path string
	// Source and Revision are --source and --revision, recorded in the
	// artifact's annotations.
	Source, Revision string
	// Annotations are --annotations key=value.
	Annotations []string
	// IgnorePaths are --ignore-paths, .gitignore patterns left out.
	IgnorePaths []string
	// Output is --output: "" (a line for people) or "digest" (the
	// reference by digest only, for scripts).
	Output string

	registryFlags
	genericiooptions.IOStreams
}

func newPushArtifactCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &PushArtifactOptions{registryFlags: registryFlags{configFlags: flags}, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "artifact oci://HOST/PATH:TAG --path DIR --source URL --revision REV",
		Short: "Pack a directory and push it to a registry as an OCI artifact",
		Long: `Pack DIR (or a single file) as a gzip-compressed tar and push it to the registry as an OCI artifact in
Flux's format: config media type application/vnd.cncf.flux.config.v1+json, one layer of media type
application/vnd.cncf.flux.content.v1.tar+gzip, and the annotations org.opencontainers.image.source,
.revision and .created. A sync with spec.source.oci, Flux's OCIRepository and flux pull artifact all read it.

The registry login is --creds, or the Secret --secret of the namespace, or else the Docker config of this
machine (docker login, credential helpers).`,
		Example: `  # Publish ./deploy from CI, recording the commit it was built from
  kubectl gitsync push artifact oci://ghcr.io/team/app-config:$(git rev-parse --short HEAD) \
    --path ./deploy --source "$(git config --get remote.origin.url)" \
    --revision "$(git branch --show-current)@sha1:$(git rev-parse HEAD)"`,
		Args: cobra.ExactArgs(1),
		RunE: runE(o),
	}
	cmd.Flags().StringVar(&o.Path, "path", "", "directory (or file) to pack (required)")
	cmd.Flags().StringVar(&o.Source, "source", "", "where the content comes from, such as the Git URL (annotation org.opencontainers.image.source; required)")
	cmd.Flags().StringVar(&o.Revision, "revision", "", "its revision there, such as main@sha1:<commit> (annotation org.opencontainers.image.revision; required)")
	cmd.Flags().StringArrayVarP(&o.Annotations, "annotations", "a", nil, "further manifest annotations, key=value (repeatable)")
	cmd.Flags().StringSliceVar(&o.IgnorePaths, "ignore-paths", nil, "paths to leave out, in .gitignore syntax (comma-separated or repeated)")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "print only the reference by digest with -o digest")
	o.add(cmd)
	return cmd
}

// Complete reads the argument and builds the registry client.
func (o *PushArtifactOptions) Complete(cmd *cobra.Command, args []string) error {
	o.URL = args[0]
	return o.complete(cmd.Context())
}

// Validate checks the URL and the flags.
func (o *PushArtifactOptions) Validate() error {
	if _, err := oci.ParseReference(o.URL, o.Insecure); err != nil {
		return fmt.Errorf("%s: %v", redact.URL(o.URL), err)
	}
	// The last path element must carry the tag: "latest" is not assumed.
	if last := o.URL[strings.LastIndex(o.URL, "/")+1:]; !strings.Contains(last, ":") || strings.Contains(last, "@") {
		return fmt.Errorf("%s: name the tag to push to: oci://host/path:tag", redact.URL(o.URL))
	}
	for _, f := range []struct{ name, value string }{{"--path", o.Path}, {"--source", o.Source}, {"--revision", o.Revision}} {
		if f.value == "" {
			return fmt.Errorf("%s is required", f.name)
		}
	}
	if _, err := os.Stat(o.Path); err != nil {
		return fmt.Errorf("--path: %w", err)
	}
	for _, a := range o.Annotations {
		if k, _, ok := strings.Cut(a, "="); !ok || k == "" {
			return fmt.Errorf("--annotations %q: must be key=value", a)
		}
	}
	if o.Output != "" && o.Output != "digest" {
		return fmt.Errorf("--output: must be digest, or not given")
	}
	return o.validate()
}

// Run packs and pushes.
func (o *PushArtifactOptions) Run(ctx context.Context) error {
	ann := map[string]string{}
	for _, a := range o.Annotations {
		k, v, _ := strings.Cut(a, "=")
		ann[k] = v
	}
	pushed, err := oci.Push(ctx, oci.PushOptions{
		URL: o.URL, Path: o.Path, Source: o.Source, Revision: o.Revision,
		Annotations: ann, Ignore: o.IgnorePaths, Client: o.client,
	})
	if err != nil {
		return err
	}
	if o.Output == "digest" {
		_, err = fmt.Fprintln(o.Out, pushed.Ref)
		return err
	}
	_, err = fmt.Fprintf(o.Out, "pushed %s (%d bytes) to tag %s\n", pushed.Ref, pushed.Size, pushed.Tag)
	return err
}

// TagArtifactOptions are the options of `tag artifact`.
type TagArtifactOptions struct {
	// URL is the argument: oci://host/path:tag or @sha256:<hex>.
	URL string
	// Tag is --tag, the new tag.
	Tag string

	registryFlags
	genericiooptions.IOStreams
}

func newTagArtifactCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &TagArtifactOptions{registryFlags: registryFlags{configFlags: flags}, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "artifact oci://HOST/PATH:TAG --tag NEW",
		Short: "Give an OCI artifact another tag",
		Long: `Point the tag NEW of the artifact's repository at the manifest the argument names (by tag or by
digest), without downloading the artifact: promote a tested artifact to the tag a sync follows.`,
		Example: `  # Promote what staging runs to production
  kubectl gitsync tag artifact oci://ghcr.io/team/app-config:1a2b3c4 --tag production`,
		Args: cobra.ExactArgs(1),
		RunE: runE(o),
	}
	cmd.Flags().StringVar(&o.Tag, "tag", "", "the new tag (required)")
	o.add(cmd)
	return cmd
}

// Complete reads the argument and builds the registry client.
func (o *TagArtifactOptions) Complete(cmd *cobra.Command, args []string) error {
	o.URL = args[0]
	return o.complete(cmd.Context())
}

// Validate checks the URL and the flags.
func (o *TagArtifactOptions) Validate() error {
	if _, err := oci.ParseReference(o.URL, o.Insecure); err != nil {
		return fmt.Errorf("%s: %v", redact.URL(o.URL), err)
	}
	if o.Tag == "" {
		return errors.New("--tag is required")
	}
	return o.validate()
}

// Run tags.
func (o *TagArtifactOptions) Run(ctx context.Context) error {
	ref, digest, err := oci.Tag(ctx, oci.TagOptions{URL: o.URL, Tag: o.Tag, Client: o.client})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(o.Out, "tagged %s as %s\n", digest, ref)
	return err
}
