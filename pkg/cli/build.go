package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	"github.com/gitsync/gitsync/pkg/action"
)

// buildOptions are the options of `kubectl gitsync build`; the embedded
// syncRef names the sync.
type buildOptions struct {
	// renderFlags say what is rendered (--path, -f, --offline).
	renderFlags
	// print is -o: yaml (the default, "" too), json (a v1 List), name,
	// jsonpath=... or go-template=... (over that List).
	print *printFlags
	// showSecrets is --show-secrets: print Secret values.
	showSecrets bool

	syncRef
	genericiooptions.IOStreams
}

// newBuildCommand returns the `build` command. flags are the root's
// kubeconfig flags.
func newBuildCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &buildOptions{syncRef: syncRef{flags: flags}, IOStreams: streams, print: newPrintFlags(outputTable, outputYAML, outputJSON)}
	o.print.Output = outputYAML
	cmd := &cobra.Command{
		Use:   "build NAME [--path DIR] | build [NAME] -f SYNC.yaml [--path DIR] [--offline]",
		Short: "Print the manifests a run of a sync would apply",
		Long: `Render the sync NAME as a run would and print the result: the source at the spec's ref (or, with --path,
a local directory rendered with the spec's options), after kustomize, patches, images and postBuild
substitution, with the sync's namespace set on namespaced objects that have none and with the labels gitsync
adds (the ApplySet part-of label and the sync's labels). Objects come in render order: by group, kind,
namespace and name.

The spec, its substitution variables and the cluster's discovery (which kinds are namespaced) are read from
the cluster; nothing is written. Values of Secrets (data and stringData, including values decrypted from
SOPS-encrypted files) are printed as *** unless --show-secrets is given.

-f renders a Sync document instead of the installed spec, so a sync can be previewed before it is installed.
With --offline no cluster is contacted at all (in CI, say): the built-in kinds and the CustomResourceDefinitions
in the render decide which objects are namespaced, and a spec whose secretRef, substituteFrom or valuesFrom
name objects in the cluster cannot be rendered.`,
		Example: `  # The manifests the next run of web applies
  kubectl gitsync build web

  # Render a local checkout with web's options, as a JSON List
  kubectl gitsync build web --path ./deploy -o json

  # In CI, without a cluster: a Sync document and the checkout
  kubectl gitsync build -f sync.yaml --path ./deploy --offline`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeSyncNames(flags),
		RunE:              runE(o),
	}
	o.renderFlags.addFlags(cmd, flags)
	o.print.addFlags(cmd, false)
	cmd.Flags().BoolVar(&o.showSecrets, "show-secrets", false, "print the values of Secrets instead of ***")
	return cmd
}

// Complete resolves -o, reads the argument, the namespace and the Sync
// document, checks that --path is a directory, and builds the cluster's
// config (unless offline).
func (o *buildOptions) Complete(cmd *cobra.Command, args []string) error {
	if err := o.print.complete(); err != nil {
		return err
	}
	return o.renderFlags.complete(&o.syncRef, cmd, args, o.In)
}

// Validate checks the name, or the Sync document.
func (o *buildOptions) Validate() error {
	return o.renderFlags.validate(&o.syncRef)
}

// Run renders and prints.
func (o *buildOptions) Run(ctx context.Context) error {
	objs, err := action.Build(ctx, o.cfg, action.BuildOptions{RenderOptions: o.options(&o.syncRef), ShowSecrets: o.showSecrets})
	if err != nil {
		return err
	}
	items := make([]any, len(objs))
	for i, u := range objs {
		items[i] = u.Object
	}
	list := map[string]any{"apiVersion": "v1", "kind": "List", "items": items}
	var buf bytes.Buffer
	switch o.print.Output {
	case outputJSON:
		data, err := json.MarshalIndent(list, "", "  ")
		if err != nil {
			return err
		}
		buf.Write(data)
		buf.WriteByte('\n')
	case outputYAML, outputTable:
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
	default:
		named := make([]runtime.Object, len(objs))
		for i, u := range objs {
			named[i] = u
		}
		return o.print.print(o.Out, list, named)
	}
	_, err = o.Out.Write(buf.Bytes())
	return err
}
