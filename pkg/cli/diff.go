package cli

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/gitsync/gitsync/pkg/apply"
	"github.com/gitsync/gitsync/pkg/object"
	"github.com/gitsync/gitsync/pkg/syncrun"
)

// diffContext is the number of unchanged lines around each change, as in
// diff -u.
const diffContext = 3

// DiffOptions are the options of `kubectl gitsync diff`.
type DiffOptions struct {
	// Name is the sync; Namespace its namespace (--namespace, else the
	// kubeconfig context's).
	Name, Namespace string
	// Path is a local directory rendered in place of the sync's source
	// (--path). Default: fetch the source as a run does.
	Path string

	configFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams
}

// NewDiffCommand returns the `diff` command. flags are the root's
// kubeconfig flags.
func NewDiffCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &DiffOptions{configFlags: flags, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "diff NAME [--path DIR]",
		Short: "Show what the next run of a sync would change",
		Long: `Render the sync NAME as a run would (its source at the spec's ref, or with --path a local directory
rendered with the spec's options) and ask the API server what applying it would change: a server-side dry-run
apply with the sync's labels and field manager, so defaults, admission and ownership are the server's own.

For every object that would change, a unified diff of its live state and the dry-run result is printed
(headers "--- live/KIND/NAMESPACE/NAME" and "+++ merged/KIND/NAMESPACE/NAME"); objects that would be created
diff against nothing, objects the run would prune diff against nothing the other way. managedFields,
resourceVersion, generation, uid and creationTimestamp are left out. The values of a Secret's data and
stringData are never printed: each shows as "***", or "*** (before)" and "*** (after)" when it changes.

With --path the directory is rendered with the sync's targetNamespace, patches, images, components and
postBuild substitution; the spec's source and path are not used. It may refer to files outside itself (a
kustomization's ../base) as long as they stay inside the Git work tree that holds it.

Nothing is written: no Lease, no inventory, no object. Exit status: 0 no changes, 1 changes, 2 error.`,
		Example: `  # What would the next run of web change?
  kubectl gitsync diff web

  # Preview local edits before pushing them
  kubectl gitsync diff web --path ./deploy/production`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: CompleteSyncNames(flags),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(args); err != nil {
				return WithExitCode(ExitError, err)
			}
			if err := o.Validate(); err != nil {
				return WithExitCode(ExitError, err)
			}
			return o.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&o.Path, "path", "", "render this local directory instead of the sync's source")
	return cmd
}

// Complete reads the argument and the namespace.
func (o *DiffOptions) Complete(args []string) error {
	o.Name = args[0]
	ns, err := SyncNamespace(o.configFlags)
	o.Namespace = ns
	return err
}

// Validate checks the name and --path.
func (o *DiffOptions) Validate() error {
	if err := ValidateSyncName(o.Name); err != nil {
		return err
	}
	return validateLocalPath(o.Path)
}

// validateLocalPath checks a --path value: empty, or a directory.
func validateLocalPath(path string) error {
	if path == "" {
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("--path: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("--path: %s is not a directory", path)
	}
	return nil
}

// localRoot returns the directory that bounds the render of dir: the
// nearest enclosing Git work tree (a directory holding .git), so that a
// kustomization may use ../base as it does in the repository; else dir.
func localRoot(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return dir
	}
	for d := abs; ; {
		if _, err := os.Stat(filepath.Join(d, ".git")); err == nil {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			return abs
		}
		d = parent
	}
}

// renderSync renders the sync (or a local directory with its spec) as a
// run would, within the scope its CronJob gives sync-job, without writing
// anything.
func renderSync(ctx context.Context, flags *genericclioptions.ConfigFlags, name, namespace, path string) (*syncrun.Rendered, error) {
	client, cfg, err := KubeClient(flags)
	if err != nil {
		return nil, err
	}
	cj, err := getCronJob(ctx, client, namespace, name)
	if err != nil {
		return nil, err
	}
	opts := syncrun.RenderOptions{Name: name, Namespace: namespace, Config: cfg, NamespaceScoped: namespaceScoped(cj)}
	if path != "" {
		opts.LocalDir, opts.LocalRoot = path, localRoot(path)
	}
	r, err := syncrun.Render(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("sync %s/%s: %w", namespace, name, err)
	}
	return r, nil
}

// objectDiff is one object's change: its live state and what it would be,
// either nil when the object does not exist on that side.
type objectDiff struct {
	id            object.ID
	before, after *unstructured.Unstructured
}

// Run renders, dry-run applies, and prints the diffs.
func (o *DiffOptions) Run(ctx context.Context) error {
	r, err := renderSync(ctx, o.configFlags, o.Name, o.Namespace, o.Path)
	if err != nil {
		return WithExitCode(ExitError, err)
	}
	_, cfg, err := KubeClient(o.configFlags)
	if err != nil {
		return WithExitCode(ExitError, err)
	}
	engine, err := apply.New(cfg, nil)
	if err != nil {
		return WithExitCode(ExitError, err)
	}
	cs, err := engine.Apply(ctx, r.Objects, apply.Options{DryRun: true, Labels: r.Labels, Force: r.Sync.Spec.Force})
	if err != nil {
		return WithExitCode(ExitError, err)
	}
	labeled := r.WithLabels()
	var diffs []objectDiff
	for i, c := range cs.Changes {
		switch c.Action {
		case apply.Created, apply.Configured, apply.Replaced:
			after := c.After
			if after == nil {
				// Not sent: a custom resource whose CRD is in this set, or an
				// object in a Namespace of this set, or a replacement of an
				// immutable object. The rendered object is what would go.
				after = labeled[i]
			}
			diffs = append(diffs, objectDiff{id: c.ID, before: c.Before, after: after})
		}
	}
	if r.Sync.Spec.PruneEnabled() {
		dyn, err := dynamic.NewForConfig(cfg)
		if err != nil {
			return WithExitCode(ExitError, err)
		}
		pruned, err := prunePreview(ctx, dyn, r.Stale, r.Labels)
		if err != nil {
			return WithExitCode(ExitError, err)
		}
		diffs = append(diffs, pruned...)
	}

	for _, d := range diffs {
		text, err := d.unified()
		if err != nil {
			return WithExitCode(ExitError, err)
		}
		if _, err := io.WriteString(o.Out, text); err != nil {
			return WithExitCode(ExitError, err)
		}
	}
	if err := cs.Err(); err != nil {
		return WithExitCode(ExitError, fmt.Errorf("sync %s/%s: the dry run failed for some objects:\n%w", o.Namespace, o.Name, err))
	}
	if len(diffs) == 0 {
		return nil
	}
	return WithExitCode(ExitFailed, fmt.Errorf("sync %s/%s: %s", o.Namespace, o.Name, diffSummary(diffs)))
}

// diffSummary counts the diffs by kind of change, for the exit message.
func diffSummary(diffs []objectDiff) string {
	var created, changed, deleted int
	for _, d := range diffs {
		switch {
		case d.before == nil:
			created++
		case d.after == nil:
			deleted++
		default:
			changed++
		}
	}
	var parts []string
	for _, p := range []struct {
		n    int
		what string
	}{{created, "created"}, {changed, "changed"}, {deleted, "pruned"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
		}
	}
	return fmt.Sprintf("%d objects would change (%s)", len(diffs), strings.Join(parts, ", "))
}

// prunePreview returns deletion diffs for the stale objects a run would
// prune: those still live, carrying labels, and not opting out of prune.
func prunePreview(ctx context.Context, dyn dynamic.Interface, stale []apply.Target, labels map[string]string) ([]objectDiff, error) {
	var out []objectDiff
	for _, t := range stale {
		live, err := dyn.Resource(t.GroupVersionResource()).Namespace(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			return nil, fmt.Errorf("%s: get: %w", t.ID, err)
		}
		if !hasAllLabels(live.GetLabels(), labels) || pruneOptOut(live) {
			continue
		}
		out = append(out, objectDiff{id: t.ID, before: live})
	}
	return out, nil
}

func hasAllLabels(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// pruneOptOut tells whether a live object asks not to be pruned, by the
// annotations (or, for reconcile, labels) apply.PolicyOf reads. A value
// PolicyOf rejects counts as no opt-out, as prune itself treats it.
func pruneOptOut(u *unstructured.Unstructured) bool {
	p, err := apply.PolicyOf(u.GetAnnotations())
	if err == nil && (p.PruneDisabled || p.ReconcileDisabled || p.SSA == apply.SSAIgnore) {
		return true
	}
	l, err := apply.PolicyOf(u.GetLabels())
	return err == nil && l.ReconcileDisabled
}

// unified returns the diff -u of the object's two sides as YAML.
func (d objectDiff) unified() (string, error) {
	before, after := cleanForDiff(d.before), cleanForDiff(d.after)
	if d.id.Group == "" && d.id.Kind == "Secret" {
		maskSecret(before, after)
	}
	a, err := yamlLines(before)
	if err != nil {
		return "", fmt.Errorf("%s: %w", d.id, err)
	}
	b, err := yamlLines(after)
	if err != nil {
		return "", fmt.Errorf("%s: %w", d.id, err)
	}
	return unifiedDiff("live/"+d.id.String(), "merged/"+d.id.String(), a, b, diffContext), nil
}

// cleanForDiff returns a copy of u's content without the metadata every
// write changes, or nil for nil.
func cleanForDiff(u *unstructured.Unstructured) map[string]any {
	if u == nil {
		return nil
	}
	c := u.DeepCopy().Object
	if md, ok := c["metadata"].(map[string]any); ok {
		for _, k := range []string{"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp"} {
			delete(md, k)
		}
	}
	return c
}

// lastApplied is kubectl's annotation holding the whole last applied object:
// for a Secret, its values.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// maskSecret replaces, in place, the values of a Secret's data and
// stringData on both sides (either may be nil), and its last-applied
// annotation, with "***" when a value is the same on both sides (or only on
// one), and "*** (before)" / "*** (after)" when it changed. The keys stay
// visible, so a reader still sees which values change.
func maskSecret(before, after map[string]any) {
	for _, field := range []string{"data", "stringData"} {
		b, _ := fieldMap(before, field)
		a, _ := fieldMap(after, field)
		maskPair(b, a)
	}
	b, _ := fieldMap(before, "metadata", "annotations")
	a, _ := fieldMap(after, "metadata", "annotations")
	if b[lastApplied] == nil && a[lastApplied] == nil {
		return
	}
	pb, pa := pick(b, lastApplied), pick(a, lastApplied)
	maskPair(pb, pa)
	maps.Copy(b, pb)
	maps.Copy(a, pa)
}

// pick returns a map holding only key of m, if present.
func pick(m map[string]any, key string) map[string]any {
	out := map[string]any{}
	if v, ok := m[key]; ok {
		out[key] = v
	}
	return out
}

// maskPair masks the values of two maps of the same field; either may be
// nil.
func maskPair(before, after map[string]any) {
	for k, bv := range before {
		av, ok := after[k]
		switch {
		case !ok:
			before[k] = "***"
		case fmt.Sprint(av) == fmt.Sprint(bv):
			before[k], after[k] = "***", "***"
		default:
			before[k], after[k] = "*** (before)", "*** (after)"
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			after[k] = "***"
		}
	}
}

// fieldMap returns the map at path in m, or nil.
func fieldMap(m map[string]any, path ...string) (map[string]any, bool) {
	for _, p := range path {
		next, ok := m[p].(map[string]any)
		if !ok {
			return nil, false
		}
		m = next
	}
	return m, true
}

// yamlLines returns obj as YAML lines, none for nil.
func yamlLines(obj map[string]any) ([]string, error) {
	if obj == nil {
		return nil, nil
	}
	data, err := yaml.Marshal(obj)
	if err != nil {
		return nil, err
	}
	return splitLines(string(data)), nil
}

// splitLines splits text into lines without their newlines; a final
// newline does not start another line.
func splitLines(text string) []string {
	if text == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(text, "\n"), "\n")
}

// ---- unified diff ----

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

// unifiedDiff returns the diff -u of a and b with the given file names and
// context lines, or "" when they are equal.
func unifiedDiff(fromName, toName string, a, b []string, context int) string {
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
