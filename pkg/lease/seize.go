package lease

import (
	"context"
	"fmt"
	"math"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/kube"
	"github.com/gitsync/gitsync/pkg/retry"
)

// AnnotationSeizedUntil is set by Seize on the Lease it takes: until when
// (RFC 3339) a run that held the Lease before may still believe it holds it
// and write. A second Seize (an uninstall run again) keeps the later of it
// and its own previous holder's expiry, so that it knows how long to wait
// although the Lease names an uninstall by then.
const AnnotationSeizedUntil = "gitsync.io/seized-until"

// AnnotationSeizedBy names the holder Seize wrote: a Lease whose holder is
// the one named there is held by an uninstall, not by a run.
const AnnotationSeizedBy = "gitsync.io/seized-by"

// Seized is what Seize found and did.
type Seized struct {
	// Previous is the holder the Lease named before; empty when there was
	// no Lease or it named none.
	Previous string
	// Until is when a run that held the Lease before may stop writing at
	// the latest: the previous holder's expiry (it stops by then on its own
	// Check, see Lease.Check), or an earlier Seize's. Zero or past when no
	// run can still hold it.
	Until time.Time
}

// Seize takes the Lease namespace/name for holder whoever holds it, for
// duration (at most MaxDuration), so that no run starts while uninstall
// removes the sync: unlike Acquire it does not wait for a live holder to
// expire. The previous holder's next renewal then fails with a conflict,
// and it stops before its next write; until that, or until its own expiry
// (Seized.Until), it may still write. A missing Lease is created. The
// update carries the resourceVersion read, and Seize reads again after a
// conflict (a renewal in between), a bounded number of times.
func Seize(ctx context.Context, client kube.Interface, namespace, name, holder string, duration time.Duration) (*Seized, error) {
	duration = min(max(duration, time.Second), MaxDuration)
	seconds := int32(math.Ceil(duration.Seconds()))
	leases := client.Leases(namespace)
	for attempt := 0; attempt < 5; attempt++ {
		now := metav1.NewMicroTime(time.Now())
		existing, err := leases.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			l := &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace,
					Labels:      map[string]string{"app.kubernetes.io/managed-by": "gitsync"},
					Annotations: map[string]string{AnnotationSeizedBy: holder}},
				Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &seconds, AcquireTime: &now, RenewTime: &now},
			}
			_, err := leases.Create(retry.ReplaySafe(ctx), l, metav1.CreateOptions{})
			switch {
			case err == nil:
				return &Seized{}, nil
			case apierrors.IsAlreadyExists(err):
				continue // a run took it just now: seize it from that run
			default:
				return nil, fmt.Errorf("%s: create: %w", leaseID(namespace, name), err)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s: get: %w", leaseID(namespace, name), err)
		}
		seized := &Seized{Previous: holderOf(existing), Until: expiresAt(existing, DefaultDuration)}
		if seizer := existing.Annotations[AnnotationSeizedBy]; seizer != "" && seizer == seized.Previous {
			// Held by an earlier Seize, not by a run: only the run it
			// seized the Lease from may still be writing.
			seized.Until = time.Time{}
		}
		if earlier, err := time.Parse(time.RFC3339, existing.Annotations[AnnotationSeizedUntil]); err == nil && earlier.After(seized.Until) {
			seized.Until = earlier
		}
		next := existing.DeepCopy()
		if next.Annotations == nil {
			next.Annotations = map[string]string{}
		}
		next.Annotations[AnnotationSeizedBy] = holder
		if !seized.Until.IsZero() {
			next.Annotations[AnnotationSeizedUntil] = seized.Until.UTC().Add(time.Second).Truncate(time.Second).Format(time.RFC3339)
		}
		next.Spec.HolderIdentity = &holder
		next.Spec.LeaseDurationSeconds = &seconds
		next.Spec.AcquireTime = &now
		next.Spec.RenewTime = &now
		transitions := int32(1)
		if existing.Spec.LeaseTransitions != nil {
			transitions = *existing.Spec.LeaseTransitions + 1
		}
		next.Spec.LeaseTransitions = &transitions
		_, err = leases.Update(ctx, next, metav1.UpdateOptions{})
		switch {
		case err == nil:
			return seized, nil
		case apierrors.IsConflict(err), apierrors.IsNotFound(err):
			// Renewed or released in between (or this update, sent twice:
			// then the next read finds holder and seizes again, harmlessly).
			continue
		default:
			return nil, fmt.Errorf("%s: seize from %q: %w", leaseID(namespace, name), seized.Previous, err)
		}
	}
	return nil, fmt.Errorf("%s: changed on every attempt to take it over; giving up", leaseID(namespace, name))
}
