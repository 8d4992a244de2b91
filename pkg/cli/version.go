package cli

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/version"
)

// versionOptions are the options of `kubectl gitsync version`.
type versionOptions struct {
	// Output is "" (one line), "json" or "yaml".
	Output string

	genericiooptions.IOStreams
}

// newVersionCommand returns the `version` command.
func newVersionCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &versionOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the plugin's version and the sync-job image it installs",
		Example: `  kubectl gitsync version
  kubectl gitsync version -o json`,
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Output format: json or yaml")
	return cmd
}

// Complete has nothing to complete: version needs no cluster.
func (o *versionOptions) Complete(*cobra.Command, []string) error { return nil }

// Validate checks the flags.
func (o *versionOptions) Validate() error {
	switch o.Output {
	case "", "json", "yaml":
		return nil
	}
	return fmt.Errorf("--output: must be json or yaml, not %q", o.Output)
}

// Run prints the version.
func (o *versionOptions) Run(context.Context) error {
	info := version.Get()
	out := map[string]any{"plugin": info, "syncJobImage": install.DefaultImage()}
	switch o.Output {
	case "json":
		data, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(o.Out, string(data))
		return err
	case "yaml":
		data, err := yaml.Marshal(out)
		if err != nil {
			return err
		}
		_, err = o.Out.Write(data)
		return err
	}
	_, err := fmt.Fprintf(o.Out, "kubectl-gitsync %s\nsync-job image (install's default): %s\n", info, install.DefaultImage())
	return err
}
