package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/printers"

	"github.com/gitsync/gitsync/pkg/object"
)

// printFlags are the output flags of a printing command, as kubectl's:
// -o with a table format ("" and, for some, wide), yaml, json, name,
// jsonpath=..., go-template=... (and their -file forms, with --template and
// --allow-missing-template-keys), and --no-headers for tables. yaml and
// json print the command's result type, whose JSON field names are a
// stable interface; name and the templates go through cli-runtime's
// printers, the templates over that same JSON.
type printFlags struct {
	// Output is -o.
	Output string
	// NoHeaders leaves out a table's header row (--no-headers).
	NoHeaders bool

	// tables are the formats the command prints itself: tables and
	// descriptions, and for build its own yaml and json.
	tables []string
	// structured are the formats printStructured prints.
	structured []string
	name       *genericclioptions.NamePrintFlags
	templates  *genericclioptions.KubeTemplatePrintFlags
	// printer prints name and template formats; set by complete.
	printer printers.ResourcePrinter
}

// newPrintFlags returns the output flags of a command whose own formats
// are tables (e.g. outputTable, outputWide); yaml and json are
// printStructured's unless among them.
func newPrintFlags(tables ...string) *printFlags {
	f := &printFlags{
		tables:    tables,
		name:      genericclioptions.NewNamePrintFlags(""),
		templates: genericclioptions.NewKubeTemplatePrintFlags(),
	}
	for _, s := range []string{outputYAML, outputJSON} {
		if !slices.Contains(tables, s) {
			f.structured = append(f.structured, s)
		}
	}
	return f
}

// addFlags adds -o, --template and --allow-missing-template-keys, and with
// headers --no-headers.
func (f *printFlags) addFlags(cmd *cobra.Command, headers bool) {
	cmd.Flags().StringVarP(&f.Output, "output", "o", f.Output, "output format: "+strings.Join(f.formats(), ", "))
	f.templates.AddFlags(cmd)
	if headers {
		cmd.Flags().BoolVar(&f.NoHeaders, "no-headers", false, "print tables without their header row")
	}
}

// formats lists the values -o takes, for help and errors.
func (f *printFlags) formats() []string {
	var out []string
	for _, t := range f.tables {
		if t != outputTable {
			out = append(out, t)
		}
	}
	out = append(out, f.structured...)
	out = append(out, f.name.AllowedFormats()...)
	for _, t := range f.templates.AllowedFormats() {
		out = append(out, t+"=...")
	}
	return out
}

// complete resolves -o: a table, a structured format, or a cli-runtime
// printer (which may read a template file).
func (f *printFlags) complete() error {
	if t := f.templates.TemplateArgument; t != nil && *t != "" && slices.Contains(f.tables, f.Output) {
		f.Output = "go-template" // --template alone, as kubectl takes it
	}
	if slices.Contains(f.tables, f.Output) || slices.Contains(f.structured, f.Output) {
		return nil
	}
	pf := &genericclioptions.PrintFlags{OutputFormat: &f.Output, NamePrintFlags: f.name, TemplatePrinterFlags: f.templates}
	p, err := pf.ToPrinter()
	if genericclioptions.IsNoCompatiblePrinterError(err) || err == nil && f.Output == "" {
		return fmt.Errorf("--output: must be one of %s, not %q", strings.Join(f.formats(), ", "), f.Output)
	}
	if err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	f.printer = p
	return nil
}

// table tells whether the command prints the result itself, as a table or
// a description.
func (f *printFlags) table() bool { return slices.Contains(f.tables, f.Output) }

// wide tells whether -o wide was asked for.
func (f *printFlags) wide() bool { return f.Output == outputWide }

// print prints a result in a non-table format: value for yaml, json and
// templates, names (objects with apiVersion, kind and name) for -o name.
func (f *printFlags) print(w io.Writer, value any, names []runtime.Object) error {
	switch {
	case slices.Contains(f.structured, f.Output):
		return printStructured(w, f.Output, value)
	case f.Output == "name":
		for _, n := range names {
			if err := f.printer.PrintObj(n, w); err != nil {
				return err
			}
		}
		return nil
	}
	data, err := json.Marshal(value)
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{}
	if err := json.Unmarshal(data, &u.Object); err != nil {
		return err
	}
	return f.printer.PrintObj(u, w)
}

// nameOf returns an object for -o name: kind.group/name, as kubectl prints
// names.
func nameOf(apiVersion, kind, name string) runtime.Object {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetName(name)
	return u
}

// nameOfID returns nameOf an object ID; the version does not show in a
// name.
func nameOfID(id object.ID) runtime.Object {
	apiVersion := "v1"
	if id.Group != "" {
		apiVersion = id.Group + "/v1"
	}
	return nameOf(apiVersion, id.Kind, id.Name)
}
