package cli

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/gitsync/gitsync/pkg/action"
)

// completionTimeout bounds the cluster request of a completion: a shell
// waiting on an unreachable cluster must give up quickly.
const completionTimeout = 5 * time.Second

// completeSyncNames returns a cobra ValidArgsFunction that completes the
// first argument with the names of the syncs in the namespace the
// kubeconfig flags select (spec ConfigMaps gitsync-NAME with key sync.yaml).
// Further arguments get no completion, and neither does anything when the
// cluster cannot be read: completion never prints errors.
func completeSyncNames(flags *genericclioptions.ConfigFlags) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		// cobra's __complete runs through ExecuteC, which always sets a
		// context.
		ctx, cancel := context.WithTimeout(cmd.Context(), completionTimeout)
		defer cancel()
		namespace, err := syncNamespace(flags)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		cfg, err := actionConfig(ctx, flags)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		names, err := action.ListSyncNames(ctx, cfg, action.ListOptions{Namespace: namespace})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, n := range names {
			if strings.HasPrefix(n, toComplete) {
				out = append(out, n)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
