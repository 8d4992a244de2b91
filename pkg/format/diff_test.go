package format

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// ---- the unified diff, without a cluster ----

func TestUnifiedDiffExamples(t *testing.T) {
	// Expected outputs are GNU diff -u's for the same inputs (headers aside).
	nums := func(from, to int) []string {
		var out []string
		for i := from; i <= to; i++ {
			out = append(out, strconv.Itoa(i))
		}
		return out
	}
	replace := func(s []string, i int, v string) []string {
		c := append([]string(nil), s...)
		c[i] = v
		return c
	}
	tests := []struct {
		name string
		a, b []string
		want string
	}{
		{name: "equal", a: nums(1, 5), b: nums(1, 5), want: ""},
		{name: "both empty", want: ""},
		{name: "two hunks", a: nums(1, 15), b: append(replace(nums(1, 15), 4, "five"), "sixteen"), want: `--- A
+++ B
@@ -2,7 +2,7 @@
 2
 3
 4
-5
+five
 6
 7
 8
@@ -13,3 +13,4 @@
 13
 14
 15
+sixteen
`},
		{name: "created", b: []string{"x"}, want: "--- A\n+++ B\n@@ -0,0 +1 @@\n+x\n"},
		{name: "deleted", a: []string{"x", "y"}, want: "--- A\n+++ B\n@@ -1,2 +0,0 @@\n-x\n-y\n"},
		{name: "close changes share a hunk", a: nums(1, 10), b: replace(replace(nums(1, 10), 1, "two"), 8, "nine"), want: `--- A
+++ B
@@ -1,10 +1,10 @@
 1
-2
+two
 3
 4
 5
 6
 7
 8
-9
+nine
 10
`},
		{name: "insert at top", a: nums(1, 5), b: append([]string{"0"}, nums(1, 5)...), want: "--- A\n+++ B\n@@ -1,3 +1,4 @@\n+0\n 1\n 2\n 3\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := UnifiedDiff("A", "B", tt.a, tt.b, 3)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("unifiedDiff (-want +got):\n%s", diff)
			}
		})
	}
}

// lcs returns the length of the longest common subsequence of a and b.
func lcs(a, b []string) int {
	prev, cur := make([]int, len(b)+1), make([]int, len(b)+1)
	for i := range a {
		for j := range b {
			if a[i] == b[j] {
				cur[j+1] = prev[j] + 1
			} else {
				cur[j+1] = max(cur[j], prev[j+1])
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// applyEdits replays an edit script on a, failing on a mismatch.
func applyEdits(a []string, es []edit) ([]string, error) {
	var out []string
	i := 0
	for _, e := range es {
		switch e.op {
		case ' ', '-':
			if i >= len(a) || a[i] != e.line {
				return nil, fmt.Errorf("edit %q does not match line %d of a", e.op, i)
			}
			i++
			if e.op == ' ' {
				out = append(out, e.line)
			}
		case '+':
			out = append(out, e.line)
		}
	}
	if i != len(a) {
		return nil, fmt.Errorf("script consumed %d of %d lines", i, len(a))
	}
	return out, nil
}

var hunkHeader = regexp.MustCompile(`^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@$`)

// applyUnified applies a unified diff to a the way patch does: each hunk's
// context and deletions must match a at the header's line numbers.
func applyUnified(a []string, diff string) ([]string, error) {
	if diff == "" {
		return a, nil
	}
	ls := Lines(diff)
	if len(ls) < 2 || !strings.HasPrefix(ls[0], "--- ") || !strings.HasPrefix(ls[1], "+++ ") {
		return nil, errors.New("no file headers")
	}
	var out []string
	next := 0 // index in a of the next line not yet copied
	for i := 2; i < len(ls); {
		m := hunkHeader.FindStringSubmatch(ls[i])
		if m == nil {
			return nil, fmt.Errorf("line %d: not a hunk header: %q", i, ls[i])
		}
		num := func(s string, def int) int {
			if s == "" {
				return def
			}
			n, _ := strconv.Atoi(s)
			return n
		}
		aStart, aLen := num(m[1], 0), num(m[2], 1)
		bLen := num(m[4], 1)
		from := aStart - 1
		if aLen == 0 {
			from = aStart
		}
		if from < next {
			return nil, fmt.Errorf("hunk %q overlaps the previous one", ls[i])
		}
		out = append(out, a[next:from]...)
		next = from
		i++
		var gotA, gotB int
		for ; i < len(ls) && !strings.HasPrefix(ls[i], "@@"); i++ {
			op, text := ls[i][0], ls[i][1:]
			switch op {
			case ' ', '-':
				if next >= len(a) || a[next] != text {
					return nil, fmt.Errorf("hunk line %q does not match a[%d]", ls[i], next)
				}
				next++
				gotA++
				if op == ' ' {
					out = append(out, text)
					gotB++
				}
			case '+':
				out = append(out, text)
				gotB++
			default:
				return nil, fmt.Errorf("bad hunk line %q", ls[i])
			}
		}
		if gotA != aLen || gotB != bLen {
			return nil, fmt.Errorf("hunk counts %d,%d, header says %d,%d", gotA, gotB, aLen, bLen)
		}
	}
	return append(out, a[next:]...), nil
}

// randomLines returns n lines drawn from a small alphabet, so that random
// pairs share many lines.
func randomLines(r *rand.Rand, n, alphabet int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = string(rune('a' + r.IntN(alphabet)))
	}
	return out
}

func TestLineDiffIsMinimalAndCorrect(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		a := randomLines(r, r.IntN(30), 1+r.IntN(6))
		b := randomLines(r, r.IntN(30), 1+r.IntN(6))
		es := lineDiff(a, b)
		got, err := applyEdits(a, es)
		if err != nil || !slices.Equal(got, b) {
			t.Fatalf("case %d: a=%q b=%q: script gives %q, %v", i, a, b, got, err)
		}
		changes := 0
		for _, e := range es {
			if e.op != ' ' {
				changes++
			}
		}
		if want := len(a) + len(b) - 2*lcs(a, b); changes != want {
			t.Fatalf("case %d: a=%q b=%q: %d changed lines, the minimum is %d", i, a, b, changes, want)
		}
		d := UnifiedDiff("a", "b", a, b, 1+r.IntN(3))
		if got, err := applyUnified(a, d); err != nil || !slices.Equal(got, b) {
			t.Fatalf("case %d: a=%q b=%q: the unified diff does not apply: %v\n%s", i, a, b, err, d)
		}
	}
}

func TestLineDiffBeyondTheSearchLimit(t *testing.T) {
	// So large that the search is bounded: still a correct script.
	var a, b []string
	for i := 0; i < maxExactLines/2+500; i++ {
		a = append(a, fmt.Sprintf("a%d", i))
		b = append(b, fmt.Sprintf("b%d", i))
	}
	a = append(a, "same")
	b = append(b, "same")
	got, err := applyEdits(a, lineDiff(a, b))
	if err != nil || !slices.Equal(got, b) {
		t.Fatalf("script does not turn a into b: %v", err)
	}
}

// TestUnifiedDiffAppliesWithPatch checks the format against a real patch(1).
func TestUnifiedDiffAppliesWithPatch(t *testing.T) {
	patch, err := exec.LookPath("patch")
	if err != nil {
		t.Skip("patch(1) is not installed")
	}
	r := rand.New(rand.NewPCG(3, 4))
	dir := t.TempDir()
	for i := 0; i < 40; i++ {
		a := randomLines(r, 1+r.IntN(40), 4)
		b := randomLines(r, 1+r.IntN(40), 4)
		d := UnifiedDiff("a", "b", a, b, 3)
		if d == "" {
			continue
		}
		aFile, out := filepath.Join(dir, "a"), filepath.Join(dir, "out")
		if err := os.WriteFile(aFile, []byte(strings.Join(a, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(patch, "--quiet", "--force", "-o", out, aFile)
		cmd.Stdin = strings.NewReader(d)
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("case %d: patch: %v: %s\n%s", i, err, msg, d)
		}
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.Join(b, "\n") + "\n"; string(got) != want {
			t.Fatalf("case %d: patch gives %q, want %q\n%s", i, got, want, d)
		}
	}
}
