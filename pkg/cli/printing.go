package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/yaml"

	"github.com/gitsync/gitsync/pkg/source"
)

// Output formats the commands accept with -o.
const (
	// OutputTable is the default: a kubectl-style table or description.
	OutputTable = ""
	// OutputWide is a table with more columns.
	OutputWide = "wide"
	// OutputYAML prints the structured result as YAML.
	OutputYAML = "yaml"
	// OutputJSON prints the structured result as indented JSON.
	OutputJSON = "json"
)

// ValidateOutput checks the value of -o against the formats a command
// supports, naming the flag in its error.
func ValidateOutput(output string, allowed ...string) error {
	if slices.Contains(allowed, output) {
		return nil
	}
	var names []string
	for _, a := range allowed {
		if a != OutputTable {
			names = append(names, a)
		}
	}
	return fmt.Errorf("--output: must be one of %s, not %q", strings.Join(names, ", "), output)
}

// PrintStructured writes v as YAML or JSON (format OutputYAML or
// OutputJSON); the JSON field names of v's type are the stable interface.
func PrintStructured(w io.Writer, format string, v any) error {
	var (
		data []byte
		err  error
	)
	switch format {
	case OutputJSON:
		data, err = json.MarshalIndent(v, "", "  ")
		data = append(data, '\n')
	case OutputYAML:
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

// NewTableWriter returns a tab writer with kubectl's table settings: columns
// separated by at least three spaces, cells aligned left. Rows are written
// with tab-separated cells; Flush must be called at the end.
func NewTableWriter(w io.Writer) interface {
	io.Writer
	Flush() error
} {
	return printers.GetNewTabWriter(w)
}

// WriteRow writes one tab-separated table row.
func WriteRow(w io.Writer, cells ...string) {
	for i, c := range cells {
		// A tab or newline inside a cell would break the columns.
		cells[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(c)
	}
	fmt.Fprintln(w, strings.Join(cells, "\t"))
}

// HumanAge returns how long before now t was, as kubectl's AGE column
// prints it (45s, 5m, 3h, 2d), or "-" for a zero time.
func HumanAge(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return duration.HumanDuration(now.Sub(t))
}

// HumanUntil returns how long after now t is, as "in 5m", or "now" when t
// is not after now, or "-" for a zero time.
func HumanUntil(now, t time.Time) string {
	switch {
	case t.IsZero():
		return "-"
	case !t.After(now):
		return "now"
	}
	return "in " + duration.HumanDuration(t.Sub(now))
}

// HumanDuration returns d the way kubectl prints durations (5s, 2m30s,
// 3h), or "-" for zero. Below 2 seconds it keeps milliseconds, since a
// no-change run often takes less than a second.
func HumanDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < 2*time.Second:
		return d.Round(10 * time.Millisecond).String()
	}
	return duration.HumanDuration(d)
}

// ShortRevision shortens a source revision for tables: the hex digest
// after "sha1:" or "sha256:" is cut to 8 characters, so
// "main@sha1:3f2a1b2c…" stays readable. Other revisions are returned as
// they are; "" becomes "-".
func ShortRevision(rev string) string {
	if rev == "" {
		return "-"
	}
	return source.Revision(rev).Short()
}

// FormatCounts returns per-action counts as "created 2, configured 1",
// in a fixed order of actions (unknown actions last, sorted), lower-cased;
// "-" when empty.
func FormatCounts(counts map[string]int) string {
	order := []string{"created", "configured", "replaced", "unchanged", "deleted", "skipped", "failed"}
	rank := func(k string) int {
		if i := slices.Index(order, strings.ToLower(k)); i >= 0 {
			return i
		}
		return len(order)
	}
	keys := make([]string, 0, len(counts))
	for k, n := range counts {
		if n != 0 {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", strings.ToLower(k), counts[k]))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// OneLine returns the first line of s, cut to max runes with "…" when
// longer (max <= 0: no cut), so a multi-line error fits a table cell.
func OneLine(s string, max int) string {
	line, _, more := strings.Cut(strings.TrimSpace(s), "\n")
	r := []rune(line)
	if max > 0 && len(r) > max {
		return string(r[:max-1]) + "…"
	}
	if more {
		return line + " …"
	}
	return line
}

// TrimLineEnds removes the spaces and tabs at the end of every line of s,
// which a tab writer leaves after an empty last cell.
func TrimLineEnds(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	return strings.Join(lines, "\n")
}

// cellOrDash returns s, or "-" when s is empty, for table cells.
func cellOrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
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
