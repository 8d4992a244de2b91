package sdk

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	chart "helm.sh/helm/v4/pkg/chart/v2"

	"github.com/gitsync/gitsync/pkg/helm/chartrender"
)

// Helm validates values against each chart's values.schema.json with a
// loader that follows $ref to file:// paths of the machine and to http(s)
// URLs. A render must read nothing but the chart, so gitsync validates with
// the same library and the same per-chart recursion, but refuses references
// that leave the schema document; urn: references are accepted as
// permissive schemas, as Helm accepts them when it cannot resolve them.

// refusingLoader refuses every external schema reference.
type refusingLoader struct{}

// Load refuses url.
func (refusingLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("%s: a chart's schema may only refer to itself (or to urn:), not to files or URLs", url)
}

// permissiveLoader resolves every reference to the schema that accepts
// everything.
type permissiveLoader struct{}

// Load returns the schema true, which accepts everything.
func (permissiveLoader) Load(string) (any, error) { return true, nil }

// validateSchemas validates values against the schema of c and, for every
// dependency whose values are set, of that dependency, and reports all
// violations at once.
func validateSchemas(c *chart.Chart, values map[string]any) error {
	var sb strings.Builder
	collectSchemaErrors(c, values, &sb)
	if sb.Len() == 0 {
		return nil
	}
	return fmt.Errorf("%w: values do not satisfy the chart's values.schema.json:\n%s", chartrender.ErrInvalidChart, strings.TrimRight(sb.String(), "\n"))
}

func collectSchemaErrors(c *chart.Chart, values map[string]any, sb *strings.Builder) {
	if len(c.Schema) > 0 {
		if err := validateOne(c.Schema, values); err != nil {
			for _, line := range strings.Split(strings.TrimSpace(err.Error()), "\n") {
				// One line per violation, named by the chart.
				fmt.Fprintf(sb, "  %s: %s\n", c.ChartFullPath(), strings.TrimPrefix(line, "- "))
			}
		}
	}
	for _, sub := range c.Dependencies() {
		raw, ok := values[sub.Name()]
		if !ok || raw == nil {
			continue
		}
		sv, ok := raw.(map[string]any)
		if !ok {
			fmt.Fprintf(sb, "  %s: values for %s must be a map, not %s\n", c.ChartFullPath(), sub.Name(), kindOf(raw))
			continue
		}
		collectSchemaErrors(sub, sv, sb)
	}
}

// validateOne validates values against one schema document.
func validateOne(schemaJSON []byte, values map[string]any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("schema validation panicked: %v", r)
		}
	}()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		return fmt.Errorf("values.schema.json: %w", err)
	}
	const loc = "file:///values.schema.json"
	c := jsonschema.NewCompiler()
	c.UseLoader(jsonschema.SchemeURLLoader{
		"file":  refusingLoader{},
		"http":  refusingLoader{},
		"https": refusingLoader{},
		"urn":   permissiveLoader{},
	})
	if err := c.AddResource(loc, doc); err != nil {
		return err
	}
	sch, err := c.Compile(loc)
	if err != nil {
		return err
	}
	// The validator wants JSON types; values hold float64 numbers already
	// (MergeValues and Helm's own YAML reading both produce them), which
	// it accepts.
	if err := sch.Validate(map[string]any(values)); err != nil {
		msg := err.Error()
		msg = strings.TrimPrefix(msg, "jsonschema validation failed with '"+loc+"#'\n")
		return fmt.Errorf("%s", msg)
	}
	return nil
}
