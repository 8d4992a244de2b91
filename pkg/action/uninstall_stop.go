package action

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gitsync/gitsync/pkg/apply"
	"github.com/gitsync/gitsync/pkg/lease"
	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/object"
)

// DefaultJobTimeout is the default UninstallOptions.JobTimeout.
const DefaultJobTimeout = 2 * time.Minute

// ErrRunStillActive matches (errors.Is) the error Uninstall returns when a
// run of the sync did not stop within UninstallOptions.JobTimeout: the
// sync's spec, state and identity are then kept, so that the run has
// nothing to write to but its own inventory, and uninstall can be run again.
var ErrRunStillActive = errors.New("a run of the sync is still active")

// stopPollInterval is how often Uninstall looks whether a Job is gone.
const stopPollInterval = 250 * time.Millisecond

// stopRuns makes sure that no run of the sync starts or goes on, in this
// order: the CronJob is suspended, so that it starts no Job; every Job of
// the CronJob (scheduled or started by `run`) is deleted with foreground
// propagation, and Uninstall waits until it is gone, which is after its Pod
// ended (a Pod's sync-job records its run on SIGTERM); the CronJob is
// deleted; and the Lease is seized, so that no run can take it, and a run
// that holds it elsewhere (an in-process run) stops before its next write.
// Uninstall waits for such a run until its Lease would have expired. Both
// waits share opts.JobTimeout.
func stopRuns(ctx context.Context, cfg *Config, opts UninstallOptions, del func(object.ID, map[string]string) error, res *UninstallResult) error {
	timeout := opts.JobTimeout
	if timeout <= 0 {
		timeout = DefaultJobTimeout
	}
	deadline := time.Now().Add(timeout)
	prog := progressOr(opts.Progress)
	ns := opts.Namespace
	cjID := object.ID{Group: "batch", Kind: "CronJob", Namespace: ns, Name: names.CronJob(opts.Name)}
	var stopped []*batchv1.Job
	cj, err := cfg.Client.BatchV1().CronJobs(ns).Get(ctx, cjID.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("%s: get: %w", cjID, err)
	case hasLabels(cj.Labels, installLabels(opts.Ref)):
		if cj.Spec.Suspend == nil || !*cj.Spec.Suspend {
			patch := []byte(`{"spec":{"suspend":true}}`)
			if _, err := cfg.Client.BatchV1().CronJobs(ns).Patch(ctx, cj.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("%s: suspend: %w", cjID, err)
			}
			prog.Event(fmt.Sprintf("%s suspended", cjID))
		}
		jobs, err := ownedJobs(ctx, cfg.Client, cj)
		if err != nil {
			return err
		}
		if err := stopJobs(ctx, cfg, jobs, deadline, prog, res); err != nil {
			return err
		}
		stopped = jobs
	}
	// Deleted once its Jobs are gone (or kept, and reported, when it is not
	// labelled as this sync's).
	if err := del(cjID, installLabels(opts.Ref)); err != nil {
		return err
	}

	seized, err := lease.Seize(ctx, cfg.Client, ns, names.Lease(opts.Name), seizeHolder(), lease.MaxDuration)
	if err != nil {
		return err
	}
	if !time.Now().Before(seized.Until) || heldByPodOf(seized.Previous, stopped) {
		return nil
	}
	prog.Event(fmt.Sprintf("Lease/%s/%s taken from run %q", ns, names.Lease(opts.Name), seized.Previous))
	prog.Status(fmt.Sprintf("waiting for run %q to stop (until %s at the latest)", seized.Previous, seized.Until.UTC().Format(time.RFC3339)))
	defer prog.Status("")
	wait := time.Until(seized.Until)
	if time.Until(deadline) < wait {
		return fmt.Errorf("%w: run %q held Lease/%s/%s and may write until %s, after --job-timeout; the CronJob is gone and the Lease is held by uninstall, so no run starts: run uninstall again after that time",
			ErrRunStillActive, seized.Previous, ns, names.Lease(opts.Name), seized.Until.UTC().Format(time.RFC3339))
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(wait):
	}
	return nil
}

// stopJobs deletes jobs with foreground propagation and waits until each
// is gone (its Pods first), until deadline.
func stopJobs(ctx context.Context, cfg *Config, jobs []*batchv1.Job, deadline time.Time, prog Progress, res *UninstallResult) error {
	fg := metav1.DeletePropagationForeground
	pending := map[types.UID]*batchv1.Job{}
	for _, j := range jobs {
		err := cfg.Client.BatchV1().Jobs(j.Namespace).Delete(ctx, j.Name, metav1.DeleteOptions{
			PropagationPolicy: &fg,
			Preconditions:     &metav1.Preconditions{UID: &j.UID},
		})
		switch {
		case apierrors.IsNotFound(err), apierrors.IsConflict(err):
			continue
		case err != nil:
			return fmt.Errorf("%s: delete: %w", jobID(j), err)
		}
		if finished, _, _ := jobOutcome(j); !finished {
			prog.Event(fmt.Sprintf("%s: stopping its run", jobID(j)))
		}
		pending[j.UID] = j
	}
	defer prog.Status("")
	for len(pending) > 0 {
		var left []string
		for uid, j := range pending {
			live, err := cfg.Client.BatchV1().Jobs(j.Namespace).Get(ctx, j.Name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err) || err == nil && live.UID != uid:
				delete(pending, uid)
				res.Deletions = append(res.Deletions, Deletion{ID: jobID(j), Action: apply.Deleted})
			case err != nil:
				return fmt.Errorf("%s: get: %w", jobID(j), err)
			default:
				left = append(left, j.Name)
			}
		}
		if len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: Jobs %s not gone after --job-timeout; the CronJob is suspended, run uninstall again", ErrRunStillActive, strings.Join(left, ", "))
		}
		prog.Status(fmt.Sprintf("waiting for %d Jobs to stop: %s", len(left), strings.Join(left, ", ")))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(stopPollInterval):
		}
	}
	return nil
}

// heldByPodOf tells whether holder is the Lease holder identity of a Pod of
// one of jobs (lease.DefaultHolder: the Pod's name, a dash and a suffix; a
// Job's Pods are named after the Job): such a run ended with its Job.
func heldByPodOf(holder string, jobs []*batchv1.Job) bool {
	for _, j := range jobs {
		if strings.HasPrefix(holder, j.Name+"-") {
			return true
		}
	}
	return false
}

// seizeHolder returns the holder identity Uninstall writes into the Lease.
func seizeHolder() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms.
	return "kubectl-gitsync-uninstall-" + hex.EncodeToString(b)
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}
