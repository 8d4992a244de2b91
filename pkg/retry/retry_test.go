package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// server answers with the next of a script of steps: an HTTP status code,
// or 0 to reset the connection. Past the script it answers 200. It records
// the bodies it received.
type server struct {
	*httptest.Server
	mu     sync.Mutex
	script []int
	bodies []string
}

func newServer(t *testing.T, script ...int) *server {
	s := &server{script: script}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, string(body))
		step := http.StatusOK
		if len(s.script) > 0 {
			step, s.script = s.script[0], s.script[1:]
		}
		s.mu.Unlock()
		switch step {
		case 0:
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			_ = conn.(*net.TCPConn).SetLinger(0)
			_ = conn.Close()
		case http.StatusTooManyRequests:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(step)
		default:
			w.WriteHeader(step)
			fmt.Fprintf(w, "answer %d", step)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) sent() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bodies...)
}

// client returns an http.Client whose transport retries, and its counter.
func client(t *testing.T, opts Options) (*http.Client, *Counter) {
	cfg := &rest.Config{}
	c := Wrap(cfg, opts)
	return &http.Client{Transport: cfg.WrapTransport(http.DefaultTransport.(*http.Transport).Clone())}, c
}

var fast = Options{Backoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond}

func TestRetries(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		replaySafe bool
		script     []int
		wantStatus int // 0: a transport error
		wantSent   int
	}{
		{"503 then success", http.MethodPatch, false, []int{503, 503}, 200, 3},
		{"503 on a POST: not processed", http.MethodPost, false, []int{503}, 200, 2},
		{"500 on a PUT", http.MethodPut, false, []int{500, 502, 504}, 200, 4},
		{"500 on a POST is not replayed", http.MethodPost, false, []int{500}, 500, 1},
		{"500 on a replay-safe POST", http.MethodPost, true, []int{500}, 200, 2},
		{"reset on a PATCH", http.MethodPatch, false, []int{0, 0}, 200, 3},
		{"reset on a DELETE", http.MethodDelete, false, []int{0}, 200, 2},
		{"reset on a POST is not replayed", http.MethodPost, false, []int{0}, 0, 1},
		{"reset on a replay-safe POST", http.MethodPost, true, []int{0}, 200, 2},
		{"422 is not retried", http.MethodPatch, false, []int{422}, 422, 1},
		{"409 is not retried", http.MethodPut, false, []int{409}, 409, 1},
		{"404 is not retried", http.MethodGet, false, []int{404}, 404, 1},
		{"403 is not retried", http.MethodGet, false, []int{403}, 403, 1},
		{"attempts run out", http.MethodGet, false, []int{503, 503, 503, 503, 503}, 503, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, tt.script...)
			opts := fast
			opts.Attempts = 4
			c, count := client(t, opts)
			ctx := t.Context()
			if tt.replaySafe {
				ctx = ReplaySafe(ctx)
			}
			req, _ := http.NewRequestWithContext(ctx, tt.method, s.URL+"/x", strings.NewReader(`{"body":1}`))
			resp, err := c.Do(req)
			switch {
			case tt.wantStatus == 0 && err == nil:
				t.Fatalf("status %d, want a transport error", resp.StatusCode)
			case tt.wantStatus != 0 && err != nil:
				t.Fatalf("error %v, want status %d", err, tt.wantStatus)
			case err == nil:
				body, _ := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != tt.wantStatus {
					t.Errorf("status %d, want %d", resp.StatusCode, tt.wantStatus)
				}
				if resp.StatusCode != 200 && resp.StatusCode != 429 && string(body) != fmt.Sprint("answer ", resp.StatusCode) {
					t.Errorf("body %q lost", body)
				}
			}
			sent := s.sent()
			if len(sent) != tt.wantSent {
				t.Errorf("sent %d times, want %d", len(sent), tt.wantSent)
			}
			for i, b := range sent {
				if b != `{"body":1}` {
					t.Errorf("attempt %d sent body %q", i+1, b)
				}
			}
			if got := count.Retries(); got != int64(tt.wantSent-1) {
				t.Errorf("counted %d retries, want %d", got, tt.wantSent-1)
			}
		})
	}
}

// TestRetryAfter: a 429's Retry-After is honoured (capped at MaxBackoff),
// and removed from the answer when the attempts run out, so that client-go
// does not retry it again on its own.
func TestRetryAfter(t *testing.T) {
	s := newServer(t, 429, 429)
	c, _ := client(t, Options{Attempts: 2, Backoff: time.Millisecond, MaxBackoff: 300 * time.Millisecond})
	start := time.Now()
	resp, err := c.Get(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if d := time.Since(start); d < 300*time.Millisecond || d > 900*time.Millisecond {
		t.Errorf("waited %v, want Retry-After capped at MaxBackoff (300ms)", d)
	}
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "" {
		t.Errorf("given up on with status %d and Retry-After %q, want 429 without it", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// TestConnectionRefusedIsRetried: nothing was sent, so even a POST is.
func TestConnectionRefusedIsRetried(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	c, count := client(t, Options{Attempts: 3, Backoff: time.Millisecond})
	_, err = c.Post("http://"+addr+"/x", "application/json", strings.NewReader("{}"))
	var ex *ExhaustedError
	if !errors.As(err, &ex) || ex.Attempts != 3 || count.Retries() != 2 {
		t.Fatalf("error %v, %d retries; want ExhaustedError after 3 attempts", err, count.Retries())
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		t.Error("the exhausted error still wraps the transport error: client-go would retry it again")
	}
}

// TestContextEndsRetries: a request whose context ends while it waits to
// retry returns at once.
func TestContextEndsRetries(t *testing.T) {
	s := newServer(t, 503, 503, 503)
	c, _ := client(t, Options{Attempts: 10, Backoff: 10 * time.Second, MaxBackoff: 10 * time.Second})
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL, nil)
	start := time.Now()
	resp, err := c.Do(req)
	if err == nil {
		_ = resp.Body.Close()
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("returned after %v, want at the context's deadline", d)
	}
}

func TestClassify(t *testing.T) {
	post, _ := http.NewRequest(http.MethodPost, "http://x", nil)
	get, _ := http.NewRequest(http.MethodGet, "http://x", nil)
	tests := []struct {
		err        error
		get, posts bool
	}{
		{errors.New(`http2: server sent GOAWAY and closed the connection; LastStreamID=1, ErrCode=NO_ERROR, debug=""`), true, false},
		{errors.New("http2: client connection lost"), true, false},
		{&net.OpError{Op: "read", Err: syscall.ECONNRESET}, true, false},
		{io.ErrUnexpectedEOF, true, false},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true, true},
		{&net.DNSError{Err: "no such host", Name: "x"}, true, true},
		{context.Canceled, false, false},
		{context.DeadlineExceeded, false, false},
		{errors.New("x509: certificate signed by unknown authority"), false, false},
	}
	for _, tt := range tests {
		if got, _ := shouldRetry(get, nil, tt.err); got != tt.get {
			t.Errorf("GET, %v: retry %v, want %v", tt.err, got, tt.get)
		}
		if got, _ := shouldRetry(post, nil, tt.err); got != tt.posts {
			t.Errorf("POST, %v: retry %v, want %v", tt.err, got, tt.posts)
		}
	}
}

func TestBackoffJitter(t *testing.T) {
	tr := &transport{opts: Options{Backoff: 100 * time.Millisecond, MaxBackoff: time.Second}.withDefaults()}
	for attempt, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 60: time.Second} {
		seen := map[time.Duration]bool{}
		for range 50 {
			d := tr.backoff(attempt)
			if d < want/2 || d > want {
				t.Fatalf("attempt %d: delay %v outside [%v, %v]", attempt, d, want/2, want)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Errorf("attempt %d: only %d distinct delays in 50: no jitter", attempt, len(seen))
		}
	}
}
