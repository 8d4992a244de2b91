package cli

import (
	"context"
	"maps"
	"slices"
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
		return withPrefix(names, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeNamespaces completes --namespace with the cluster's namespaces.
func completeNamespaces(flags *genericclioptions.ConfigFlags) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		ctx, cancel := context.WithTimeout(cmd.Context(), completionTimeout)
		defer cancel()
		cfg, err := actionConfig(ctx, flags)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		names, err := action.ListNamespaces(ctx, cfg)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return withPrefix(names, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeContexts completes --context with the kubeconfig's contexts; it
// needs no cluster.
func completeContexts(flags *genericclioptions.ConfigFlags) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		raw, err := flags.ToRawKubeConfigLoader().RawConfig()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return withPrefix(slices.Sorted(maps.Keys(raw.Contexts)), toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// withPrefix returns the names that start with prefix.
func withPrefix(names []string, prefix string) []cobra.Completion {
	var out []cobra.Completion
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out
}
