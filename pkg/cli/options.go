package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gitsync/gitsync/pkg/action"
	"github.com/gitsync/gitsync/pkg/names"
)

// commandOptions is kubectl's Options pattern, which every command's
// options follow: Complete fills in what the flags and arguments leave
// open (namespace, clients, files to read), Validate only checks (no I/O),
// Run calls the operation in pkg/action and prints its result.
type commandOptions interface {
	Complete(cmd *cobra.Command, args []string) error
	Validate() error
	Run(ctx context.Context) error
}

// runE returns a cobra RunE that completes, validates and runs o, so that
// every command goes through the three steps in the same order.
func runE(o commandOptions) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := o.Complete(cmd, args); err != nil {
			return err
		}
		if err := o.Validate(); err != nil {
			return err
		}
		return o.Run(cmd.Context())
	}
}

// syncRef is what the commands about one sync share, embedded in their
// options: which sync, and the cluster its complete sets up.
type syncRef struct {
	// Name is the sync: the command's NAME argument, "" when it has none.
	Name string
	// Namespace is --namespace, else the kubeconfig context's namespace.
	Namespace string

	flags *genericclioptions.ConfigFlags
	// cfg is the cluster, with the clock the command's context carries.
	cfg *action.Config
}

// complete reads NAME (the first argument, if any) and the namespace, and
// builds the cluster's config.
func (r *syncRef) complete(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		r.Name = args[0]
	}
	var err error
	if r.Namespace, err = syncNamespace(r.flags); err != nil {
		return err
	}
	r.cfg, err = actionConfig(cmd.Context(), r.flags)
	return err
}

// ref returns the sync the command is about.
func (r *syncRef) ref() action.Ref { return action.Ref{Name: r.Name, Namespace: r.Namespace} }

// now is the command's clock.
func (r *syncRef) now() time.Time { return r.cfg.Now() }

// actionConfig returns the cluster the kubeconfig flags select, with the
// clock ctx carries.
func actionConfig(ctx context.Context, flags *genericclioptions.ConfigFlags) (*action.Config, error) {
	rc, err := flags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	cfg, err := action.NewConfig(rc)
	if err != nil {
		return nil, err
	}
	cfg.Now = clockFrom(ctx)
	return cfg, nil
}

// syncNamespace returns the namespace commands work in: --namespace, else
// the kubeconfig context's namespace, else "default".
func syncNamespace(flags *genericclioptions.ConfigFlags) (string, error) {
	ns, _, err := namespaceOf(flags)
	return ns, err
}

// namespaceOf is syncNamespace, also telling whether --namespace gave it.
func namespaceOf(flags *genericclioptions.ConfigFlags) (string, bool, error) {
	if flags.Namespace != nil && *flags.Namespace != "" {
		return *flags.Namespace, true, nil
	}
	ns, _, err := flags.ToRawKubeConfigLoader().Namespace()
	switch {
	case clientcmd.IsEmptyConfig(err):
		return metav1.NamespaceDefault, false, nil
	case err != nil:
		return "", false, fmt.Errorf("kubeconfig: namespace: %w", err)
	}
	return ns, false, nil
}

// validateSyncName checks a NAME argument, so that a typo is reported as
// such rather than as an API error about a ConfigMap name.
func validateSyncName(name string) error {
	if name == "" {
		return fmt.Errorf("NAME: required")
	}
	if err := names.Validate(name); err != nil {
		return fmt.Errorf("NAME %q: not a sync name: %w", name, err)
	}
	return nil
}

// clockKey is the context key of the clock commands read their "now" from.
type clockKey struct{}

// withClock returns ctx carrying now as the clock of the commands run with
// it, so tests get stable ages without any package-level state.
func withClock(ctx context.Context, now func() time.Time) context.Context {
	return context.WithValue(ctx, clockKey{}, now)
}

// clockFrom returns the clock ctx carries, or time.Now.
func clockFrom(ctx context.Context) func() time.Time {
	if ctx != nil {
		if now, ok := ctx.Value(clockKey{}).(func() time.Time); ok {
			return now
		}
	}
	return time.Now
}
