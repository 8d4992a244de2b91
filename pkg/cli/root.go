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
	// Completion through kubectl needs the shim kubectl_complete-gitsync on
	// PATH (kubectl 1.26+); see cmd/kubectl-gitsync.
	for flag, complete := range map[string]cobra.CompletionFunc{
		"namespace": completeNamespaces(flags),
		"context":   completeContexts(flags),
	} {
		if err := root.RegisterFlagCompletionFunc(flag, complete); err != nil {
			panic(err) // the flags were just added: a programming error
		}
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.AddCommand(newVersionCommand(streams))
	root.AddCommand(newInstallCommand(flags, streams))
	root.AddCommand(newRunCommand(flags, streams))
	root.AddCommand(newRollbackCommand(flags, streams))
	root.AddCommand(newDiffCommand(flags, streams))
	root.AddCommand(newBuildCommand(flags, streams))
	root.AddCommand(newStatusCommand(flags, streams))
	root.AddCommand(newHistoryCommand(flags, streams))
	root.AddCommand(newTreeCommand(flags, streams))
	root.AddCommand(newTraceCommand(flags, streams))
	root.AddCommand(newSuspendCommand(flags, streams))
	root.AddCommand(newResumeCommand(flags, streams))
	root.AddCommand(newUninstallCommand(flags, streams))
	root.AddCommand(newCheckCommand(flags, streams))
	root.AddCommand(newLogsCommand(flags, streams))
	root.AddCommand(newEventsCommand(flags, streams))
	root.AddCommand(newImagesCommand(flags, streams))
	root.AddCommand(newArtifactCommands(flags, streams)...)
	root.AddCommand(newCreateCommand(flags, streams))
	root.AddCommand(newExportCommand(flags, streams))
	root.AddCommand(newBootstrapCommand(flags, streams))
	root.AddCommand(newConvertCommand(flags, streams))
	root.AddCommand(newLockdownCommand(flags, streams))
	return root
}
