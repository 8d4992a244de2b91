package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/gitsync/gitsync/pkg/action"
	"github.com/gitsync/gitsync/pkg/lockdown"
)

// lockdownOptions are the options of `kubectl gitsync lockdown`.
type lockdownOptions struct {
	// DefaultServiceAccount is --default-service-account.
	DefaultServiceAccount string
	// Off is --off: remove the lockdown.
	Off bool
	// Show is --show: print the lockdown, change nothing.
	Show bool

	namespace  string
	saChanged  bool
	flags      *genericclioptions.ConfigFlags
	printFlags *printFlags
	genericiooptions.IOStreams
}

// newLockdownCommand returns the `lockdown` command.
func newLockdownCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &lockdownOptions{flags: flags, printFlags: newPrintFlags(outputTable), IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "lockdown",
		Short: "Lock a tenant's namespace down: no cross-namespace references, a default ServiceAccount",
		Long: `Hold every sync of a namespace, and every Flux Kustomization and HelmRelease its runs execute, to the
multi-tenancy lockdown that Flux sets with its controllers' --no-cross-namespace-refs and
--default-service-account flags:

- a sourceRef, chartRef or dependsOn that names another namespace than the referring object's is refused;
- with --default-service-account SA, a sync or unit that names no serviceAccountName is impersonated as SA of
  its namespace (a sync with a kubeConfig keeps the kubeconfig's identity).

The lockdown is written as annotations on the Namespace (gitsync.io/no-cross-namespace-refs,
gitsync.io/default-service-account), which only cluster administrators can change: not a tenant with admin
rights in the namespace, nor anything in the tenant's Git repository or sync spec. Every run reads it, so it
holds for syncs installed before it; install then writes the default ServiceAccount into the spec and
generates the RBAC that impersonates it. Run it when a tenant's namespace is created, before installing syncs
there.`,
		Example: `  # Lock team-a down; its syncs apply as ServiceAccount deployer unless they name another
  kubectl gitsync lockdown -n team-a --default-service-account deployer

  # Show the lockdown of team-a
  kubectl gitsync lockdown -n team-a --show -o yaml

  # Lift it
  kubectl gitsync lockdown -n team-a --off`,
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	f := cmd.Flags()
	f.StringVar(&o.DefaultServiceAccount, "default-service-account", "", "ServiceAccount of the namespace that syncs and units naming none are impersonated as (\"\" for none)")
	f.BoolVar(&o.Off, "off", false, "remove the namespace's lockdown")
	f.BoolVar(&o.Show, "show", false, "print the namespace's lockdown and change nothing")
	o.printFlags.addFlags(cmd, false)
	return cmd
}

// Complete reads the namespace and which flags were given.
func (o *lockdownOptions) Complete(cmd *cobra.Command, _ []string) error {
	var err error
	if o.namespace, _, err = namespaceOf(o.flags); err != nil {
		return err
	}
	o.saChanged = cmd.Flags().Changed("default-service-account")
	return o.printFlags.complete()
}

// Validate checks that the flags agree.
func (o *lockdownOptions) Validate() error {
	switch {
	case o.Off && o.Show:
		return fmt.Errorf("--off and --show: give one")
	case o.Off && o.saChanged:
		return fmt.Errorf("--off and --default-service-account: --off removes the default ServiceAccount too")
	case o.Show && o.saChanged:
		return fmt.Errorf("--show and --default-service-account: --show changes nothing")
	}
	return lockdown.Policy{DefaultServiceAccount: o.DefaultServiceAccount}.Validate()
}

// Run reads or writes the lockdown and prints it.
func (o *lockdownOptions) Run(ctx context.Context) error {
	cfg, err := actionConfig(ctx, o.flags)
	if err != nil {
		return err
	}
	var res *action.LockdownResult
	if o.Show {
		p, err := action.ReadLockdown(ctx, cfg, o.namespace)
		if err != nil {
			return err
		}
		res = &action.LockdownResult{Namespace: o.namespace, Before: p, After: p}
	} else {
		want := lockdown.Policy{}
		if !o.Off {
			cur, err := action.ReadLockdown(ctx, cfg, o.namespace)
			if err != nil {
				return err
			}
			want = lockdown.Policy{NoCrossNamespaceRefs: true, DefaultServiceAccount: cur.DefaultServiceAccount}
			if o.saChanged {
				want.DefaultServiceAccount = o.DefaultServiceAccount
			}
		}
		if res, err = action.SetLockdown(ctx, cfg, o.namespace, want); err != nil {
			return err
		}
	}
	if !o.printFlags.table() {
		return o.printFlags.print(o.Out, res, nil)
	}
	verb := "unchanged"
	if res.Changed {
		verb = "changed"
	}
	if o.Show {
		verb = ""
	}
	line := fmt.Sprintf("Namespace/%s: %s", res.Namespace, res.After)
	if verb != "" {
		line += " (" + verb + ")"
	}
	if _, err := fmt.Fprintln(o.Out, line); err != nil {
		return err
	}
	if res.MissingServiceAccount {
		fmt.Fprintf(o.ErrOut, "warning: ServiceAccount/%s/%s does not exist: the namespace's syncs that name no ServiceAccount fail until it does (its administrator creates it and grants its rights)\n",
			res.Namespace, res.After.DefaultServiceAccount)
	}
	return nil
}
