package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/gitsync/gitsync/pkg/action"
	"github.com/gitsync/gitsync/pkg/format"
	"github.com/gitsync/gitsync/pkg/install"
)

// convertOptions are the options of `kubectl gitsync convert`.
type convertOptions struct {
	// Filenames are -f: files, directories (read recursively) or "-".
	Filenames []string
	// FromCluster reads Flux's objects from the cluster.
	FromCluster bool
	// AllNamespaces (-A) reads them from every namespace.
	AllNamespaces bool
	// Image and RBAC are install's --image and --rbac.
	Image, RBAC string

	namespace     string
	namespaceFlag bool
	inputs        []action.ConvertInput
	flags         *genericclioptions.ConfigFlags
	cfg           *action.Config
	mapper        meta.RESTMapper

	genericiooptions.IOStreams
}

// newConvertCommand returns the `convert` command.
func newConvertCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &convertOptions{flags: flags, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "convert -f FILE|DIR|- ... | convert --from-cluster [-A]",
		Short: "Turn Flux Kustomizations and HelmReleases into gitsync syncs, one CronJob each",
		Long: `Read Flux's objects and print, for each Kustomization and HelmRelease, the sync made of it and of the
source it reads: what "kubectl gitsync install --export" prints (spec ConfigMap, ServiceAccount, RBAC,
CronJob). Apply the output with kubectl apply --server-side -f.

This is for those who prefer one CronJob per Flux unit. Without converting anything, a sync of the repository
that holds the Flux objects runs them as they are, as units of one run (docs/flux.md).

Nothing is dropped silently. Each field that cannot be converted (dependsOn on a unit not converted with
it, a deletionPolicy, a refused field) and each field that has no effect in gitsync is a comment above its sync
naming the field and why. interval becomes the CronJob's schedule, as install --interval makes it. Objects
that are not Flux's, and sources that no unit reads, are listed in comments at the top.

-f reads files, directories (recursively: *.yaml, *.yml, *.json) or - for stdin, and may be repeated.
--from-cluster reads the Flux objects of a cluster where Flux runs (of --namespace, or of every namespace
with -A). Objects without a namespace are put in --namespace if given, else in flux-system.`,
		Example: `  # Convert a Flux repository's cluster directory
  kubectl gitsync convert -f clusters/production/ -f apps/ > gitsync.yaml

  # Convert what Flux runs in this cluster, then install it
  kubectl gitsync convert --from-cluster -A | kubectl apply --server-side -f -`,
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	cmd.Flags().StringArrayVarP(&o.Filenames, "filename", "f", nil, "file, directory (recursive) or - (stdin) holding Flux objects; repeatable")
	cmd.Flags().BoolVar(&o.FromCluster, "from-cluster", false, "read Flux's objects from the cluster (Flux's CRDs must be installed)")
	cmd.Flags().BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "with --from-cluster, read every namespace")
	cmd.Flags().StringVar(&o.Image, "image", "", "sync-job image (default "+install.DefaultImage()+")")
	cmd.Flags().StringVar(&o.RBAC, "rbac", string(install.RBACNamespace), "RBAC of each sync, as install --rbac: namespace or cluster")
	return cmd
}

// Complete reads the files, or builds the clients for --from-cluster.
func (o *convertOptions) Complete(cmd *cobra.Command, _ []string) error {
	var err error
	if o.FromCluster {
		if o.namespace, err = syncNamespace(o.flags); err != nil {
			return err
		}
		if o.cfg, err = actionConfig(cmd.Context(), o.flags); err != nil {
			return err
		}
		if o.mapper, err = o.flags.ToRESTMapper(); err != nil {
			return fmt.Errorf("kubeconfig: discovery: %w", err)
		}
		return nil
	}
	if o.flags.Namespace != nil && *o.flags.Namespace != "" {
		o.namespace, o.namespaceFlag = *o.flags.Namespace, true
	}
	for _, f := range o.Filenames {
		in, err := readConvertInputs(f, o.In)
		if err != nil {
			return fmt.Errorf("--filename: %w", err)
		}
		o.inputs = append(o.inputs, in...)
	}
	return nil
}

// Validate checks the flags.
func (o *convertOptions) Validate() error {
	switch {
	case o.FromCluster && len(o.Filenames) > 0:
		return errors.New("--from-cluster: cannot be combined with --filename")
	case !o.FromCluster && len(o.Filenames) == 0:
		return errors.New("--filename or --from-cluster: say what to convert")
	case o.AllNamespaces && !o.FromCluster:
		return errors.New("--all-namespaces: only with --from-cluster")
	case !slices.Contains(install.RBACModes(), install.RBACMode(o.RBAC)):
		return fmt.Errorf("--rbac: %q: must be namespace or cluster", o.RBAC)
	}
	return nil
}

// Run converts and prints.
func (o *convertOptions) Run(ctx context.Context) error {
	opts := action.ConvertOptions{Inputs: o.inputs, Install: install.Options{Image: o.Image, RBAC: install.RBACMode(o.RBAC)}}
	if o.namespaceFlag {
		opts.DefaultNamespace = o.namespace
	}
	if o.FromCluster {
		ns := o.namespace
		if o.AllNamespaces {
			ns = ""
		}
		in, err := action.ReadFluxObjects(ctx, o.cfg, o.mapper, ns)
		if err != nil {
			return err
		}
		opts.Inputs = in
	}
	res, err := action.Convert(opts)
	if err != nil {
		return err
	}
	out, err := formatConvert(res)
	if err != nil {
		return err
	}
	_, err = io.WriteString(o.Out, out)
	return err
}

// formatConvert prints res as YAML: the notes as comments, then each sync
// with its comments and the objects install --export prints for it.
func formatConvert(res *action.ConvertResult) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "# kubectl gitsync convert: %s\n", format.Count(len(res.Syncs), "sync"))
	for _, n := range res.Notes {
		fmt.Fprintf(&b, "# left out: %s\n", n)
	}
	for _, s := range res.Syncs {
		b.WriteString("---\n")
		fmt.Fprintf(&b, "# Sync %s/%s from %s %s (%s), source %s\n", s.Sync.Namespace, s.Sync.Name, s.From, s.APIVersion, s.Origin, s.Source)
		for _, n := range s.NotConverted {
			fmt.Fprintf(&b, "#   not converted: %s: %s\n", n.Path, oneLineNote(n.Note))
		}
		for _, n := range s.Ignored {
			fmt.Fprintf(&b, "#   no effect in gitsync: %s: %s\n", n.Path, oneLineNote(n.Note))
		}
		data, err := install.Marshal(s.Objects.List(), install.FormatYAML)
		if err != nil {
			return "", fmt.Errorf("%s: %w", s.From, err)
		}
		b.Write(data)
	}
	return b.String(), nil
}

// oneLineNote joins a note's lines and drops Markdown backquotes.
func oneLineNote(s string) string {
	return strings.ReplaceAll(strings.Join(strings.Fields(s), " "), "`", "")
}

// readConvertInputs reads the objects of a file, a directory (recursively)
// or "-" (in).
func readConvertInputs(name string, in io.Reader) ([]action.ConvertInput, error) {
	if name == "-" {
		data, err := io.ReadAll(in)
		if err != nil {
			return nil, err
		}
		return decodeConvertInputs("stdin", data)
	}
	fi, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		return decodeConvertInputs(name, data)
	}
	var out []action.ConvertInput
	err = filepath.WalkDir(name, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != name && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(p) {
		case ".yaml", ".yml", ".json":
		default:
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		objs, err := decodeConvertInputs(p, data)
		out = append(out, objs...)
		return err
	})
	return out, err
}

// decodeConvertInputs decodes the YAML or JSON documents of file; each
// object's origin is file#N, N counting documents from 1. A kustomization
// file is skipped: it holds no object.
func decodeConvertInputs(file string, data []byte) ([]action.ConvertInput, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []action.ConvertInput
	for n := 1; ; n++ {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", file, n, err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "" || u.GetAPIVersion() == "" {
			return nil, fmt.Errorf("%s: document %d: apiVersion and kind are required", file, n)
		}
		if u.GetKind() == "Kustomization" && strings.HasPrefix(u.GetAPIVersion(), "kustomize.config.k8s.io/") {
			continue
		}
		out = append(out, action.ConvertInput{Object: u, Origin: fmt.Sprintf("%s#%d", filepath.ToSlash(file), n)})
	}
}
