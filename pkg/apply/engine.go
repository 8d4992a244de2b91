package apply

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
)

// DefaultFieldManager is the field manager the engine applies with unless
// Options.FieldManager says otherwise.
const DefaultFieldManager = "gitsync"

// DefaultConcurrency is how many requests the engine keeps in flight within
// a stage (and for prune, drift and wait) unless told otherwise. Measured
// with BenchmarkApply1000 on a 2-core machine that also runs the API server:
// 1,000 applies cost the cluster about 2.5 CPU-seconds and the engine 0.3,
// so from about 8 in flight on the API server's CPU is the limit and 8, 16
// and 32 took the same time (about 2.5 s under load from other processes).
// 16 leaves room for a remote API server with more cores and a network round
// trip to hide, and stays far below the API server's default per-priority
// concurrency shares.
const DefaultConcurrency = 16

// Engine applies, prunes, checks and waits for objects on one cluster. It
// reads discovery when it first resolves a kind and keeps it for its
// lifetime (one run), reading it again once when a kind is missing after
// CRDs were applied (see mapper). An Engine is safe for concurrent use, but
// a run uses one at a time.
type Engine struct {
	log    *slog.Logger
	rc     rest.Interface // speaks PartialObjectMetadata; for apply, create, delete
	meta   metadata.Interface
	dyn    dynamic.Interface
	mapper *mapper
}

// New returns an Engine for the cluster cfg points to. It copies cfg and,
// unless cfg.RateLimiter is set, disables client-go's client-side rate limit
// (QPS -1) for its own clients: client-go's default of 5 requests per second
// would turn a 1,000-object apply into minutes. The engine bounds its load by
// its concurrency instead, and the API server's priority and fairness guards
// the server. A caller that wants a client-side limit sets cfg.RateLimiter.
// log may be nil (no logging).
func New(cfg *rest.Config, log *slog.Logger) (*Engine, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c := rest.CopyConfig(cfg)
	if c.RateLimiter == nil {
		c.QPS = -1
	}
	c.Wrap(func(rt http.RoundTripper) http.RoundTripper { return serverTimeRecorder{rt} })
	hc, err := rest.HTTPClientFor(c)
	if err != nil {
		return nil, fmt.Errorf("apply: http client: %w", err)
	}
	meta, err := metadata.NewForConfigAndClient(c, hc)
	if err != nil {
		return nil, fmt.Errorf("apply: metadata client: %w", err)
	}
	dyn, err := dynamic.NewForConfigAndClient(c, hc)
	if err != nil {
		return nil, fmt.Errorf("apply: dynamic client: %w", err)
	}
	rc, err := rest.UnversionedRESTClientForConfigAndClient(metadata.ConfigFor(c), hc)
	if err != nil {
		return nil, fmt.Errorf("apply: rest client: %w", err)
	}
	m, err := newMapper(c, hc, log)
	if err != nil {
		return nil, fmt.Errorf("apply: discovery client: %w", err)
	}
	return &Engine{log: log, rc: rc, meta: meta, dyn: dyn, mapper: m}, nil
}

// resourcePath returns the URL path segments of a resource collection, or
// of one object when name is set.
func resourcePath(t Target, name string) []string {
	var p []string
	if t.Group == "" {
		p = []string{"/api", t.Version}
	} else {
		p = []string{"/apis", t.Group, t.Version}
	}
	if t.Namespaced && t.Namespace != "" {
		p = append(p, "namespaces", t.Namespace)
	}
	p = append(p, t.Resource)
	if name != "" {
		p = append(p, name)
	}
	return p
}

// serverTime receives the Date header of responses to requests made with a
// context from withServerTime: the API server's clock, which managedFields
// timestamps are compared with (see classify).
type serverTime struct {
	mu sync.Mutex
	t  time.Time
}

type serverTimeKey struct{}

func withServerTime(ctx context.Context) (context.Context, *serverTime) {
	st := &serverTime{}
	return context.WithValue(ctx, serverTimeKey{}, st), st
}

func (s *serverTime) get() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.t
}

// serverTimeRecorder copies the Date header of a response into the
// serverTime in its request's context, if any. Only the earliest is kept:
// callers want a lower bound of the server's clock after their request.
type serverTimeRecorder struct{ next http.RoundTripper }

func (r serverTimeRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if st, ok := req.Context().Value(serverTimeKey{}).(*serverTime); ok && resp != nil {
		if d, perr := http.ParseTime(resp.Header.Get("Date")); perr == nil {
			st.mu.Lock()
			if st.t.IsZero() || d.Before(st.t) {
				st.t = d
			}
			st.mu.Unlock()
		}
	}
	return resp, err
}

// WrappedRoundTripper returns the next round tripper, so client-go's
// transport debugging can see through this wrapper.
func (r serverTimeRecorder) WrappedRoundTripper() http.RoundTripper { return r.next }
