// Package lease makes gitsync runs of one sync mutually exclusive with a
// coordination.k8s.io/v1 Lease named gitsync-NAME in the sync's namespace.
//
// The rules, in the order Acquire applies them:
//
//   - No Lease: create it; the create that the API server accepts first wins.
//   - A Lease whose renewTime + leaseDurationSeconds is in the future: held
//     by another run; Acquire returns a *HeldError (errors.Is ErrHeld) and
//     the caller exits 0 saying a run is in progress.
//   - An expired Lease (its holder died without releasing): take it over
//     with an update that carries the resourceVersion just read, so that of
//     two runs taking it over at once the API server accepts one and the
//     other gets a conflict, which is again ErrHeld.
//
// Every Lease expires: one written without renewTime and acquireTime (by
// hand, or by another tool) counts as renewed at its last write, one without
// leaseDurationSeconds lasts Options.Duration, and none lasts longer than
// MaxDuration since its renewal. Otherwise a stray Lease would wedge the
// sync for good.
//
// While held, a goroutine renews the Lease every RenewInterval. A run checks
// Check before each write: it reports the Lease lost when a renewal found
// it taken over or deleted, and also when the Lease's duration has passed
// since the last renewal the API server accepted (renewals failing while
// the API server is unreachable), because from then on another run may
// take it over. Release stops renewal and deletes the Lease with UID and
// resourceVersion preconditions, so it never deletes a Lease another run
// has taken over.
package lease

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/kube"
	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/object"
	"github.com/gitsync/gitsync/pkg/retry"
)

// DefaultDuration is the default Options.Duration: long enough that a busy
// API server does not make a live run lose its lease, short enough that a
// run killed without releasing blocks the next scheduled run only briefly.
const DefaultDuration = 2 * time.Minute

// MaxDuration bounds how long any Lease keeps other runs out after its last
// renewal, whatever its leaseDurationSeconds says: a run renews every third
// of its duration, so no run of gitsync needs a longer one.
const MaxDuration = time.Hour

// ErrHeld matches (errors.Is) the error Acquire returns when another run
// holds the lease. The error is a *HeldError naming the holder.
var ErrHeld = errors.New("lease held by another run")

// ErrLost matches (errors.Is) the error Release returns, and Lost reports,
// when the lease was taken over or deleted while this run held it.
var ErrLost = errors.New("lease lost")

// HeldError says who holds a lease Acquire could not take.
type HeldError struct {
	// Lease is namespace/name of the Lease.
	Lease string
	// Holder is the holder identity recorded in the Lease; empty if unknown.
	Holder string
	// Expires is when the lease expires unless renewed; zero if unknown.
	Expires time.Time
}

// Error implements error.
func (e *HeldError) Error() string {
	msg := fmt.Sprintf("Lease/%s: held by %q", e.Lease, e.Holder)
	if !e.Expires.IsZero() {
		msg += " until " + e.Expires.UTC().Format(time.RFC3339)
	}
	return msg
}

// Is makes errors.Is(err, ErrHeld) true for a *HeldError.
func (e *HeldError) Is(target error) bool { return target == ErrHeld }

// Name returns the name of the Lease of sync.
func Name(sync string) string { return names.Lease(sync) }

// Options configures Acquire. The zero value of each field selects its
// default.
type Options struct {
	// Holder is the identity written into the Lease. Default
	// DefaultHolder().
	Holder string
	// Duration is how long the lease lasts without renewal; rounded up to
	// whole seconds, at least one, at most MaxDuration. It is also how long
	// a Lease without leaseDurationSeconds keeps this run out. Default
	// DefaultDuration.
	Duration time.Duration
	// RenewInterval is how often the lease is renewed while held. Default
	// Duration/3. Negative disables renewal (tests use it to let a lease
	// expire).
	RenewInterval time.Duration
	// Logger receives renewal failures. Default: discard.
	Logger *slog.Logger
}

// DefaultHolder returns the pod name ($HOSTNAME, else the host name) plus
// a random suffix, so that two runs in one pod, or a rerun in a pod with a
// reused name, are still told apart.
func DefaultHolder() string {
	host := os.Getenv("HOSTNAME")
	if host == "" {
		host, _ = os.Hostname()
	}
	if host == "" {
		host = "unknown"
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms.
	return host + "-" + hex.EncodeToString(b)
}

// Lease is a held lease. Its methods are safe for concurrent use.
type Lease struct {
	client    kube.Interface
	namespace string
	name      string
	holder    string
	duration  int32
	log       *slog.Logger

	mu      sync.Mutex
	current *coordinationv1.Lease // as last written by us
	lostErr error
	// validUntil is when the Lease expires unless renewed, by the local
	// clock: the duration counted from just before the last write the API
	// server accepted, so never later than another run can see it expire.
	validUntil time.Time

	stop     context.CancelFunc
	done     chan struct{} // closed when the renewer has returned
	lost     chan struct{} // closed when the lease is known lost
	lostOnce sync.Once
	released bool
}

// Acquire takes the Lease namespace/name for this run, creating it, or
// taking it over when it expired. It returns a *HeldError (errors.Is
// ErrHeld) when another run holds it. ctx bounds Acquire and the renewal
// goroutine; call Release when done.
//
// Its writes are safe to replay (see pkg/retry): a create or takeover whose
// answer was lost, sent again, finds the Lease naming this holder with the
// acquireTime it wrote, and Acquire knows it holds it.
func Acquire(ctx context.Context, client kube.Interface, namespace, name string, opts Options) (*Lease, error) {
	if opts.Holder == "" {
		opts.Holder = DefaultHolder()
	}
	if opts.Duration <= 0 {
		opts.Duration = DefaultDuration
	}
	opts.Duration = min(opts.Duration, MaxDuration)
	seconds := int32(math.Ceil(opts.Duration.Seconds()))
	if opts.RenewInterval == 0 {
		opts.RenewInterval = time.Duration(seconds) * time.Second / 3
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ref := namespace + "/" + name
	leases := client.Leases(namespace)

	var taken *coordinationv1.Lease
	var sent time.Time // local time just before the write that took it
	// A Lease can disappear between a failed create and the get (its holder
	// released it); then try again, a bounded number of times.
	for attempt := 0; taken == nil; attempt++ {
		if attempt == 3 {
			return nil, fmt.Errorf("%s: created and deleted concurrently %d times; giving up", leaseID(namespace, name), attempt)
		}
		sent = time.Now()
		now := metav1.NewMicroTime(sent)
		desired := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{
				Name:      name,
				Namespace: namespace,
				Labels:    map[string]string{"app.kubernetes.io/managed-by": "gitsync"},
			},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       &opts.Holder,
				LeaseDurationSeconds: &seconds,
				AcquireTime:          &now,
				RenewTime:            &now,
			},
		}
		created, err := leases.Create(retry.ReplaySafe(ctx), desired, metav1.CreateOptions{})
		if err == nil {
			taken = created
			break
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("%s: create: %w", leaseID(namespace, name), err)
		}
		existing, err := leases.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: get: %w", leaseID(namespace, name), err)
		}
		if wrote(existing, opts.Holder, existing.Spec.AcquireTime, sent) {
			taken = existing // our create got through; its answer did not
			break
		}
		if time.Now().Before(expiresAt(existing, opts.Duration)) {
			return nil, heldError(ref, existing, opts.Duration)
		}
		// Expired: take it over, conditional on the resourceVersion read.
		next := existing.DeepCopy()
		sent = time.Now()
		now = metav1.NewMicroTime(sent)
		next.Spec.HolderIdentity = &opts.Holder
		next.Spec.LeaseDurationSeconds = &seconds
		next.Spec.AcquireTime = &now
		next.Spec.RenewTime = &now
		transitions := int32(1)
		if existing.Spec.LeaseTransitions != nil {
			transitions = *existing.Spec.LeaseTransitions + 1
		}
		next.Spec.LeaseTransitions = &transitions
		updated, err := leases.Update(ctx, next, metav1.UpdateOptions{})
		switch {
		case apierrors.IsConflict(err), apierrors.IsNotFound(err):
			// Another run took it over (or released it) first, unless it
			// is this update, sent twice.
			winner, gerr := leases.Get(ctx, name, metav1.GetOptions{})
			if gerr == nil && wrote(winner, opts.Holder, winner.Spec.AcquireTime, sent) {
				updated = winner
				break
			}
			if gerr == nil {
				return nil, heldError(ref, winner, opts.Duration)
			}
			return nil, &HeldError{Lease: ref}
		case err != nil:
			return nil, fmt.Errorf("%s: take over expired lease of %q: %w", leaseID(namespace, name), holderOf(existing), err)
		}
		opts.Logger.InfoContext(ctx, "took over expired lease", "lease", ref, "previousHolder", holderOf(existing))
		taken = updated
	}

	renewCtx, stop := context.WithCancel(ctx)
	l := &Lease{
		client: client, namespace: namespace, name: name, holder: opts.Holder, duration: seconds,
		log: opts.Logger, current: taken, stop: stop, validUntil: sent.Add(time.Duration(seconds) * time.Second),
		done: make(chan struct{}), lost: make(chan struct{}),
	}
	if opts.RenewInterval > 0 {
		go l.renewLoop(renewCtx, opts.RenewInterval)
	} else {
		close(l.done)
	}
	return l, nil
}

// wrote tells whether l is this holder's write of at (acquireTime or
// renewTime, which the API server keeps to the microsecond).
func wrote(l *coordinationv1.Lease, holder string, field *metav1.MicroTime, at time.Time) bool {
	return holderOf(l) == holder && field != nil && field.Equal(&metav1.MicroTime{Time: at.Truncate(time.Microsecond)})
}

// Expiry returns when l expires: renewTime (or acquireTime) plus
// leaseDurationSeconds. ok is false when the Lease lacks those fields;
// Acquire then bounds it as the package documentation says.
func Expiry(l *coordinationv1.Lease) (expires time.Time, ok bool) {
	renewed := l.Spec.RenewTime
	if renewed == nil {
		renewed = l.Spec.AcquireTime
	}
	if renewed == nil || l.Spec.LeaseDurationSeconds == nil {
		return time.Time{}, false
	}
	return renewed.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second), true
}

// expiresAt returns when another run may take l over: as Expiry says, but
// with the last write standing in for a missing renewTime and acquireTime,
// fallback for a missing leaseDurationSeconds, and the duration capped at
// MaxDuration.
func expiresAt(l *coordinationv1.Lease, fallback time.Duration) time.Time {
	duration := fallback
	if l.Spec.LeaseDurationSeconds != nil {
		duration = time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
	}
	return renewedAt(l).Add(min(max(duration, 0), MaxDuration))
}

// renewedAt returns when l was last renewed: renewTime, else acquireTime,
// else its last write (the newest managedFields entry, else its creation).
func renewedAt(l *coordinationv1.Lease) time.Time {
	switch {
	case l.Spec.RenewTime != nil:
		return l.Spec.RenewTime.Time
	case l.Spec.AcquireTime != nil:
		return l.Spec.AcquireTime.Time
	}
	last := l.CreationTimestamp.Time
	for _, m := range l.ManagedFields {
		if m.Time != nil && m.Time.After(last) {
			last = m.Time.Time
		}
	}
	return last
}

func holderOf(l *coordinationv1.Lease) string {
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

func heldError(ref string, l *coordinationv1.Lease, fallback time.Duration) *HeldError {
	return &HeldError{Lease: ref, Holder: holderOf(l), Expires: expiresAt(l, fallback)}
}

// Info describes a Lease as `kubectl gitsync status` shows it.
type Info struct {
	// Holder is the holder identity; empty if the Lease names none.
	Holder string
	// Acquired is when the holder took it (acquireTime, else the Lease's
	// creation).
	Acquired time.Time
	// Renewed is when it was last renewed (see the package documentation
	// for Leases without renewTime).
	Renewed time.Time
	// Expires is when another run may take it over unless it is renewed,
	// counting DefaultDuration for a Lease without leaseDurationSeconds.
	Expires time.Time
}

// Held tells whether the Lease keeps runs out at now.
func (i *Info) Held(now time.Time) bool { return now.Before(i.Expires) }

// Age returns how long the holder has held the Lease at now.
func (i *Info) Age(now time.Time) time.Duration { return now.Sub(i.Acquired) }

// Read returns the Lease namespace/name, or nil when there is none. It
// writes nothing.
func Read(ctx context.Context, client kube.Interface, namespace, name string) (*Info, error) {
	l, err := client.Leases(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: get: %w", leaseID(namespace, name), err)
	}
	info := &Info{Holder: holderOf(l), Acquired: l.CreationTimestamp.Time, Renewed: renewedAt(l), Expires: expiresAt(l, DefaultDuration)}
	if l.Spec.AcquireTime != nil {
		info.Acquired = l.Spec.AcquireTime.Time
	}
	return info, nil
}

// Holder returns this run's holder identity.
func (l *Lease) Holder() string { return l.holder }

// Lost is closed when a renewal finds the lease taken over or deleted; the
// run should then stop, because another run may be working.
func (l *Lease) Lost() <-chan struct{} { return l.lost }

// Err returns why the lease was lost (errors.Is ErrLost), or nil.
func (l *Lease) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lostErr
}

// Check returns nil while the Lease is known to be this run's: no renewal
// found it taken over or deleted, and its duration has not passed since the
// last write the API server accepted. Otherwise it returns an error
// matching ErrLost, and keeps returning it. It makes no request, so a run
// calls it before each write.
func (l *Lease) Check() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.check()
}

// check is Check with l.mu held.
func (l *Lease) check() error {
	if l.lostErr == nil && !time.Now().Before(l.validUntil) {
		l.setLost(fmt.Errorf("%s: %w: not renewed since %s, its duration (%ds) has passed; another run may hold it",
			leaseID(l.namespace, l.name), ErrLost, l.validUntil.Add(-time.Duration(l.duration)*time.Second).UTC().Format(time.RFC3339), l.duration))
	}
	return l.lostErr
}

// setLost records why the Lease was lost and closes Lost. l.mu is held.
func (l *Lease) setLost(err error) {
	l.lostErr = err
	l.lostOnce.Do(func() { close(l.lost) })
}

func (l *Lease) renewLoop(ctx context.Context, interval time.Duration) {
	defer close(l.done)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if err := l.Renew(ctx); err != nil {
			if errors.Is(err, ErrLost) {
				l.log.ErrorContext(ctx, "lease lost", "lease", l.namespace+"/"+l.name, "error", err)
				return
			}
			if ctx.Err() != nil {
				return
			}
			// A transient failure: the next tick retries while the lease
			// has not expired; if another run takes it over meanwhile, the
			// next Renew reports the loss.
			l.log.WarnContext(ctx, "lease renewal failed", "lease", l.namespace+"/"+l.name, "error", err)
		}
	}
}

// Renew sets the lease's renewTime to now. The renewal goroutine calls it;
// a caller may too, for example before a long step. A conflict or a missing
// Lease means another run took it over: the error then matches ErrLost and
// Lost is closed.
func (l *Lease) Renew(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return fmt.Errorf("%s: already released", leaseID(l.namespace, l.name))
	}
	// A Lease that expired while renewals failed stays lost even if this
	// update would succeed: another run may have taken it over and
	// released it in between.
	if err := l.check(); err != nil {
		return err
	}
	next := l.current.DeepCopy()
	sent := time.Now()
	now := metav1.NewMicroTime(sent)
	next.Spec.RenewTime = &now
	updated, err := l.client.Leases(l.namespace).Update(ctx, next, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		// Taken over, unless this is our renewal, sent twice.
		if live, gerr := l.client.Leases(l.namespace).Get(ctx, l.name, metav1.GetOptions{}); gerr == nil &&
			live.UID == l.current.UID && wrote(live, l.holder, live.Spec.RenewTime, sent) {
			updated, err = live, nil
		}
	}
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		lost := fmt.Errorf("%s: %w: %w", leaseID(l.namespace, l.name), ErrLost, err)
		l.setLost(lost)
		return lost
	}
	if err != nil {
		return fmt.Errorf("%s: renew: %w", leaseID(l.namespace, l.name), err)
	}
	l.current = updated
	l.validUntil = sent.Add(time.Duration(l.duration) * time.Second)
	return nil
}

// Release stops renewal and deletes the Lease, on condition that it is
// still the one this run wrote (same UID and resourceVersion). If another
// run took it over, nothing is deleted and the error matches ErrLost; a
// Lease already gone is not an error. ctx
// should not be the one whose cancellation ended the run: a run stopped by
// SIGTERM still wants to release (use context.WithoutCancel plus a
// timeout). Release is idempotent.
func (l *Lease) Release(ctx context.Context) error {
	l.stop()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return l.lostErr
	}
	l.released = true
	if l.lostErr != nil {
		return l.lostErr
	}
	uid := l.current.UID
	rv := l.current.ResourceVersion
	err := l.client.Leases(l.namespace).Delete(ctx, l.name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &uid, ResourceVersion: &rv},
	})
	switch {
	case err == nil, apierrors.IsNotFound(err):
		// NotFound: gone already, which is all Release is for (and what a
		// delete sent twice answers).
		return nil
	case apierrors.IsConflict(err):
		l.setLost(fmt.Errorf("%s: %w: %w", leaseID(l.namespace, l.name), ErrLost, err))
		return l.lostErr
	default:
		// Not released; the lease expires on its own after its duration.
		l.released = false
		return fmt.Errorf("%s: release: %w", leaseID(l.namespace, l.name), err)
	}
}

// leaseID is the Lease's object ID: errors start with it, as Lease/namespace/name.
func leaseID(namespace, name string) object.ID {
	return object.ID{Kind: "Lease", Namespace: namespace, Name: name}
}
