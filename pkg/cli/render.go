package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/gitsync/gitsync/pkg/action"
	"github.com/gitsync/gitsync/pkg/flux"
	"github.com/gitsync/gitsync/pkg/spec"
)

// renderFlags say what build and diff render: the installed spec or a Sync
// document (-f), the spec's source or a local directory (--path), with the
// cluster or, with --offline, without one.
type renderFlags struct {
	// Path is a local directory rendered in place of the sync's source.
	Path string
	// Filename is a Sync document to render instead of the installed spec,
	// "-" for stdin.
	Filename string
	// Offline renders without contacting a cluster; it needs Filename.
	Offline bool
	// Unit is --unit: Kind/namespace/name of a unit of the sync to render
	// instead of the sync itself.
	Unit string

	// document is Filename's content, read by complete.
	document []byte
	// spec is document parsed, set by validate.
	spec *spec.Sync
	// unit is Unit parsed, set by validate.
	unit flux.ID
}

func (f *renderFlags) addFlags(cmd *cobra.Command, flags *genericclioptions.ConfigFlags) {
	cmd.Flags().StringVar(&f.Path, "path", "", "render this local directory instead of the sync's source")
	cmd.Flags().StringVarP(&f.Filename, "filename", "f", "", "Sync document to render instead of the installed spec (- for stdin); NAME is then optional")
	cmd.Flags().BoolVar(&f.Offline, "offline", false, "contact no cluster: needs -f; the built-in kinds and the render's CRDs decide what is namespaced")
	cmd.Flags().StringVar(&f.Unit, "unit", "", unitFlagUsage)
	_ = cmd.RegisterFlagCompletionFunc("unit", completeUnits(flags))
}

// complete reads the document and checks --path, then completes r: NAME,
// the namespace and, unless offline, the cluster.
func (f *renderFlags) complete(r *syncRef, cmd *cobra.Command, args []string, in io.Reader) error {
	if err := action.CheckLocalPath(f.Path); err != nil {
		return fmt.Errorf("--path: %w", err)
	}
	var err error
	switch f.Filename {
	case "":
	case "-":
		f.document, err = io.ReadAll(in)
	default:
		f.document, err = os.ReadFile(f.Filename)
	}
	if err != nil {
		return fmt.Errorf("--filename: %w", err)
	}
	if !f.Offline {
		return r.complete(cmd, args)
	}
	if len(args) > 0 {
		r.Name = args[0]
	}
	r.Namespace, err = syncNamespace(r.flags)
	return err
}

// validate parses the document and reconciles its name and namespace with
// NAME and --namespace.
func (f *renderFlags) validate(r *syncRef) error {
	if f.Unit != "" {
		u, err := action.ParseUnit(f.Unit)
		if err != nil {
			return fmt.Errorf("--unit: %w", err)
		}
		f.unit = u
	}
	if f.Offline && f.Filename == "" {
		return errors.New("--offline: needs the Sync document (-f): there is no cluster to read the spec from")
	}
	if f.Filename == "" {
		return validateSyncName(r.Name)
	}
	s, err := spec.Parse(f.document)
	if err != nil {
		return specError(err, f.Filename, nil)
	}
	if r.Name != "" && r.Name != s.Name {
		return fmt.Errorf("NAME: %q, but %s names the sync %q", r.Name, f.Filename, s.Name)
	}
	switch {
	case s.Namespace == "":
		s.Namespace = r.Namespace
	case r.flags.Namespace != nil && *r.flags.Namespace != "" && s.Namespace != r.Namespace:
		return fmt.Errorf("--namespace: %q, but %s puts the sync in namespace %q", r.Namespace, f.Filename, s.Namespace)
	}
	r.Name, r.Namespace, f.spec = s.Name, s.Namespace, s
	return nil
}

// options returns the render's options for the sync r names.
func (f *renderFlags) options(r *syncRef) action.RenderOptions {
	return action.RenderOptions{Ref: r.ref(), Path: f.Path, Spec: f.spec, Offline: f.Offline, Unit: f.unit}
}
