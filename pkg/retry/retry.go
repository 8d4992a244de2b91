// Package retry makes every API request of a run survive transient faults:
// one http.RoundTripper under all of a run's clients (typed, dynamic,
// metadata, discovery), so that apply, prune, the Lease, the inventory,
// history and Events all get the same policy instead of each its own.
//
// The policy, per request:
//
//   - 429 Too Many Requests and 503 Service Unavailable are retried for
//     every method: the API server (or a proxy before it) refused the
//     request without processing it. A Retry-After header is honoured, up
//     to Options.MaxBackoff.
//   - A connection that could not be made (refused, DNS) is retried for
//     every method: nothing was sent.
//   - Faults after which the request may have been processed — a connection
//     reset or closed mid-answer, an HTTP/2 GOAWAY or lost connection, a
//     500 (etcd "leader changed", a failing webhook), 502 or 504 — are
//     retried only for requests that may be sent twice: every method but
//     POST, and a POST whose context is marked with ReplaySafe. A replayed
//     write can find its own first attempt: an update then answers 409
//     Conflict, a create 409 AlreadyExists, a delete 404. The callers that
//     write so (the Lease, the inventory) recognize their own write; see
//     their documentation.
//   - Anything else, 4xx validation errors above all, is returned at once.
//
// Retries are bounded (Options.Attempts sends in all), spaced by an
// exponential backoff with jitter, and stop when the request's context
// ends. A request whose attempts ran out is returned as its last attempt
// ended, except that a Retry-After header is removed and a transport error
// is wrapped so that client-go does not start its own round of retries on
// top.
package retry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/rest"
)

// Options tunes the retries. The zero value of each field selects its
// default.
type Options struct {
	// Attempts is how many times one request is sent at most. Default 10:
	// even a fault rate of 30 % then loses one request in about 170,000.
	Attempts int
	// Backoff is the delay before the first retry; each further retry
	// doubles it, up to MaxBackoff. Every delay is jittered to between half
	// and all of its value, so that the requests a fault failed together do
	// not come back together. Default 200ms.
	Backoff time.Duration
	// MaxBackoff caps each delay, and the wait a Retry-After header asks
	// for. Default 5s, so the delays of one request add up to less than half
	// a minute.
	MaxBackoff time.Duration
}

func (o Options) withDefaults() Options {
	if o.Attempts <= 0 {
		o.Attempts = 10
	}
	if o.Backoff <= 0 {
		o.Backoff = 200 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Second
	}
	return o
}

// Counter counts the retries of the clients of one configuration.
type Counter struct{ retries atomic.Int64 }

// Retries returns how many requests were sent again so far.
func (c *Counter) Retries() int64 { return c.retries.Load() }

// Wrap makes every client built from cfg afterwards retry transient faults
// as the package documentation says, and returns the counter of its
// retries. It wraps the transports cfg already wraps, so a request counter
// wrapped before sees every attempt. Wrapping a config wrapped already (or
// a copy of it) is harmless: the outermost transport retries, and counts,
// and the inner ones send each attempt once.
func Wrap(cfg *rest.Config, opts Options) *Counter {
	c := &Counter{}
	opts = opts.withDefaults()
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return &transport{next: rt, opts: opts, counter: c}
	})
	return c
}

type replaySafeKey struct{}

// ReplaySafe marks ctx's requests as safe to send twice: a POST made with
// it is retried after faults that may have let its first attempt through.
// Use it for creates whose caller recognizes its own earlier create in an
// AlreadyExists answer, and for creates whose duplicate harms nothing
// (Events).
func ReplaySafe(ctx context.Context) context.Context {
	return context.WithValue(ctx, replaySafeKey{}, true)
}

func replaySafe(req *http.Request) bool {
	if req.Method != http.MethodPost {
		return true
	}
	safe, _ := req.Context().Value(replaySafeKey{}).(bool)
	return safe
}

type transport struct {
	next    http.RoundTripper
	opts    Options
	counter *Counter
}

// WrappedRoundTripper lets client-go's transport debugging see through.
func (t *transport) WrappedRoundTripper() http.RoundTripper { return t.next }

// maxErrorBody is how much of an answer that is retried is read: error
// Statuses are small, and the body is only kept to return it should the
// attempts run out.
const maxErrorBody = 64 << 10

// retryingKey marks a request's context as under a transport of this
// package already.
type retryingKey struct{}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if ctx.Value(retryingKey{}) != nil {
		// An outer transport of this package owns the retries (a run in
		// kubectl-gitsync's process builds on the plugin's wrapped config):
		// retrying here too would multiply the attempts.
		return t.next.RoundTrip(req)
	}
	ctx = context.WithValue(ctx, retryingKey{}, true)
	req = req.WithContext(ctx)
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		// client-go gives bodies as bytes (GetBody set); an opaque reader is
		// read once here so that it can be sent again.
		data, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		req = req.Clone(ctx)
		req.Body = io.NopCloser(bytes.NewReader(data))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	}
	for attempt := 1; ; attempt++ {
		send := req
		if attempt > 1 && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			send = req.Clone(ctx)
			send.Body = body
		}
		resp, err := t.next.RoundTrip(send)
		again, wait := shouldRetry(send, resp, err)
		if !again || ctx.Err() != nil {
			return resp, err
		}
		if attempt == t.opts.Attempts {
			return exhausted(resp, err, attempt)
		}
		if resp != nil {
			resp = buffered(resp)
		}
		delay := t.backoff(attempt)
		if wait > delay {
			delay = min(wait, t.opts.MaxBackoff)
		}
		t.counter.retries.Add(1)
		timer := time.NewTimer(delay)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return resp, err // the last attempt, as it ended
		}
	}
}

// backoff returns the jittered delay before retry number attempt.
func (t *transport) backoff(attempt int) time.Duration {
	d := t.opts.Backoff << min(attempt-1, 30)
	if d <= 0 || d > t.opts.MaxBackoff {
		d = t.opts.MaxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

// shouldRetry classifies one attempt; wait is what a Retry-After header
// asked for.
func shouldRetry(req *http.Request, resp *http.Response, err error) (again bool, wait time.Duration) {
	if err != nil {
		switch {
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			return false, 0
		case notSent(err):
			return true, 0
		case mayHaveBeenSent(err):
			return replaySafe(req), 0
		}
		return false, 0
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return true, retryAfter(resp)
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout:
		return replaySafe(req), retryAfter(resp)
	}
	return false, 0
}

// notSent tells whether err says the request never left: no connection.
func notSent(err error) bool {
	if utilnet.IsConnectionRefused(err) {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// mayHaveBeenSent tells whether err is a fault of the connection after the
// request may have reached the server.
func mayHaveBeenSent(err error) bool {
	if utilnet.IsConnectionReset(err) || utilnet.IsProbableEOF(err) || utilnet.IsHTTP2ConnectionLost(err) ||
		errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	msg := err.Error()
	if strings.Contains(msg, "GOAWAY") || strings.Contains(msg, "broken pipe") || strings.Contains(msg, "connection reset") {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// retryAfter reads a Retry-After header in seconds; 0 when absent.
func retryAfter(resp *http.Response) time.Duration {
	s, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After")))
	if err != nil || s < 0 {
		return 0
	}
	return time.Duration(s) * time.Second
}

// buffered reads the start of resp's body into memory and closes the
// connection's stream, so that the connection is free while the transport
// waits, and resp can still be returned if no retry follows.
func buffered(resp *http.Response) *http.Response {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(data))
	resp.ContentLength = int64(len(data))
	return resp
}

// exhausted returns the last attempt of a request that is given up on, so
// that client-go does not retry it again: without Retry-After, and with a
// transport error client-go does not recognize as retryable.
func exhausted(resp *http.Response, err error, attempts int) (*http.Response, error) {
	if err != nil {
		return nil, &ExhaustedError{Attempts: attempts, Last: err.Error()}
	}
	resp.Header.Del("Retry-After")
	return resp, nil
}

// ExhaustedError is returned for a request whose every attempt failed at
// the transport. It does not wrap the last error on purpose: client-go
// would retry a connection reset of a GET once more, ten times over.
type ExhaustedError struct {
	// Attempts is how many times the request was sent.
	Attempts int
	// Last is the last attempt's error.
	Last string
}

func (e *ExhaustedError) Error() string {
	return fmt.Sprintf("%s (after %d attempts)", e.Last, e.Attempts)
}
