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
// While held, a goroutine renews the Lease every RenewInterval. Release
// stops it and deletes the Lease with UID and resourceVersion
// preconditions, so it never deletes a Lease another run has taken over.
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
	"k8s.io/client-go/kubernetes"

	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/object"
)

// DefaultDuration is the default Options.Duration: long enough that a busy
// API server does not make a live run lose its lease, short enough that a
// run killed without releasing blocks the next scheduled run only briefly.
const DefaultDuration = 2 * time.Minute

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
	// whole seconds, at least one. Default DefaultDuration.
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
	client    kubernetes.Interface
	namespace string
	name      string
	holder    string
	duration  int32
	log       *slog.Logger

	mu      sync.Mutex
	current *coordinationv1.Lease // as last written by us
	lostErr error

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
func Acquire(ctx context.Context, client kubernetes.Interface, namespace, name string, opts Options) (*Lease, error) {
	if opts.Holder == "" {
		opts.Holder = DefaultHolder()
	}
	if opts.Duration <= 0 {
		opts.Duration = DefaultDuration
	}
	seconds := int32(min(math.Ceil(opts.Duration.Seconds()), math.MaxInt32))
	if opts.RenewInterval == 0 {
		opts.RenewInterval = time.Duration(seconds) * time.Second / 3
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ref := namespace + "/" + name
	leases := client.CoordinationV1().Leases(namespace)

	var taken *coordinationv1.Lease
	// A Lease can disappear between a failed create and the get (its holder
	// released it); then try again, a bounded number of times.
	for attempt := 0; taken == nil; attempt++ {
		if attempt == 3 {
			return nil, fmt.Errorf("%s: created and deleted concurrently %d times; giving up", leaseID(namespace, name), attempt)
		}
		now := metav1.NewMicroTime(time.Now())
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
		created, err := leases.Create(ctx, desired, metav1.CreateOptions{})
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
		if expires, ok := Expiry(existing); !ok || time.Now().Before(expires) {
			return nil, heldError(ref, existing)
		}
		// Expired: take it over, conditional on the resourceVersion read.
		next := existing.DeepCopy()
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
			// Another run took it over (or released it) first.
			if winner, gerr := leases.Get(ctx, name, metav1.GetOptions{}); gerr == nil {
				return nil, heldError(ref, winner)
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
		log: opts.Logger, current: taken, stop: stop,
		done: make(chan struct{}), lost: make(chan struct{}),
	}
	if opts.RenewInterval > 0 {
		go l.renewLoop(renewCtx, opts.RenewInterval)
	} else {
		close(l.done)
	}
	return l, nil
}

// Expiry returns when l expires: renewTime (or acquireTime) plus
// leaseDurationSeconds. ok is false when the Lease lacks those fields; such
// a Lease is treated as held, since its writer's intent is unknown.
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

func holderOf(l *coordinationv1.Lease) string {
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

func heldError(ref string, l *coordinationv1.Lease) *HeldError {
	expires, _ := Expiry(l)
	return &HeldError{Lease: ref, Holder: holderOf(l), Expires: expires}
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
	if l.lostErr != nil {
		return l.lostErr
	}
	if l.released {
		return fmt.Errorf("%s: already released", leaseID(l.namespace, l.name))
	}
	next := l.current.DeepCopy()
	now := metav1.NewMicroTime(time.Now())
	next.Spec.RenewTime = &now
	updated, err := l.client.CoordinationV1().Leases(l.namespace).Update(ctx, next, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		lost := fmt.Errorf("%s: %w: %w", leaseID(l.namespace, l.name), ErrLost, err)
		l.lostErr = lost
		l.lostOnce.Do(func() { close(l.lost) })
		return lost
	}
	if err != nil {
		return fmt.Errorf("%s: renew: %w", leaseID(l.namespace, l.name), err)
	}
	l.current = updated
	return nil
}

// Release stops renewal and deletes the Lease, on condition that it is
// still the one this run wrote (same UID and resourceVersion). If another
// run took it over, nothing is deleted and the error matches ErrLost. ctx
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
	err := l.client.CoordinationV1().Leases(l.namespace).Delete(ctx, l.name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &uid, ResourceVersion: &rv},
	})
	switch {
	case err == nil:
		return nil
	case apierrors.IsConflict(err), apierrors.IsNotFound(err):
		l.lostErr = fmt.Errorf("%s: %w: %w", leaseID(l.namespace, l.name), ErrLost, err)
		l.lostOnce.Do(func() { close(l.lost) })
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
