package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/gitsync/gitsync/pkg/action"
	"github.com/gitsync/gitsync/pkg/install"
)

// exportOptions are the options of `kubectl gitsync export`.
type exportOptions struct {
	// Names are the syncs to export (the arguments).
	Names []string
	// All exports every sync of the namespace (every namespace with -A).
	All bool
	// AllNamespaces (-A) makes --all list every namespace.
	AllNamespaces bool
	// Manifests prints the objects install writes (install --export's
	// form) instead of Sync documents.
	Manifests bool
	// Output is yaml (default) or json.
	Output string

	syncRef
	genericiooptions.IOStreams
}

// newExportCommand returns the `export` command.
func newExportCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &exportOptions{syncRef: syncRef{flags: flags}, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "export NAME... | export --all [-A]",
		Short: "Print installed syncs as Sync documents (or manifests) to move them into Git",
		Long: `Read syncs back from the cluster and print them in the form install takes, so that a sync installed
from the command line can be kept in Git, reviewed, and installed again elsewhere.

By default each sync is printed as a Sync document (what install -f reads). What is not part of the spec
(the sync-job image, the RBAC mode and extra rules) is read from the live CronJob and Role; when it differs
from install's defaults, a comment line before the document gives the install flags that reproduce it:
  kubectl gitsync export web | kubectl gitsync install -f - [the flags in the comment]
changes nothing in the cluster.

--manifests prints the objects themselves (ServiceAccount, RBAC, spec ConfigMap, CronJob) exactly as
install --export prints them, for kubectl apply --server-side or a bootstrap repository.`,
		Example: `  # Move sync web into Git
  kubectl gitsync export web -n team-a > clusters/prod/web.sync.yaml

  # Every sync of the cluster, as manifests
  kubectl gitsync export --all -A --manifests`,
		ValidArgsFunction: completeSyncNames(flags),
		RunE:              runE(o),
	}
	f := cmd.Flags()
	f.BoolVar(&o.All, "all", false, "export every sync of the namespace")
	f.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "with --all: every namespace")
	f.BoolVar(&o.Manifests, "manifests", false, "print the objects install writes instead of Sync documents")
	f.StringVarP(&o.Output, "output", "o", "", "yaml (default) or json")
	return cmd
}

// Complete reads the names, the namespace and builds the clients.
func (o *exportOptions) Complete(cmd *cobra.Command, args []string) error {
	o.Names = args
	return o.complete(cmd, nil)
}

// Validate checks the arguments and flags.
func (o *exportOptions) Validate() error {
	switch {
	case o.All && len(o.Names) > 0:
		return errors.New("--all: cannot be combined with NAME")
	case !o.All && len(o.Names) == 0:
		return errors.New("NAME: required, or --all")
	case o.AllNamespaces && !o.All:
		return errors.New("--all-namespaces: only with --all")
	case o.Output != "" && o.Output != install.FormatYAML && o.Output != install.FormatJSON:
		return fmt.Errorf("--output: must be yaml or json, not %q", o.Output)
	}
	for _, n := range o.Names {
		if err := validateSyncName(n); err != nil {
			return err
		}
	}
	return nil
}

// Run reads the syncs and prints them.
func (o *exportOptions) Run(ctx context.Context) error {
	opts := action.ExportOptions{All: o.All, Namespace: o.Namespace}
	if o.AllNamespaces {
		opts.Namespace = ""
	}
	for _, n := range o.Names {
		opts.Refs = append(opts.Refs, action.Ref{Name: n, Namespace: o.Namespace})
	}
	syncs, err := action.Export(ctx, o.cfg, opts)
	if err != nil {
		return err
	}
	if len(syncs) == 0 {
		return fmt.Errorf("no syncs in %s", action.NamespaceWords(opts.Namespace))
	}
	format := o.Output
	if format == "" {
		format = install.FormatYAML
	}
	data, err := marshalExport(syncs, o.Manifests, format)
	if err != nil {
		return err
	}
	_, err = o.Out.Write(data)
	return err
}

// marshalExport encodes syncs as Sync documents (with a comment giving the
// install flags beyond the spec) or, with manifests, as install --export
// prints them.
func marshalExport(syncs []action.ExportedSync, manifests bool, format string) ([]byte, error) {
	if manifests {
		var objs []runtime.Object
		for _, s := range syncs {
			objs = append(objs, s.Objects.List()...)
		}
		return install.Marshal(objs, format)
	}
	if format == install.FormatJSON {
		var items []json.RawMessage
		for _, s := range syncs {
			b, err := json.Marshal(s.Sync)
			if err != nil {
				return nil, err
			}
			items = append(items, b)
		}
		b, err := json.MarshalIndent(map[string]any{"apiVersion": "v1", "kind": "List", "items": items}, "", "  ")
		return append(b, '\n'), err
	}
	var buf bytes.Buffer
	for i, s := range syncs {
		if i > 0 {
			buf.WriteString("---\n")
		}
		if flags := InstallFlags(s.Install); len(flags) > 0 {
			fmt.Fprintf(&buf, "# install flags: %s\n", strings.Join(flags, " "))
		}
		b, err := s.Sync.Marshal()
		if err != nil {
			return nil, err
		}
		buf.Write(b)
	}
	return buf.Bytes(), nil
}

// InstallFlags returns the install flags that reproduce opts, leaving out
// defaults.
func InstallFlags(opts install.Options) []string {
	var out []string
	if opts.Image != "" && opts.Image != install.DefaultImage() {
		out = append(out, "--image="+opts.Image)
	}
	if opts.RBAC != "" && opts.RBAC != install.RBACNamespace {
		out = append(out, "--rbac="+string(opts.RBAC))
	}
	for _, r := range opts.ExtraRules {
		out = append(out, ruleFlags(r)...)
	}
	return out
}

// ruleFlags writes a rule in ParseRule's notation, one flag per group and
// resource.
func ruleFlags(r rbacv1.PolicyRule) []string {
	verbs := ""
	if !slices.Equal(r.Verbs, install.ManagedVerbs()) {
		verbs = ":" + strings.Join(r.Verbs, ",")
	}
	var out []string
	for _, g := range r.APIGroups {
		for _, res := range r.Resources {
			s := res
			if g != "" {
				s += "." + g
			}
			out = append(out, "--rbac-extra-rule="+s+verbs)
		}
	}
	return out
}
