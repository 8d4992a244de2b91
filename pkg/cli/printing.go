package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/yaml"
)

// Output formats the commands accept with -o.
const (
	// outputTable is the default: a kubectl-style table or description.
	outputTable = ""
	// outputWide is a table with more columns.
	outputWide = "wide"
	// outputYAML prints the structured result as YAML.
	outputYAML = "yaml"
	// outputJSON prints the structured result as indented JSON.
	outputJSON = "json"
)

// printStructured writes v as YAML or JSON (format outputYAML or
// outputJSON); the JSON field names of v's type are the stable interface.
func printStructured(w io.Writer, format string, v any) error {
	var (
		data []byte
		err  error
	)
	switch format {
	case outputJSON:
		data, err = json.MarshalIndent(v, "", "  ")
		data = append(data, '\n')
	case outputYAML:
		data, err = yaml.Marshal(v)
	default:
		return fmt.Errorf("--output: %q is not a structured format", format)
	}
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

// tableWriter is a tab writer; rows are written with tab-separated cells,
// and Flush must be called at the end.
type tableWriter interface {
	io.Writer
	Flush() error
}

// newTableWriter returns a tab writer with kubectl's table settings:
// columns separated by at least three spaces, cells aligned left.
func newTableWriter(w io.Writer) tableWriter {
	return printers.GetNewTabWriter(w)
}

// writeRow writes one tab-separated table row.
func writeRow(w io.Writer, cells ...string) {
	for i, c := range cells {
		// A tab or newline inside a cell would break the columns.
		cells[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(c)
	}
	fmt.Fprintln(w, strings.Join(cells, "\t"))
}
