// Package format turns values into the short text gitsync shows people:
// ages and durations as kubectl prints them, shortened revisions, counts per
// action, one-line messages and unified diffs; and Progress prints what a
// waiting operation reports. Nothing here talks to a cluster, so all of it
// is tested without one.
package format

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/gitsync/gitsync/pkg/source"
)

// Age returns how long before now t was, as kubectl's AGE column prints it
// (45s, 5m, 3h, 2d), or "-" for a zero time.
func Age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return duration.HumanDuration(now.Sub(t))
}

// Until returns how long after now t is, as "in 5m", or "now" when t is not
// after now, or "-" for a zero time.
func Until(now, t time.Time) string {
	switch {
	case t.IsZero():
		return "-"
	case !t.After(now):
		return "now"
	}
	return "in " + duration.HumanDuration(t.Sub(now))
}

// Duration returns d the way kubectl prints durations (5s, 2m30s, 3h), or
// "-" for zero. Below 2 seconds it keeps milliseconds, since a no-change run
// often takes less than a second.
func Duration(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < 2*time.Second:
		return d.Round(10 * time.Millisecond).String()
	}
	return duration.HumanDuration(d)
}

// Revision shortens a source revision for tables: the hex digest after
// "sha1:" or "sha256:" is cut to 8 characters, so "main@sha1:3f2a1b2c…"
// stays readable. Other revisions are returned as they are; "" becomes "-".
func Revision(rev string) string {
	if rev == "" {
		return "-"
	}
	return source.Revision(rev).Short()
}

// Counts returns per-action counts as "created 2, configured 1", in a
// fixed order of actions (unknown actions last, sorted), lower-cased; "-"
// when empty.
func Counts(counts map[string]int) string {
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

// OrDash returns s, or "-" when s is empty, for table cells.
func OrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Count returns "1 object" or "n objects".
func Count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
