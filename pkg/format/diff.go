package format

import (
	"fmt"
	"strings"
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

// maxEditDistance bounds the Myers search: beyond it the differing middle
// of the two texts is reported as deleted and inserted wholesale. Such a
// diff is still correct, only not minimal, and the search's memory stays
// bounded (it grows with the square of the distance).
const maxEditDistance = 2000

// lineDiff returns an edit script that turns a into b: the shortest one
// (Myers' O(ND) algorithm) unless they differ in more than maxEditDistance
// lines.
func lineDiff(a, b []string) []edit {
	// Common prefix and suffix need no search.
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	out := make([]edit, 0, len(a)+len(b))
	for _, l := range a[:pre] {
		out = append(out, edit{' ', l})
	}
	out = append(out, myers(a[pre:len(a)-suf], b[pre:len(b)-suf])...)
	for _, l := range a[len(a)-suf:] {
		out = append(out, edit{' ', l})
	}
	return out
}

// myers returns a shortest edit script from a to b, deletions before
// insertions within each change, or wholesale(a, b) when they differ in
// more than maxEditDistance lines.
func myers(a, b []string) []edit {
	n, m := len(a), len(b)
	if n == 0 || m == 0 {
		return wholesale(a, b)
	}
	limit := min(n+m, maxEditDistance)
	// v[off+k] is the furthest x reached on diagonal k = x-y; trace[d]
	// keeps diagonals -d..d of v after step d, for the walk back.
	off := limit + 1
	v := make([]int, 2*limit+3)
	var trace [][]int
	found := -1
	for d := 0; d <= limit && found < 0; d++ {
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || k != d && v[off+k-1] < v[off+k+1] {
				x = v[off+k+1] // down from diagonal k+1: an insertion
			} else {
				x = v[off+k-1] + 1 // right from diagonal k-1: a deletion
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x, y = x+1, y+1
			}
			v[off+k] = x
			if x >= n && y >= m {
				found = d
				break
			}
		}
		trace = append(trace, append([]int(nil), v[off-d:off+d+1]...))
	}
	if found < 0 {
		return wholesale(a, b)
	}
	// Walk back from (n, m): each step d is a snake (kept lines) preceded
	// by one move from diagonal prevK, whose end step d-1 recorded.
	rev := make([]edit, 0, n+m)
	x, y := n, m
	for d := found; d > 0; d-- {
		prev := trace[d-1]
		at := func(k int) int { return prev[k+d-1] }
		k := x - y
		prevK := k - 1
		if k == -d || k != d && at(k-1) < at(k+1) {
			prevK = k + 1
		}
		prevX := at(prevK)
		prevY := prevX - prevK
		for x > prevX && y > prevY {
			rev = append(rev, edit{' ', a[x-1]})
			x, y = x-1, y-1
		}
		if x == prevX {
			rev = append(rev, edit{'+', b[y-1]})
		} else {
			rev = append(rev, edit{'-', a[x-1]})
		}
		x, y = prevX, prevY
	}
	for x > 0 && y > 0 {
		rev = append(rev, edit{' ', a[x-1]})
		x, y = x-1, y-1
	}
	out := make([]edit, len(rev))
	for i, e := range rev {
		out[len(rev)-1-i] = e
	}
	return groupChanges(out)
}

// wholesale is the script that deletes all of a and inserts all of b.
func wholesale(a, b []string) []edit {
	out := make([]edit, 0, len(a)+len(b))
	for _, l := range a {
		out = append(out, edit{'-', l})
	}
	for _, l := range b {
		out = append(out, edit{'+', l})
	}
	return out
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
