package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/util/retry"

	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/spec"
)

// SuspendOptions are the options of `kubectl gitsync suspend` and `resume`;
// the embedded syncRef names the sync.
type SuspendOptions struct {
	// Suspend is true for suspend, false for resume.
	Suspend bool

	syncRef

	genericiooptions.IOStreams
}

// NewSuspendCommand returns the `suspend` command.
func NewSuspendCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &SuspendOptions{syncRef: syncRef{flags: flags}, IOStreams: streams, Suspend: true}
	return o.command("suspend NAME", "Stop a sync's scheduled runs",
		`Set suspend: true on the sync's CronJob, so that it starts no more runs, and in the spec (ConfigMap
gitsync-NAME), so that a run started by hand or by an older Job does nothing either. A run already in
progress finishes. The applied objects stay as they are; drift is no longer corrected. resume undoes it.`,
		`  # Stop syncing web, e.g. during an incident
  kubectl gitsync suspend web -n team-a`)
}

// NewResumeCommand returns the `resume` command.
func NewResumeCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &SuspendOptions{syncRef: syncRef{flags: flags}, IOStreams: streams, Suspend: false}
	return o.command("resume NAME", "Restart a sync's scheduled runs, and clear a rollback pin",
		`Set suspend: false in the sync's spec (ConfigMap gitsync-NAME) and on its CronJob, so that runs start
again on schedule. If a rollback pinned the sync to a revision (the CronJob's sync-job container runs with
--revision and carries the annotation gitsync.io/pinned-revision), resume removes the pin: the next run
follows the spec's ref again.`,
		`  # Resume syncing web; the next scheduled run applies the newest revision
  kubectl gitsync resume web -n team-a`)
}

func (o *SuspendOptions) command(use, short, long, example string) *cobra.Command {
	return &cobra.Command{
		Use:               use,
		Short:             short,
		Long:              long,
		Example:           example,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: CompleteSyncNames(o.flags),
		RunE:              runE(o),
	}
}

// Complete reads the argument and the namespace and builds the client.
func (o *SuspendOptions) Complete(cmd *cobra.Command, args []string) error {
	return o.complete(cmd, args)
}

// Validate checks the argument.
func (o *SuspendOptions) Validate() error {
	return ValidateSyncName(o.Name)
}

func (o *SuspendOptions) verb() string {
	if o.Suspend {
		return "suspended"
	}
	return "resumed"
}

// Run flips the spec and the CronJob. Suspend writes the CronJob first, so
// that scheduled runs stop even if the spec cannot be written; resume
// writes the spec first, so that a run it lets start reads suspend: false.
func (o *SuspendOptions) Run(ctx context.Context) error {
	s, err := GetSync(ctx, o.client, o.Namespace, o.Name)
	if err != nil {
		return err
	}
	cjName := spec.ConfigMapName(o.Name)
	if s.CronJob == nil {
		return fmt.Errorf("CronJob/%s/%s: not found: sync %s is not installed (kubectl gitsync install)", o.Namespace, cjName, o.Name)
	}
	if s.ConfigMap == nil {
		return fmt.Errorf("ConfigMap/%s/%s: not found: the sync has no spec", o.Namespace, cjName)
	}
	var changed []string
	if o.Suspend {
		cjChanged, _, err := o.updateCronJob(ctx)
		if err != nil {
			return err
		}
		if cjChanged {
			changed = append(changed, "CronJob")
		}
		specChanged, err := o.updateSpec(ctx)
		if err != nil {
			return fmt.Errorf("%w (the CronJob is suspended: no scheduled runs start)", err)
		}
		if specChanged {
			changed = append(changed, "spec")
		}
	} else {
		specChanged, err := o.updateSpec(ctx)
		if err != nil {
			return err
		}
		if specChanged {
			changed = append(changed, "spec")
		}
		cjChanged, pin, err := o.updateCronJob(ctx)
		if err != nil {
			return err
		}
		if cjChanged {
			changed = append(changed, "CronJob")
		}
		if pin != "" {
			fmt.Fprintf(o.Out, "rollback pin to %s removed: runs follow the spec's ref again\n", pin)
		}
	}
	if len(changed) == 0 {
		_, err := fmt.Fprintf(o.Out, "sync %s/%s is already %s\n", o.Namespace, o.Name, o.verb())
		return err
	}
	msg := fmt.Sprintf("sync %s/%s %s", o.Namespace, o.Name, o.verb())
	if !o.Suspend {
		cj, err := o.client.BatchV1().CronJobs(o.Namespace).Get(ctx, cjName, metav1.GetOptions{})
		if err == nil {
			if next, err := NextRun(cj, o.now()); err == nil && !next.IsZero() {
				msg += ": next run " + HumanUntil(o.now(), next)
			}
		}
	}
	_, err = fmt.Fprintln(o.Out, msg)
	return err
}

// updateSpec sets suspend in the spec ConfigMap, keeping the spec valid: it
// is parsed, changed and written back canonically, with the
// resourceVersion read as precondition (retried on conflict). It reports
// whether it wrote anything.
func (o *SuspendOptions) updateSpec(ctx context.Context) (bool, error) {
	changed := false
	cms := o.client.CoreV1().ConfigMaps(o.Namespace)
	name := spec.ConfigMapName(o.Name)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		changed = false
		cm, err := cms.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("ConfigMap/%s/%s: get: %w", o.Namespace, name, err)
		}
		data, err := SetSpecSuspend(cm, o.Suspend)
		if err != nil || data == "" {
			return err
		}
		cm.Data[spec.ConfigMapKey] = data
		if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: install.FieldManager}); err != nil {
			return fmt.Errorf("ConfigMap/%s/%s: update: %w", o.Namespace, name, err)
		}
		changed = true
		return nil
	})
	return changed, err
}

// SetSpecSuspend returns the spec of the spec ConfigMap cm with suspend set
// to suspend, as canonical YAML; "" when the spec already says so. An
// invalid spec is an error: it is not rewritten.
func SetSpecSuspend(cm *corev1.ConfigMap, suspend bool) (string, error) {
	s, err := spec.Parse([]byte(cm.Data[spec.ConfigMapKey]))
	if err != nil {
		return "", fmt.Errorf("ConfigMap/%s/%s: %s: invalid spec, not changed: %w", cm.Namespace, cm.Name, spec.ConfigMapKey, err)
	}
	if s.Spec.Suspend == suspend {
		return "", nil
	}
	s.Spec.Suspend = suspend
	data, err := s.Marshal()
	if err != nil {
		return "", fmt.Errorf("ConfigMap/%s/%s: %w", cm.Namespace, cm.Name, err)
	}
	// Parse again: what is written must be what sync-job will read.
	if _, err := spec.Parse(data); err != nil {
		return "", fmt.Errorf("ConfigMap/%s/%s: %s: %w", cm.Namespace, cm.Name, spec.ConfigMapKey, err)
	}
	return string(data), nil
}

// updateCronJob sets the CronJob's spec.suspend and, on resume, removes a
// rollback pin. It patches with the resourceVersion read as precondition
// (retried on conflict) and reports whether it changed anything and the
// pinned revision it removed.
func (o *SuspendOptions) updateCronJob(ctx context.Context) (bool, string, error) {
	var (
		changed bool
		pin     string
	)
	cjs := o.client.BatchV1().CronJobs(o.Namespace)
	name := spec.ConfigMapName(o.Name)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		changed, pin = false, ""
		cj, err := cjs.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("CronJob/%s/%s: get: %w", o.Namespace, name, err)
		}
		patch, p := cronJobPatch(cj, o.Suspend)
		if patch == nil {
			return nil
		}
		data, err := json.Marshal(patch)
		if err != nil {
			return fmt.Errorf("CronJob/%s/%s: %w", o.Namespace, name, err)
		}
		// A strategic merge patch merges containers by name and replaces
		// their args; the resourceVersion in it makes it conditional.
		_, err = cjs.Patch(ctx, name, types.StrategicMergePatchType, data, metav1.PatchOptions{FieldManager: install.FieldManager})
		if err != nil {
			return fmt.Errorf("CronJob/%s/%s: patch: %w", o.Namespace, name, err)
		}
		changed, pin = true, p
		return nil
	})
	return changed, pin, err
}

// cronJobPatch returns the strategic merge patch that sets cj's suspend
// and, when resuming, removes the rollback pin (the annotation and the
// --revision arguments); nil when nothing is to change. It also returns the
// pinned revision it removes.
func cronJobPatch(cj *batchv1.CronJob, suspend bool) (map[string]any, string) {
	meta := map[string]any{"resourceVersion": cj.ResourceVersion}
	specPatch := map[string]any{}
	if current := cj.Spec.Suspend != nil && *cj.Spec.Suspend; current != suspend {
		specPatch["suspend"] = suspend
	}
	pin := ""
	if !suspend {
		if rev, ok := cj.Annotations[AnnotationPinnedRevision]; ok {
			pin = rev
			meta["annotations"] = map[string]any{AnnotationPinnedRevision: nil}
		}
		var containers []map[string]any
		for _, c := range cj.Spec.JobTemplate.Spec.Template.Spec.Containers {
			args, rev, removed := withoutRevision(c.Args)
			if !removed {
				continue
			}
			if pin == "" {
				pin = cmp.Or(rev, "an unknown revision")
			}
			containers = append(containers, map[string]any{"name": c.Name, "args": args})
		}
		if len(containers) > 0 {
			specPatch["jobTemplate"] = map[string]any{"spec": map[string]any{"template": map[string]any{
				"spec": map[string]any{"containers": containers}}}}
		}
	}
	if len(specPatch) == 0 && len(meta) == 1 {
		return nil, ""
	}
	patch := map[string]any{"metadata": meta}
	if len(specPatch) > 0 {
		patch["spec"] = specPatch
	}
	return patch, pin
}

// withoutRevision returns args without --revision=REV or --revision REV,
// the revision it removed, and whether it removed anything.
func withoutRevision(args []string) ([]string, string, bool) {
	out := make([]string, 0, len(args))
	rev := ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		if v, ok := strings.CutPrefix(a, RevisionArg); ok {
			rev = v
			continue
		}
		if a == strings.TrimSuffix(RevisionArg, "=") {
			if i+1 < len(args) {
				rev = args[i+1]
				i++
			}
			continue
		}
		out = append(out, a)
	}
	if len(out) == len(args) {
		return args, "", false
	}
	return slices.Clip(out), rev, true
}
