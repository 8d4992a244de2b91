// Package cli is the command tree of the kubectl gitsync plugin. Every
// command follows kubectl's Options pattern (Complete, Validate, Run), writes
// to the IOStreams it is given and returns errors; only main exits.
package cli

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// NewRootCommand returns a fresh `kubectl gitsync` command tree, so each
// caller (main, or a test) gets its own flags and state.
func NewRootCommand(streams genericiooptions.IOStreams) *cobra.Command {
	flags := genericclioptions.NewConfigFlags(true)
	root := &cobra.Command{
		Use:   "kubectl-gitsync",
		Short: "GitOps for Kubernetes without resident operators",
		Long: `kubectl gitsync installs and operates syncs: each sync is a CronJob whose sync-job container fetches a
Git repository, renders it with kustomize, server-side applies it, prunes what was removed, records the result
in ConfigMaps and exits. Nothing of gitsync runs between runs.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations: map[string]string{
			cobra.CommandDisplayNameAnnotation: "kubectl gitsync",
		},
	}
	flags.AddFlags(root.PersistentFlags())
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.AddCommand(NewVersionCommand(streams))
	root.AddCommand(NewInstallCommand(flags, streams))
	root.AddCommand(NewRunCommand(flags, streams))
	root.AddCommand(NewRollbackCommand(flags, streams))
	root.AddCommand(NewDiffCommand(flags, streams))
	root.AddCommand(NewBuildCommand(flags, streams))
	root.AddCommand(NewStatusCommand(flags, streams))
	root.AddCommand(NewHistoryCommand(flags, streams))
	root.AddCommand(NewTreeCommand(flags, streams))
	root.AddCommand(NewTraceCommand(flags, streams))
	root.AddCommand(NewSuspendCommand(flags, streams))
	root.AddCommand(NewResumeCommand(flags, streams))
	root.AddCommand(NewUninstallCommand(flags, streams))
	root.AddCommand(NewCheckCommand(flags, streams))
	root.AddCommand(NewLogsCommand(flags, streams))
	root.AddCommand(NewArtifactCommands(flags, streams)...)
	return root
}
