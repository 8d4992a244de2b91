// Package faultproxy is an HTTP proxy in front of the test cluster's real
// API server that fails requests on purpose, the way an overloaded or
// failing-over control plane and a flaky network do: 429 with Retry-After,
// 503, a 500 "etcdserver: leader changed", and connections reset before or
// after the request reached the API server. Its faults are drawn from a
// seeded random source, so a failing run can be looked at again. It can also
// turn into a black hole that accepts requests and never answers.
//
// Clients talk plain HTTP to the proxy, without credentials; the proxy
// talks to the API server with the configuration it was given.
package faultproxy

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"

	"k8s.io/client-go/rest"
)

// Fault is one kind of failure the proxy injects.
type Fault string

// The faults, drawn with equal probability.
const (
	// TooManyRequests answers 429 with Retry-After: 1, without forwarding.
	TooManyRequests Fault = "429"
	// Unavailable answers 503, without forwarding.
	Unavailable Fault = "503"
	// LeaderChanged answers 500 with etcd's "leader changed" Status,
	// without forwarding.
	LeaderChanged Fault = "leader-changed"
	// ResetBefore resets the connection without forwarding the request.
	ResetBefore Fault = "reset-before"
	// ResetAfter forwards the request, lets the API server process it, and
	// resets the connection instead of answering.
	ResetAfter Fault = "reset-after"
)

var faults = []Fault{TooManyRequests, Unavailable, LeaderChanged, ResetBefore, ResetAfter}

// Options configures Start.
type Options struct {
	// Target reaches the real API server, with credentials. Required.
	Target *rest.Config
	// FailRate is the share of requests that fail, from 0 to 1.
	FailRate float64
	// Seed seeds the random choice of requests and faults.
	Seed uint64
}

// Proxy is a running fault-injecting proxy.
type Proxy struct {
	target    *url.URL
	transport http.RoundTripper
	proxy     *httputil.ReverseProxy
	listener  net.Listener
	server    *http.Server

	mu       sync.Mutex
	rng      *rand.Rand
	failRate float64
	injected map[Fault]int
	requests int

	blackhole atomic.Bool
	closed    chan struct{}
}

// Start starts a proxy on a loopback port.
func Start(opts Options) (*Proxy, error) {
	if opts.Target == nil {
		return nil, errors.New("faultproxy: Target is required")
	}
	target, err := url.Parse(opts.Target.Host)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: target host: %w", err)
	}
	rt, err := rest.TransportFor(opts.Target)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: target transport: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{
		target: target, transport: rt, listener: l,
		rng:      rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x5deece66d)),
		failRate: opts.FailRate,
		injected: map[Fault]int{},
		closed:   make(chan struct{}),
	}
	p.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = target.Host
		},
		Transport:     rt,
		FlushInterval: -1,
	}
	p.server = &http.Server{Handler: http.HandlerFunc(p.serve)}
	go func() { _ = p.server.Serve(l) }()
	return p, nil
}

// Config returns a configuration that reaches the API server through the
// proxy.
func (p *Proxy) Config() *rest.Config {
	return &rest.Config{Host: "http://" + p.listener.Addr().String(), QPS: 1000, Burst: 2000}
}

// SetFailRate changes the share of requests that fail.
func (p *Proxy) SetFailRate(rate float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failRate = rate
}

// SetBlackhole makes the proxy accept every request from now on and never
// answer (on), or work again (off).
func (p *Proxy) SetBlackhole(on bool) { p.blackhole.Store(on) }

// Stats returns how many requests the proxy received and how many of each
// fault it injected.
func (p *Proxy) Stats() (requests int, injected map[Fault]int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[Fault]int, len(p.injected))
	for k, v := range p.injected {
		out[k] = v
	}
	return p.requests, out
}

// Close stops the proxy and drops every connection, held ones included.
func (p *Proxy) Close() error {
	close(p.closed) // releases the held connections
	return p.server.Close()
}

// draw decides the fate of one request.
func (p *Proxy) draw() (Fault, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests++
	if p.rng.Float64() >= p.failRate {
		return "", false
	}
	f := faults[p.rng.IntN(len(faults))]
	p.injected[f]++
	return f, true
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	if p.blackhole.Load() {
		p.hold(w)
		return
	}
	fault, ok := p.draw()
	if !ok {
		p.proxy.ServeHTTP(w, r)
		return
	}
	switch fault {
	case TooManyRequests:
		w.Header().Set("Retry-After", "1")
		status(w, http.StatusTooManyRequests, "TooManyRequests", "too many requests, please try again later (injected)")
	case Unavailable:
		status(w, http.StatusServiceUnavailable, "ServiceUnavailable", "the server is currently unable to handle the request (injected)")
	case LeaderChanged:
		status(w, http.StatusInternalServerError, "InternalError", "Internal error occurred: etcdserver: leader changed (injected)")
	case ResetBefore:
		_, _ = io.Copy(io.Discard, r.Body)
		reset(w)
	case ResetAfter:
		out := r.Clone(r.Context())
		out.URL.Scheme, out.URL.Host, out.Host, out.RequestURI = p.target.Scheme, p.target.Host, p.target.Host, ""
		resp, err := p.transport.RoundTrip(out)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
		reset(w)
	}
}

// status writes a metav1.Status answer as the API server does.
func status(w http.ResponseWriter, code int, reason, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":%q,"reason":%q,"code":%d}`, message, reason, code)
}

// reset closes the client's connection with a TCP RST instead of an answer.
func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// hold keeps the client's connection open without answering until the
// proxy closes.
func (p *Proxy) hold(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	<-p.closed
	_ = conn.Close()
}
