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

	"github.com/gitsync/gitsync/pkg/action"
)

// buildOptions are the options of `kubectl gitsync build`; the embedded
// syncRef names the sync.
type buildOptions struct {
	// Path is a local directory rendered in place of the sync's source
	// (--path). Default: fetch the source as a run does.
	Path string
	// Output is outputYAML (the default, "" too) or outputJSON (a v1 List).
	Output string

	syncRef
	genericiooptions.IOStreams
}

// newBuildCommand returns the `build` command. flags are the root's
// kubeconfig flags.
func newBuildCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &buildOptions{syncRef: syncRef{flags: flags}, IOStreams: streams}
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
		ValidArgsFunction: completeSyncNames(flags),
		RunE:              runE(o),
	}
	cmd.Flags().StringVar(&o.Path, "path", "", "render this local directory instead of the sync's source")
	cmd.Flags().StringVarP(&o.Output, "output", "o", outputYAML, "output format: yaml or json")
	return cmd
}

// Complete reads the argument and the namespace, checks that --path is a
// directory, and builds the cluster's config.
func (o *buildOptions) Complete(cmd *cobra.Command, args []string) error {
	if err := action.CheckLocalPath(o.Path); err != nil {
		return fmt.Errorf("--path: %w", err)
	}
	return o.complete(cmd, args)
}

// Validate checks the name and --output.
func (o *buildOptions) Validate() error {
	if err := validateSyncName(o.Name); err != nil {
		return err
	}
	return validateOutput(o.Output, outputTable, outputYAML, outputJSON)
}

// Run renders and prints.
func (o *buildOptions) Run(ctx context.Context) error {
	objs, err := action.Build(ctx, o.cfg, action.BuildOptions{RenderOptions: action.RenderOptions{Ref: o.ref(), Path: o.Path}})
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if o.Output == outputJSON {
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
