// Package helmexec runs the chart stage of a Helm render (see
// pkg/helm/chartrender) in a child process, cmd/sync-job-helm, so that
// sync-job does not link the Helm SDK and only runs that render a chart
// pay for its code. The parent writes the Request as JSON on the child's
// stdin (decryption keys included: they go on the pipe only, never to a
// file, a log or a message); the child writes one JSON Response on
// stdout and exits 0, also when the chart does not render. Anything else
// (no program, a crash, a kill, a timeout, output that is not a Response)
// is an error naming the chart and the program.
package helmexec

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gitsync/gitsync/pkg/helm/chartrender"
)

// Program is the child's file name, looked for next to the running
// binary.
const Program = "sync-job-helm"

// EnvProgram, when set, is the path of the child program (tests, or an
// image that puts it elsewhere).
const EnvProgram = "GITSYNC_HELM_RENDERER"

// maxOutput caps what the parent reads from a child's stdout: far more
// than any chart renders (10,000 objects are about 4 MB), so that a child
// gone wrong cannot make the parent run out of memory.
const maxOutput = 256 << 20

// maxStderr caps the part of the child's stderr an error quotes.
const maxStderr = 4 << 10

// ErrRenderer means the child program could not be found or run, or did
// not answer with a Response.
var ErrRenderer = errors.New("the Helm renderer process failed")

// DefaultMaxMemory is Renderer.MaxMemory's default.
const DefaultMaxMemory int64 = 1 << 30

// memoryPoll is how often the child's resident memory is read.
const memoryPoll = 50 * time.Millisecond

// ErrTooMuchMemory is wrapped by the error of a render stopped because the
// child's memory passed Renderer.MaxMemory: a template that loops or
// allocates without bound ({{ range until 100000000 }}) would otherwise
// take the Job's memory, and the Pod with it.
var ErrTooMuchMemory = errors.New("the chart's render used too much memory")

// Renderer runs the chart stage in a child process.
type Renderer struct {
	// Path is the child program; "" means Find's.
	Path string
	// MaxMemory is the child's resident memory, in bytes, past which it
	// is killed and the render fails with ErrTooMuchMemory (read every
	// 50 ms from /proc; where there is no /proc, not enforced). 0 means
	// DefaultMaxMemory; sync-job passes a share of its container's limit.
	MaxMemory int64
}

var _ chartrender.Renderer = Renderer{}

// Find returns the child program: $GITSYNC_HELM_RENDERER when set, else
// sync-job-helm in the directory of the running binary.
func Find() (string, error) {
	if p := os.Getenv(EnvProgram); p != "" {
		return p, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding %s next to this binary: %w", Program, err)
	}
	if resolved, err := filepath.EvalSymlinks(self); err == nil {
		self = resolved
	}
	return filepath.Join(filepath.Dir(self), Program), nil
}

// Response is the child's answer: a Result, or the error the chart stage
// returned.
type Response struct {
	Result *chartrender.Result `json:"result,omitempty"`
	Error  *Error              `json:"error,omitempty"`
}

// Error is a chart stage error on the wire: its text, and the names
// (chartrender.Kinds) of the sentinel errors it wraps.
type Error struct {
	Message string   `json:"message"`
	Kinds   []string `json:"kinds,omitempty"`
}

// remoteError is an Error back in the parent: the same text, and
// errors.Is matches the same sentinels.
type remoteError struct {
	msg   string
	kinds []error
}

func (e *remoteError) Error() string { return e.msg }

// Is reports whether the child's error wrapped target.
func (e *remoteError) Is(target error) bool {
	for _, k := range e.kinds {
		if k == target {
			return true
		}
	}
	return false
}

// RenderChart runs the child on req and returns its Result, or its render
// error with the text the in-process renderer gives.
func (r Renderer) RenderChart(ctx context.Context, req *chartrender.Request) (*chartrender.Result, error) {
	bin := r.Path
	if bin == "" {
		var err error
		if bin, err = Find(); err != nil {
			return nil, fmt.Errorf("%s: %w: %w", req.ChartPath, ErrRenderer, err)
		}
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s: Helm renderer %s: %s: %w", req.ChartPath, bin, fmt.Sprintf(format, args...), ErrRenderer)
	}
	in, err := json.Marshal(req)
	if err != nil {
		// json names the type it cannot encode, never a value.
		return nil, fail("encoding the request: %v", err)
	}
	start := time.Now()
	limit := cmp.Or(r.MaxMemory, DefaultMaxMemory)
	out, stderr, err := Exec(ctx, bin, nil, in, limit)
	clear(in) // the request may hold keys
	if over := (*OverMemoryError)(nil); errors.As(err, &over) {
		return nil, fmt.Errorf("%s: Helm renderer %s: stopped after %s, at %d MiB of memory (the limit is %d MiB; a template that loops or allocates without bound?): %w",
			req.ChartPath, bin, time.Since(start).Round(time.Millisecond), over.Used>>20, limit>>20, ErrTooMuchMemory)
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return nil, fmt.Errorf("%s: Helm renderer %s stopped after %s: %w", req.ChartPath, bin, time.Since(start).Round(time.Millisecond), ctxErr)
	}
	if err != nil {
		return nil, fail("%s", Describe(err, stderr))
	}
	var resp Response
	if err := DecodeResponse(out, stderr, &resp); err != nil {
		return nil, fail("%v", err)
	}
	switch {
	case resp.Error != nil && resp.Result == nil:
		re := &remoteError{msg: resp.Error.Message}
		for _, k := range resp.Error.Kinds {
			if s, ok := chartrender.Kinds[k]; ok {
				re.kinds = append(re.kinds, s)
			}
		}
		return nil, re
	case resp.Result != nil && resp.Error == nil:
		return resp.Result, nil
	}
	return nil, fail("invalid output: a response needs exactly one of result and error")
}

// Describe says why Exec failed, for a caller's error message: the
// child's exit status and the end of its stderr, a missing program, or
// too much output.
func Describe(err error, stderr string) string {
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		return fmt.Sprintf("%v%s", exitErr.ProcessState, stderr)
	case errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist):
		return fmt.Sprintf("no such program (build cmd/%s and put it next to sync-job, or set %s)", Program, EnvProgram)
	case errors.Is(err, ErrOutputTooLarge):
		return fmt.Sprintf("more than %d bytes of output", maxOutput)
	}
	return err.Error()
}

// DecodeResponse decodes a child's output, which must be exactly one JSON
// value with no unknown fields, into v.
func DecodeResponse(out []byte, stderr string, v any) error {
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("invalid output (%v)%s", err, stderr)
	}
	if dec.More() {
		return errors.New("invalid output: more than one response")
	}
	return nil
}

// ErrOutputTooLarge means a child wrote more than the output cap.
var ErrOutputTooLarge = errors.New("child output too large")

// Exec runs the child program bin with args and in on its stdin, and
// returns its stdout (at most 256 MiB, else ErrOutputTooLarge) and the end
// of its stderr quoted for an error message ("; stderr: ..."; "" when
// empty). A child whose resident memory passes maxMemory bytes is killed,
// and the error is an *OverMemoryError. The child gets only the variables
// of childEnvVars. The caller clears in when it holds secrets. sync-job's other children
// (pkg/source/oci/sigcheck/sigexec) run the same program through it.
func Exec(ctx context.Context, bin string, args []string, in []byte, maxMemory int64) (out []byte, stderrQuote string, err error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = ChildEnv()
	cmd.Stdin = bytes.NewReader(in)
	stdout := &capped{max: maxOutput}
	stderr := &capped{max: maxStderr, keepTail: true}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// After a kill, do not wait for pipes held open by anything the child
	// started.
	cmd.WaitDelay = 2 * time.Second
	err = cmd.Start()
	var overMemory int64
	if err == nil {
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			overMemory = watchMemory(cmd.Process, maxMemory, stop)
		}()
		err = cmd.Wait()
		close(stop)
		<-done
	}
	if overMemory > 0 {
		return nil, stderr.quote(), &OverMemoryError{Used: overMemory, Limit: maxMemory}
	}
	if err != nil {
		return nil, stderr.quote(), err
	}
	if stdout.over {
		return nil, stderr.quote(), ErrOutputTooLarge
	}
	return stdout.buf.Bytes(), stderr.quote(), nil
}

// OverMemoryError is Exec's error for a child killed past its memory
// limit. It matches ErrTooMuchMemory.
type OverMemoryError struct{ Used, Limit int64 }

func (e *OverMemoryError) Error() string {
	return fmt.Sprintf("stopped at %d MiB of memory (the limit is %d MiB)", e.Used>>20, e.Limit>>20)
}

func (e *OverMemoryError) Unwrap() error { return ErrTooMuchMemory }

// watchMemory reads p's resident memory until stop is closed, and kills p
// when it passes limit; it returns the memory it saw then, or 0.
func watchMemory(p *os.Process, limit int64, stop <-chan struct{}) int64 {
	statm := fmt.Sprintf("/proc/%d/statm", p.Pid)
	page := int64(os.Getpagesize())
	tick := time.NewTicker(memoryPoll)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return 0
		case <-tick.C:
		}
		data, err := os.ReadFile(statm)
		if err != nil {
			return 0 // no /proc, or the child is gone
		}
		fields := strings.Fields(string(data))
		if len(fields) < 2 {
			return 0
		}
		pages, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			return 0
		}
		if rss := pages * page; rss > limit {
			_ = p.Kill()
			return rss
		}
	}
}

// childEnvVars are the variables the child inherits: the Go runtime's
// settings and where temporary files go. Nothing else of sync-job's
// environment (credentials of cloud SDKs, say) reaches the Helm SDK.
var childEnvVars = []string{"GOGC", "GOMEMLIMIT", "GOMAXPROCS", "GODEBUG", "TMPDIR", "HOME"}

// ChildEnv is the environment of a child of sync-job: the variables of
// childEnvVars that are set.
func ChildEnv() []string {
	var env []string
	for _, k := range childEnvVars {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// capped is a buffer that keeps at most max bytes: the first ones, or with
// keepTail the last ones.
type capped struct {
	buf      bytes.Buffer
	max      int
	keepTail bool
	over     bool
}

func (c *capped) Write(p []byte) (int, error) {
	n := len(p)
	if c.buf.Len()+len(p) > c.max {
		c.over = true
		if !c.keepTail {
			p = p[:max(0, c.max-c.buf.Len())]
		} else {
			all := append(bytes.Clone(c.buf.Bytes()), p...)
			c.buf.Reset()
			p = all[len(all)-c.max:]
		}
	}
	c.buf.Write(p)
	return n, nil
}

// quote returns ": stderr: ..." for a non-empty stderr.
func (c *capped) quote() string {
	s := strings.TrimSpace(c.buf.String())
	if s == "" {
		return ""
	}
	if c.over {
		s = "..." + s
	}
	return "; stderr: " + s
}

// Serve is the child's side: it reads one Request from in, renders it
// with r and writes one Response to out. A render error is a Response; an
// error of Serve's own (unreadable request, unwritable output) is
// returned, and the child exits non-zero.
func Serve(ctx context.Context, in io.Reader, out io.Writer, r chartrender.Renderer) error {
	var req chartrender.Request
	if err := ReadRequest(in, &req); err != nil {
		return err
	}
	res, err := r.RenderChart(ctx, &req)
	clear(req.DecryptionKeys)
	var resp Response
	if err != nil {
		resp.Error = &Error{Message: err.Error()}
		for name, s := range chartrender.Kinds {
			if errors.Is(err, s) {
				resp.Error.Kinds = append(resp.Error.Kinds, name)
			}
		}
		slices.Sort(resp.Error.Kinds)
	} else {
		resp.Result = res
	}
	return WriteResponse(out, &resp)
}

// ReadRequest is a child's reading of its one request from in into v,
// refusing unknown fields.
func ReadRequest(in io.Reader, v any) error {
	dec := json.NewDecoder(in)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("reading the request: %w", err)
	}
	return nil
}

// WriteResponse is a child's writing of its one response v to out.
func WriteResponse(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("writing the response: %w", err)
	}
	return nil
}
