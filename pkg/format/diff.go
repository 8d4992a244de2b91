package format

import (
	"fmt"
	"strings"
	"time"

	"github.com/sergi/go-diff/diffmatchpatch"
)

// Lines splits text into lines without their newlines; a final newline does
// not start another line.
func Lines(text string) []string {
	if text == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(text, "\n"), "\n")
}

// edit is one line of an edit script: ' ' kept, '-' deleted, '+' inserted.
type edit struct {
	op   byte
	line string
}

// maxExactLines is the size (lines of both sides together) up to which
// lineDiff finds a shortest edit script with no time bound. Beyond it the
// search is bounded by diffTimeout and may settle for a longer script: still
// correct, only not minimal, and a diff of two huge objects cannot hang the
// command.
const maxExactLines = 20000

// diffTimeout bounds the search beyond maxExactLines.
const diffTimeout = 2 * time.Second

// lineDiff returns an edit script that turns a into b, deletions before
// insertions within each change: the shortest one (Myers' algorithm, from
// github.com/sergi/go-diff, on lines) unless a and b are larger than
// maxExactLines.
func lineDiff(a, b []string) []edit {
	dmp := diffmatchpatch.New()
	dmp.DiffTimeout = 0 // exact: also turns off the half-match shortcut, which is not minimal
	if len(a)+len(b) > maxExactLines {
		dmp.DiffTimeout = diffTimeout
	}
	ra, rb, lines := dmp.DiffLinesToRunes(joinLines(a), joinLines(b))
	diffs := dmp.DiffCharsToLines(dmp.DiffMainRunes(ra, rb, false), lines)
	out := make([]edit, 0, len(a)+len(b))
	for _, d := range diffs {
		op := byte(' ')
		switch d.Type {
		case diffmatchpatch.DiffDelete:
			op = '-'
		case diffmatchpatch.DiffInsert:
			op = '+'
		}
		for _, l := range Lines(d.Text) {
			out = append(out, edit{op, l})
		}
	}
	return groupChanges(out)
}

// joinLines joins lines, each ended by a newline, as go-diff's line mode
// reads them.
func joinLines(lines []string) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// groupChanges reorders each run of adjacent deletions and insertions so
// that the deletions come first, as diff -u prints them.
func groupChanges(es []edit) []edit {
	out := make([]edit, 0, len(es))
	for i := 0; i < len(es); {
		if es[i].op == ' ' {
			out = append(out, es[i])
			i++
			continue
		}
		j := i
		for j < len(es) && es[j].op != ' ' {
			j++
		}
		for _, e := range es[i:j] {
			if e.op == '-' {
				out = append(out, e)
			}
		}
		for _, e := range es[i:j] {
			if e.op == '+' {
				out = append(out, e)
			}
		}
		i = j
	}
	return out
}

// UnifiedDiff returns the diff -u of a and b (lines, see Lines) with the
// given file names and context lines, or "" when they are equal.
func UnifiedDiff(fromName, toName string, a, b []string, context int) string {
	es := lineDiff(a, b)
	// aAt[i] and bAt[i] count the lines of a and b before es[i].
	aAt, bAt := make([]int, len(es)+1), make([]int, len(es)+1)
	for i, e := range es {
		aAt[i+1], bAt[i+1] = aAt[i], bAt[i]
		if e.op != '+' {
			aAt[i+1]++
		}
		if e.op != '-' {
			bAt[i+1]++
		}
	}
	var sb strings.Builder
	for i := 0; i < len(es); {
		c := i
		for c < len(es) && es[c].op == ' ' {
			c++
		}
		if c == len(es) {
			break
		}
		// Extend over changes separated by at most 2*context kept lines.
		end := c
		for j := c; j < len(es); j++ {
			if es[j].op != ' ' {
				end = j
			} else if j-end > 2*context {
				break
			}
		}
		start := max(c-context, 0)
		stop := min(end+1+context, len(es))
		if sb.Len() == 0 {
			fmt.Fprintf(&sb, "--- %s\n+++ %s\n", fromName, toName)
		}
		fmt.Fprintf(&sb, "@@ -%s +%s @@\n", hunkRange(aAt[start], aAt[stop]-aAt[start]), hunkRange(bAt[start], bAt[stop]-bAt[start]))
		for _, e := range es[start:stop] {
			sb.WriteByte(e.op)
			sb.WriteString(e.line)
			sb.WriteByte('\n')
		}
		i = stop
	}
	return sb.String()
}

// hunkRange formats one side of a hunk header as diff -u does: the first
// line (1-based) and the count, the count left out when it is 1, and the
// line before the hunk when the range is empty.
func hunkRange(before, count int) string {
	switch count {
	case 0:
		return fmt.Sprintf("%d,0", before)
	case 1:
		return fmt.Sprintf("%d", before+1)
	}
	return fmt.Sprintf("%d,%d", before+1, count)
}
