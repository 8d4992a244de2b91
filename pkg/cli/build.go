package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"
)

// BuildOptions are the options of `kubectl gitsync build`.
type BuildOptions struct {
	// Name is the sync; Namespace its namespace (--namespace, else the
	// kubeconfig context's).
	Name, Namespace string
	// Path is a local directory rendered in place of the sync's source
	// (--path). Default: fetch the source as a run does.
	Path string
	// Output is OutputYAML (the default, "" too) or OutputJSON (a v1 List).
	Output string

	configFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams
}

// NewBuildCommand returns the `build` command. flags are the root's
// kubeconfig flags.
func NewBuildCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &BuildOptions{configFlags: flags, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "build NAME [--path DIR]",
		Short: "Print the manifests a run of a sync would apply",
		Long: `Render the sync NAME as a run would and print the result: the source at the spec's ref (or, with --path,
a local directory rendered with the spec's options), after kustomize, patches, images and postBuild
substitution, with the sync's namespace set on namespaced objects that have none and with the labels gitsync
adds (the ApplySet part-of label and the sync's labels). Objects come in render order: by group, kind,
namespace and name.

The spec, its substitution variables and the cluster's discovery (which kinds are namespaced) are read from
the cluster; nothing is written. Secrets are printed as rendered, values included, as kustomize build does.`,
		Example: `  # The manifests the next run of web applies
  kubectl gitsync build web

  # Render a local checkout with web's options, as a JSON List
  kubectl gitsync build web --path ./deploy -o json`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: CompleteSyncNames(flags),
		RunE:              runE(o),
	}
	cmd.Flags().StringVar(&o.Path, "path", "", "render this local directory instead of the sync's source")
	cmd.Flags().StringVarP(&o.Output, "output", "o", OutputYAML, "output format: yaml or json")
	return cmd
}

// Complete reads the argument and the namespace.
func (o *BuildOptions) Complete(_ *cobra.Command, args []string) error {
	o.Name = args[0]
	ns, err := SyncNamespace(o.configFlags)
	o.Namespace = ns
	return err
}

// Validate checks the name, --path and --output.
func (o *BuildOptions) Validate() error {
	if err := ValidateSyncName(o.Name); err != nil {
		return err
	}
	if err := ValidateOutput(o.Output, OutputTable, OutputYAML, OutputJSON); err != nil {
		return err
	}
	return validateLocalPath(o.Path)
}

// Run renders and prints.
func (o *BuildOptions) Run(ctx context.Context) error {
	r, err := renderSync(ctx, o.configFlags, o.Name, o.Namespace, o.Path)
	if err != nil {
		return err
	}
	objs := r.WithLabels()
	var buf bytes.Buffer
	if o.Output == OutputJSON {
		items := make([]any, len(objs))
		for i, u := range objs {
			items[i] = u.Object
		}
		data, err := json.MarshalIndent(map[string]any{"apiVersion": "v1", "kind": "List", "items": items}, "", "  ")
		if err != nil {
			return err
		}
		buf.Write(data)
		buf.WriteByte('\n')
	} else {
		for i, u := range objs {
			if i > 0 {
				buf.WriteString("---\n")
			}
			data, err := yaml.Marshal(u.Object)
			if err != nil {
				return fmt.Errorf("%s/%s: %w", u.GetKind(), u.GetName(), err)
			}
			buf.Write(data)
		}
	}
	_, err = o.Out.Write(buf.Bytes())
	return err
}
