package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/spf13/cobra"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/spec"
)

// statusHistoryLimit is how many history entries `status NAME` shows.
const statusHistoryLimit = 5

// SyncStatus is the structured status of one sync that `status -o yaml|json`
// prints. Its JSON field names are a stable interface for scripts.
type SyncStatus struct {
	// Name and Namespace name the sync.
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// Source is where the manifests come from; empty when the spec cannot
	// be read.
	Source SourceStatus `json:"source,omitzero"`
	// Path is the directory inside the source.
	Path string `json:"path,omitempty"`
	// TargetNamespace is spec.targetNamespace.
	TargetNamespace string `json:"targetNamespace,omitempty"`
	// Prune is spec.prune with its default applied.
	Prune bool `json:"prune"`
	// Schedule is the CronJob's schedule.
	Schedule string `json:"schedule,omitempty"`
	// Suspended tells whether scheduled runs are off.
	Suspended bool `json:"suspended"`
	// PinnedRevision is the revision a rollback pinned the sync to; resume
	// clears it.
	PinnedRevision string `json:"pinnedRevision,omitempty"`
	// LastScheduleTime is when the CronJob last started a scheduled run.
	LastScheduleTime *time.Time `json:"lastScheduleTime,omitempty"`
	// NextRun is when the CronJob will start the next run; absent when
	// suspended or unknown.
	NextRun *time.Time `json:"nextRun,omitempty"`
	// LastAppliedRevision is the revision of the last successful run.
	LastAppliedRevision string `json:"lastAppliedRevision,omitempty"`
	// LastAppliedTime is when that run ended.
	LastAppliedTime *time.Time `json:"lastAppliedTime,omitempty"`
	// LastAttemptedRevision is the revision of the last run.
	LastAttemptedRevision string `json:"lastAttemptedRevision,omitempty"`
	// LastRun is the last run; absent before the first one.
	LastRun *inventory.Run `json:"lastRun,omitempty"`
	// Objects is the number of objects in the inventory.
	Objects int `json:"objects"`
	// ObjectsByKind counts the inventory's objects per Kind[.group]
	// (status NAME only).
	ObjectsByKind map[string]int `json:"objectsByKind,omitempty"`
	// History holds the newest history entries, newest first (status NAME
	// only).
	History []inventory.History `json:"history,omitempty"`
	// ActiveJobs are the CronJob's unfinished Jobs (status NAME only).
	ActiveJobs []JobStatus `json:"activeJobs,omitempty"`
	// Problems are what is wrong with the sync's objects: an invalid spec,
	// a missing CronJob, an unreadable inventory.
	Problems []string `json:"problems,omitempty"`
}

// SourceStatus is the source of a SyncStatus.
type SourceStatus struct {
	// Kind is "git" or "helm".
	Kind string `json:"kind,omitempty"`
	// URL is the Git repository or the Helm repository.
	URL string `json:"url,omitempty"`
	// Ref says what is taken from it, in words: the Git ref ("branch main",
	// "tag v1.2.0") or the chart and version ("chart web, version 1.x").
	Ref string `json:"ref,omitempty"`
}

// DescribeSource returns the source of a spec as status shows it.
func DescribeSource(s *spec.SyncSpec) SourceStatus {
	kind, url, ref := s.Source.Describe()
	return SourceStatus{Kind: kind, URL: url, Ref: ref}
}

// JobStatus is one of a sync's unfinished Jobs.
type JobStatus struct {
	// Name is the Job's name.
	Name string `json:"name"`
	// Status is Suspended, Pending (no Pod yet), Starting (Pods not ready)
	// or Running.
	Status string `json:"status"`
	// StartTime is when the Job controller started it.
	StartTime *time.Time `json:"startTime,omitempty"`
}

// StatusList is what `status -o yaml|json` prints without NAME.
type StatusList struct {
	// Items are the syncs, sorted by namespace and name.
	Items []SyncStatus `json:"items"`
}

// StatusOptions are the options of `kubectl gitsync status`. The embedded
// syncRef names the sync to describe; its Name "" lists the syncs.
type StatusOptions struct {
	// AllNamespaces (-A) lists the syncs of every namespace.
	AllNamespaces bool
	// Output is "" (table, or a description with NAME), "wide", "yaml" or
	// "json".
	Output string
	// Watch re-prints whenever an inventory ConfigMap changes, until
	// interrupted.
	Watch bool

	syncRef

	genericiooptions.IOStreams
}

// NewStatusCommand returns the `status` command.
func NewStatusCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &StatusOptions{syncRef: syncRef{flags: flags}, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "status [NAME]",
		Short: "Show the state of syncs: revision, last run, objects, next run",
		Long: `Without NAME, list the syncs of the namespace (of every namespace with -A) with their source, the revision
last applied, when the last run ended and how, how many objects the sync manages, and when the CronJob will start
the next run. -o wide adds the last run's duration and message.

With NAME, describe one sync: its spec, the last run with its counts per action, the objects per kind, the
recent history and the CronJob's active Jobs.

-o yaml|json prints the same as a structured object (a list under "items" without NAME). --watch prints again
whenever a run records its result, until interrupted.`,
		Example: `  # List the syncs of the current namespace
  kubectl gitsync status

  # List the syncs of every namespace, with the last run's message
  kubectl gitsync status -A -o wide

  # Describe one sync, and keep watching it
  kubectl gitsync status web --watch

  # The status as JSON, for scripts
  kubectl gitsync status web -o json | jq -r .lastRun.result`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: CompleteSyncNames(flags),
		RunE:              runE(o),
	}
	cmd.Flags().BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "list the syncs of every namespace")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "output format: wide, yaml or json")
	cmd.Flags().BoolVarP(&o.Watch, "watch", "w", false, "print again whenever a run records its result, until interrupted")
	return cmd
}

// Complete reads the argument and the namespace and builds the client.
func (o *StatusOptions) Complete(cmd *cobra.Command, args []string) error {
	return o.complete(cmd, args)
}

// Validate checks the flags.
func (o *StatusOptions) Validate() error {
	if o.Name != "" {
		if err := ValidateSyncName(o.Name); err != nil {
			return err
		}
		if o.AllNamespaces {
			return errors.New("--all-namespaces: cannot be combined with NAME")
		}
	}
	return ValidateOutput(o.Output, OutputTable, OutputWide, OutputYAML, OutputJSON)
}

// Run prints the status once, or on every change with --watch.
func (o *StatusOptions) Run(ctx context.Context) error {
	if !o.Watch {
		return o.printOnce(ctx)
	}
	return o.watch(ctx)
}

func (o *StatusOptions) listNamespace() string {
	if o.AllNamespaces {
		return metav1.NamespaceAll
	}
	return o.Namespace
}

func (o *StatusOptions) printOnce(ctx context.Context) error {
	now := o.now()
	if o.Name != "" {
		s, err := GetSync(ctx, o.client, o.Namespace, o.Name)
		if err != nil {
			return err
		}
		st := o.detail(ctx, s, now)
		if o.Output == OutputYAML || o.Output == OutputJSON {
			return PrintStructured(o.Out, o.Output, st)
		}
		return printStatusDetail(o.Out, st, now)
	}
	syncs, err := ListSyncs(ctx, o.client, o.listNamespace())
	if err != nil {
		return err
	}
	list := StatusList{Items: make([]SyncStatus, 0, len(syncs))}
	for _, s := range syncs {
		list.Items = append(list.Items, BuildSyncStatus(s, now))
	}
	if o.Output == OutputYAML || o.Output == OutputJSON {
		return PrintStructured(o.Out, o.Output, list)
	}
	if len(list.Items) == 0 {
		_, err := fmt.Fprintf(o.ErrOut, "No syncs found in %s.\n", namespaceWords(o.listNamespace()))
		return err
	}
	return printStatusTable(o.Out, list.Items, now, o.AllNamespaces, o.Output == OutputWide)
}

// detail adds to the sync's status what only `status NAME` shows.
func (o *StatusOptions) detail(ctx context.Context, s *SyncInfo, now time.Time) SyncStatus {
	st := BuildSyncStatus(s, now)
	if entries := s.Entries(); len(entries) > 0 {
		st.ObjectsByKind = map[string]int{}
		for _, e := range entries {
			st.ObjectsByKind[kindName(e.Group, e.Kind)]++
		}
	}
	hist, err := s.Store(o.client).ListHistory(ctx)
	if err != nil {
		st.Problems = append(st.Problems, "history: "+err.Error())
	}
	st.History = hist[:min(len(hist), statusHistoryLimit)]
	jobs, err := activeJobs(ctx, o.client, s)
	if err != nil {
		st.Problems = append(st.Problems, "jobs: "+err.Error())
	}
	st.ActiveJobs = jobs
	return st
}

// watch prints, then prints again on every change of the inventory
// ConfigMap (of the sync, or of every sync listed) until ctx ends. A watch
// the server closes is resumed from the last resourceVersion seen; an
// expired resourceVersion makes it list again (and print, since changes may
// have been missed).
func (o *StatusOptions) watch(ctx context.Context) error {
	cms := o.client.CoreV1().ConfigMaps(o.listNamespace())
	where := "ConfigMaps in " + namespaceWords(o.listNamespace())
	selector := metav1.ListOptions{}
	if o.Name != "" {
		selector.FieldSelector = fields.OneTermEqualSelector("metadata.name", inventory.InventoryName(o.Name)).String()
	} else {
		selector.LabelSelector = labels.SelectorFromSet(labels.Set{inventory.LabelKind: inventory.KindInventory}).String()
	}
	list := func() (string, error) {
		l, err := cms.List(ctx, selector)
		if err != nil {
			return "", fmt.Errorf("%s: list: %w", where, err)
		}
		return l.ResourceVersion, o.printOnce(ctx)
	}
	rv, err := list()
	if err != nil {
		return err
	}
	for ctx.Err() == nil {
		opts := selector
		opts.ResourceVersion = rv
		opts.AllowWatchBookmarks = true
		w, err := cms.Watch(ctx, opts)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return fmt.Errorf("%s: watch: %w", where, err)
		}
		rv, err = o.handleEvents(ctx, w, rv, list)
		w.Stop()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return fmt.Errorf("%s: watch: %w", where, err)
		}
		// The server ended the watch (its timeout): resume after a pause,
		// so that a server closing watches at once is not hammered.
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return nil
}

// handleEvents prints on every change w reports until it ends, and returns
// the resourceVersion to resume from.
func (o *StatusOptions) handleEvents(ctx context.Context, w watch.Interface, rv string, list func() (string, error)) (string, error) {
	for {
		select {
		case <-ctx.Done():
			return rv, nil
		case ev, ok := <-w.ResultChan():
			if !ok {
				return rv, nil
			}
			switch ev.Type {
			case watch.Error:
				err := apierrors.FromObject(ev.Object)
				if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
					return rv, err
				}
				if err := o.printSeparator(); err != nil {
					return rv, err
				}
				return list()
			case watch.Bookmark:
			default:
				if err := o.printSeparator(); err != nil {
					return rv, err
				}
				if err := o.printOnce(ctx); err != nil {
					return rv, err
				}
			}
			if m, err := meta.Accessor(ev.Object); err == nil && m.GetResourceVersion() != "" {
				rv = m.GetResourceVersion()
			}
		}
	}
}

// printSeparator separates two snapshots of --watch: "---" between YAML
// documents, an empty line otherwise.
func (o *StatusOptions) printSeparator() error {
	sep := "\n"
	if o.Output == OutputYAML {
		sep = "---\n"
	}
	_, err := io.WriteString(o.Out, sep)
	return err
}

// BuildSyncStatus returns the status of s at time now, without what only
// `status NAME` shows (objects per kind, history, Jobs).
func BuildSyncStatus(s *SyncInfo, now time.Time) SyncStatus {
	st := SyncStatus{
		Name:           s.Name,
		Namespace:      s.Namespace,
		Schedule:       s.Schedule(),
		Suspended:      s.Suspended(),
		PinnedRevision: s.PinnedRevision(),
		Prune:          spec.DefaultPrune,
	}
	if s.Spec != nil {
		sp := s.Spec.Spec
		st.Source = DescribeSource(&sp)
		st.Path = sp.Path
		st.TargetNamespace = sp.TargetNamespace
		st.Prune = sp.PruneEnabled()
	}
	if s.SpecErr != nil {
		st.Problems = append(st.Problems, "spec: "+s.SpecErr.Error())
	}
	if s.CronJob == nil {
		st.Problems = append(st.Problems, fmt.Sprintf("CronJob/%s/%s: not found: no scheduled runs", s.Namespace, spec.ConfigMapName(s.Name)))
	} else {
		if t := s.CronJob.Status.LastScheduleTime; t != nil {
			st.LastScheduleTime = timePtr(t.Time)
		}
		if !st.Suspended {
			next, err := NextRun(s.CronJob, now)
			if err != nil {
				st.Problems = append(st.Problems, fmt.Sprintf("CronJob/%s/%s: %v", s.Namespace, s.CronJob.Name, err))
			} else if !next.IsZero() {
				st.NextRun = timePtr(next)
			}
		}
	}
	if s.InventoryErr != nil {
		st.Problems = append(st.Problems, "inventory: "+s.InventoryErr.Error())
	}
	rec := s.Record()
	st.LastAppliedRevision = rec.LastAppliedRevision
	st.LastAttemptedRevision = rec.LastAttemptedRevision
	if !rec.LastAppliedTime.IsZero() {
		st.LastAppliedTime = timePtr(rec.LastAppliedTime)
	}
	if rec.LastRun.Result != "" || !rec.LastRun.Start.IsZero() {
		run := rec.LastRun
		st.LastRun = &run
	}
	st.Objects = len(s.Entries())
	return st
}

func timePtr(t time.Time) *time.Time {
	t = t.UTC()
	return &t
}

// NextRun returns when the CronJob cj will start its next run, seen at
// now; zero when it is suspended or its schedule never fires. It follows
// the CronJob controller: the schedule fires after status.lastScheduleTime
// (or the creation time); a time already passed is started at once if it is
// within spec.startingDeadlineSeconds (NextRun then returns now), else
// skipped. Without spec.timeZone the controller's zone is taken to be UTC.
func NextRun(cj *batchv1.CronJob, now time.Time) (time.Time, error) {
	if cj.Spec.Suspend != nil && *cj.Spec.Suspend {
		return time.Time{}, nil
	}
	expr := cj.Spec.Schedule
	if tz := cj.Spec.TimeZone; tz != nil && *tz != "" && !strings.Contains(expr, "TZ=") {
		expr = "CRON_TZ=" + *tz + " " + expr
	}
	sched, err := cron.ParseStandard(expr)
	if err != nil {
		return time.Time{}, fmt.Errorf("schedule %q: %w", cj.Spec.Schedule, err)
	}
	base := cj.CreationTimestamp.Time
	if t := cj.Status.LastScheduleTime; t != nil {
		base = t.Time
	}
	next := sched.Next(base.UTC())
	if next.IsZero() || next.After(now) {
		return next, nil
	}
	if d := cj.Spec.StartingDeadlineSeconds; d == nil || now.Sub(next) <= time.Duration(*d)*time.Second {
		return now, nil
	}
	return sched.Next(now.UTC()), nil
}

// activeJobs returns the unfinished Jobs the sync's CronJob owns, oldest
// first.
func activeJobs(ctx context.Context, client kubernetes.Interface, s *SyncInfo) ([]JobStatus, error) {
	jobs, err := ownedJobs(ctx, client, s)
	if err != nil {
		return nil, err
	}
	var out []JobStatus
	for i := len(jobs) - 1; i >= 0; i-- {
		j := jobs[i]
		if jobFinished(j) {
			continue
		}
		js := JobStatus{Name: j.Name, Status: jobPhase(j)}
		if j.Status.StartTime != nil {
			js.StartTime = timePtr(j.Status.StartTime.Time)
		}
		out = append(out, js)
	}
	return out, nil
}

// ownedJobs returns the Jobs controlled by the sync's CronJob, newest
// first (by creation time, then name). They are found by owner reference,
// not by label, so a Job someone labelled like ours is not taken for a run.
func ownedJobs(ctx context.Context, client kubernetes.Interface, s *SyncInfo) ([]*batchv1.Job, error) {
	if s.CronJob == nil {
		return nil, nil
	}
	list, err := client.BatchV1().Jobs(s.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("namespace %s: list Jobs: %w", s.Namespace, err)
	}
	var out []*batchv1.Job
	for i := range list.Items {
		j := &list.Items[i]
		if ref := metav1.GetControllerOf(j); ref != nil && ref.UID == s.CronJob.UID {
			out = append(out, j)
		}
	}
	slices.SortFunc(out, func(a, b *batchv1.Job) int {
		if c := b.CreationTimestamp.Compare(a.CreationTimestamp.Time); c != 0 {
			return c
		}
		return strings.Compare(b.Name, a.Name)
	})
	return out, nil
}

// jobFinished reports whether j has a true Complete or Failed condition.
func jobFinished(j *batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// jobPhase says in one word where an unfinished Job is.
func jobPhase(j *batchv1.Job) string {
	switch {
	case j.Spec.Suspend != nil && *j.Spec.Suspend:
		return "Suspended"
	case j.Status.Ready != nil && *j.Status.Ready > 0:
		return "Running"
	case j.Status.Active > 0:
		return "Starting"
	}
	return "Pending"
}

// kindName returns Kind for the core group and Kind.group otherwise.
func kindName(group, kind string) string {
	if group == "" {
		return kind
	}
	return kind + "." + group
}

// sourceCell is the SOURCE column: the URL and the ref in words.
func sourceCell(src SourceStatus) string {
	if src.URL == "" {
		return "-"
	}
	return src.URL + " (" + src.Ref + ")"
}

// revisionCell is the REVISION column: the last applied revision,
// shortened, marked when a rollback pinned it.
func revisionCell(st SyncStatus) string {
	rev := ShortRevision(st.LastAppliedRevision)
	if st.PinnedRevision != "" {
		rev += " (pinned)"
	}
	return rev
}

func printStatusTable(out io.Writer, items []SyncStatus, now time.Time, allNamespaces, wide bool) error {
	w := NewTableWriter(out)
	header := []string{"NAME", "SOURCE", "REVISION", "LAST RUN", "RESULT", "OBJECTS", "SCHEDULE", "NEXT RUN", "SUSPENDED"}
	if allNamespaces {
		header = append([]string{"NAMESPACE"}, header...)
	}
	if wide {
		header = append(header, "DURATION", "MESSAGE")
	}
	WriteRow(w, header...)
	for _, st := range items {
		lastRun, result, dur, msg := "-", "-", "-", ""
		if r := st.LastRun; r != nil {
			lastRun = HumanAge(now, runEnd(*r))
			result = cellOrDash(string(r.Result))
			dur = HumanDuration(r.Duration.Duration)
			msg = r.Message
		}
		if len(st.Problems) > 0 && (msg == "" || st.LastRun == nil) {
			msg = st.Problems[0]
		}
		next := "-"
		if st.NextRun != nil {
			next = HumanUntil(now, *st.NextRun)
		}
		row := []string{st.Name, sourceCell(st.Source), revisionCell(st), lastRun, result,
			strconv.Itoa(st.Objects), cellOrDash(st.Schedule), next, strconv.FormatBool(st.Suspended)}
		if allNamespaces {
			row = append([]string{st.Namespace}, row...)
		}
		if wide {
			row = append(row, dur, cellOrDash(OneLine(msg, 0)))
		}
		WriteRow(w, row...)
	}
	return w.Flush()
}

// runEnd is when a run ended, or its start while it has no end.
func runEnd(r inventory.Run) time.Time {
	if !r.End.IsZero() {
		return r.End
	}
	return r.Start
}

// timeCell prints a time as RFC 3339 in UTC with its age.
func timeCell(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339) + " (" + HumanAge(now, t) + " ago)"
}

func printStatusDetail(out io.Writer, st SyncStatus, now time.Time) error {
	// Rows with an empty value end in padding, trimmed before printing.
	var b strings.Builder
	if err := writeStatusDetail(&b, st, now); err != nil {
		return err
	}
	_, err := io.WriteString(out, TrimLineEnds(b.String()))
	return err
}

func writeStatusDetail(out io.Writer, st SyncStatus, now time.Time) error {
	w := NewTableWriter(out)
	field := func(key, value string) { WriteRow(w, key+":", value) }
	field("Name", st.Name)
	field("Namespace", st.Namespace)
	field("Source", cellOrDash(st.Source.URL))
	field("Ref", cellOrDash(st.Source.Ref))
	field("Path", cellOrDash(st.Path))
	if st.TargetNamespace != "" {
		field("Target Namespace", st.TargetNamespace)
	}
	field("Prune", strconv.FormatBool(st.Prune))
	schedule := cellOrDash(st.Schedule)
	switch {
	case st.Suspended:
		schedule += " (suspended)"
	case st.NextRun != nil:
		schedule += " (next run " + HumanUntil(now, *st.NextRun) + ")"
	}
	field("Schedule", schedule)
	field("Suspended", strconv.FormatBool(st.Suspended))
	if st.LastScheduleTime != nil {
		field("Last Schedule", timeCell(now, *st.LastScheduleTime))
	}
	if st.PinnedRevision != "" {
		field("Pinned Revision", st.PinnedRevision+" (rollback; resume follows the spec again)")
	}
	applied := cellOrDash(st.LastAppliedRevision)
	if st.LastAppliedTime != nil {
		applied += " (" + HumanAge(now, *st.LastAppliedTime) + " ago)"
	}
	field("Last Applied", applied)
	if r := st.LastRun; r == nil {
		field("Last Run", "none yet")
	} else {
		field("Last Run", "")
		field("  Result", cellOrDash(string(r.Result)))
		field("  Revision", cellOrDash(r.Revision))
		field("  Started", timeCell(now, r.Start))
		field("  Duration", HumanDuration(r.Duration.Duration))
		field("  Changes", FormatCounts(r.Counts))
		field("  Message", cellOrDash(OneLine(r.Message, 0)))
	}
	if err := w.Flush(); err != nil {
		return err
	}

	fmt.Fprintf(out, "Objects: %d\n", st.Objects)
	if len(st.ObjectsByKind) > 0 {
		w = NewTableWriter(out)
		WriteRow(w, "  KIND", "COUNT")
		for _, k := range slices.Sorted(maps.Keys(st.ObjectsByKind)) {
			WriteRow(w, "  "+k, strconv.Itoa(st.ObjectsByKind[k]))
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}

	if len(st.History) == 0 {
		fmt.Fprintln(out, "History: none")
	} else {
		fmt.Fprintf(out, "History (newest %d):\n", len(st.History))
		if err := printHistoryTable(out, "  ", st.History, now, false); err != nil {
			return err
		}
	}

	if len(st.ActiveJobs) == 0 {
		fmt.Fprintln(out, "Active Jobs: none")
	} else {
		fmt.Fprintln(out, "Active Jobs:")
		w = NewTableWriter(out)
		WriteRow(w, "  NAME", "STATUS", "STARTED")
		for _, j := range st.ActiveJobs {
			started := "-"
			if j.StartTime != nil {
				started = HumanAge(now, *j.StartTime) + " ago"
			}
			WriteRow(w, "  "+j.Name, j.Status, started)
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}

	if len(st.Problems) > 0 {
		fmt.Fprintln(out, "Problems:")
		for _, p := range st.Problems {
			fmt.Fprintf(out, "  %s\n", OneLine(p, 0))
		}
	}
	return nil
}
