package cli

import (
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
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
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gitsync/gitsync/pkg/object"
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
			got := unifiedDiff("A", "B", tt.a, tt.b, 3)
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
	ls := splitLines(diff)
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
		d := unifiedDiff("a", "b", a, b, 1+r.IntN(3))
		if got, err := applyUnified(a, d); err != nil || !slices.Equal(got, b) {
			t.Fatalf("case %d: a=%q b=%q: the unified diff does not apply: %v\n%s", i, a, b, err, d)
		}
	}
}

func TestLineDiffBeyondTheSearchLimit(t *testing.T) {
	// So different that the search gives up: still a correct script.
	var a, b []string
	for i := 0; i < maxEditDistance+500; i++ {
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
		d := unifiedDiff("a", "b", a, b, 3)
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

// ---- Secrets ----

func TestMaskSecret(t *testing.T) {
	before := map[string]any{
		"kind": "Secret",
		"metadata": map[string]any{"name": "s", "annotations": map[string]any{
			lastApplied: `{"data":{"k":"c2VjcmV0"}}`, "other": "kept",
		}},
		"data": map[string]any{"same": "c2FtZQ==", "changed": "b2xk", "removed": "Z29uZQ=="},
	}
	after := map[string]any{
		"kind":       "Secret",
		"metadata":   map[string]any{"name": "s", "annotations": map[string]any{lastApplied: `{"data":{"k":"bmV3"}}`, "other": "kept"}},
		"data":       map[string]any{"same": "c2FtZQ==", "changed": "bmV3", "added": "YWRkZWQ="},
		"stringData": map[string]any{"plain": "text"},
	}
	maskSecret(before, after)
	wantBefore := map[string]any{
		"kind":     "Secret",
		"metadata": map[string]any{"name": "s", "annotations": map[string]any{lastApplied: "*** (before)", "other": "kept"}},
		"data":     map[string]any{"same": "***", "changed": "*** (before)", "removed": "***"},
	}
	wantAfter := map[string]any{
		"kind":       "Secret",
		"metadata":   map[string]any{"name": "s", "annotations": map[string]any{lastApplied: "*** (after)", "other": "kept"}},
		"data":       map[string]any{"same": "***", "changed": "*** (after)", "added": "***"},
		"stringData": map[string]any{"plain": "***"},
	}
	if diff := cmp.Diff(wantBefore, before); diff != "" {
		t.Errorf("before (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantAfter, after); diff != "" {
		t.Errorf("after (-want +got):\n%s", diff)
	}

	// One side missing (a created or pruned Secret).
	created := map[string]any{"data": map[string]any{"k": "dg=="}}
	maskSecret(nil, created)
	if diff := cmp.Diff(map[string]any{"data": map[string]any{"k": "***"}}, created); diff != "" {
		t.Errorf("created (-want +got):\n%s", diff)
	}
}

func TestObjectDiffMasksSecretsAndStripsMetadata(t *testing.T) {
	secret := func(value string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "Secret",
			"metadata": map[string]any{
				"name": "s", "namespace": "ns", "resourceVersion": "7", "uid": "u-1", "generation": int64(1),
				"creationTimestamp": "2026-01-01T00:00:00Z",
				"managedFields":     []any{map[string]any{"manager": "gitsync"}},
			},
			"data": map[string]any{"password": value, "user": "YWRtaW4="},
		}}
	}
	d := objectDiff{id: object.ID{Kind: "Secret", Namespace: "ns", Name: "s"}, before: secret("b2xkcGFzcw=="), after: secret("bmV3cGFzcw==")}
	got, err := d.unified()
	if err != nil {
		t.Fatal(err)
	}
	want := `--- live/Secret/ns/s
+++ merged/Secret/ns/s
@@ -1,6 +1,6 @@
 apiVersion: v1
 data:
-  password: '*** (before)'
+  password: '*** (after)'
   user: '***'
 kind: Secret
 metadata:
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("diff (-want +got):\n%s", diff)
	}
	for _, secretText := range []string{"b2xkcGFzcw==", "bmV3cGFzcw==", "YWRtaW4=", "resourceVersion", "managedFields", "uid"} {
		if strings.Contains(got, secretText) {
			t.Errorf("diff shows %q:\n%s", secretText, got)
		}
	}
	// The objects themselves are untouched.
	if v, _, _ := unstructured.NestedString(d.before.Object, "data", "password"); v != "b2xkcGFzcw==" {
		t.Errorf("the live object was modified: %q", v)
	}
}

// ---- --path root ----

func TestLocalRoot(t *testing.T) {
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	overlay := filepath.Join(repo, "overlays", "prod")
	plain := filepath.Join(dir, "plain")
	for _, d := range []string{filepath.Join(repo, ".git"), overlay, plain} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if got := localRoot(overlay); got != repo {
		t.Errorf("localRoot(overlay) = %s, want the work tree %s", got, repo)
	}
	if got := localRoot(plain); got != plain {
		t.Errorf("localRoot(plain) = %s, want itself", got)
	}
}

// ---- against the test cluster ----

func secretYAML(name string, data map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\ntype: Opaque\ndata:\n", name)
	for _, k := range slices.Sorted(maps.Keys(data)) {
		fmt.Fprintf(&b, "  %s: %s\n", k, base64.StdEncoding.EncodeToString([]byte(data[k])))
	}
	return b.String()
}

func TestDiff(t *testing.T) {
	f := newPipelineFixture(t)
	f.commit(map[string]string{
		"deploy/a.yaml": configMapYAML("a", "1"),
		"deploy/b.yaml": configMapYAML("b", "1"),
		"deploy/s.yaml": secretYAML("s", map[string]string{"password": "old-password", "user": "admin"}),
	})
	f.installSpec("")
	_, _, err := f.cli(t.Context(), "run", "app", "--local")
	wantExit(t, err, ExitOK, "")
	secrets := []string{"old-password", "new-password", "admin"}
	noSecrets := func(t *testing.T, out string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(out, s) || strings.Contains(out, base64.StdEncoding.EncodeToString([]byte(s))) {
				t.Errorf("the diff shows the secret value %q:\n%s", s, out)
			}
		}
	}

	t.Run("no change", func(t *testing.T) {
		out, _, err := f.cli(t.Context(), "diff", "app")
		wantExit(t, err, ExitOK, "")
		if out != "" {
			t.Errorf("output for no change:\n%s", out)
		}
	})

	f.commit(map[string]string{
		"deploy/a.yaml": configMapYAML("a", "2"),
		"deploy/c.yaml": configMapYAML("c", "1"),
		"deploy/s.yaml": secretYAML("s", map[string]string{"password": "new-password", "user": "admin"}),
	})
	f.remove("deploy/b.yaml")
	t.Run("changes", func(t *testing.T) {
		out, _, err := f.cli(t.Context(), "diff", "app")
		wantExit(t, err, ExitFailed, "4 objects would change (1 created, 2 changed, 1 pruned)")
		golden(t, "testdata/diff/changed.diff", f.normalize(out))
		noSecrets(t, out)
	})

	t.Run("--path", func(t *testing.T) {
		dir := t.TempDir()
		for name, content := range map[string]string{
			"a.yaml": configMapYAML("a", "3"),
			"d.yaml": configMapYAML("d", "1"),
			"s.yaml": secretYAML("s", map[string]string{"password": "old-password", "user": "admin"}),
		} {
			must(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
		}
		out, _, err := f.cli(t.Context(), "diff", "app", "--path", dir)
		wantExit(t, err, ExitFailed, "3 objects would change (1 created, 1 changed, 1 pruned)")
		golden(t, "testdata/diff/path.diff", f.normalize(out))
		noSecrets(t, out)
	})

	t.Run("nothing is written", func(t *testing.T) {
		if got := f.configMap("a").Data["value"]; got != "1" {
			t.Errorf("a.value = %q after diff, want 1", got)
		}
		f.configMap("b")
		f.absent("c")
	})

	t.Run("prune disabled", func(t *testing.T) {
		f.installSpec("  prune: false\n")
		out, _, err := f.cli(t.Context(), "diff", "app")
		wantExit(t, err, ExitFailed, "3 objects would change (1 created, 2 changed)")
		if strings.Contains(out, "ConfigMap/"+f.ns+"/b") {
			t.Errorf("an object is shown pruned with prune: false:\n%s", out)
		}
	})

	t.Run("errors", func(t *testing.T) {
		_, _, err := f.cli(t.Context(), "diff", "app", "--path", filepath.Join(t.TempDir(), "missing"))
		wantExit(t, err, ExitError, "--path:")
		_, _, err = f.cli(t.Context(), "diff", "nosuch")
		wantExit(t, err, ExitError, "no such sync")
		f.commit(map[string]string{"deploy/bad.yaml": "kind: [\n"})
		_, _, err = f.cli(t.Context(), "diff", "app")
		wantExit(t, err, ExitError, "render:")
	})
}
