// Package celexec evaluates health check expressions (health.Engine) in a
// child process, `sync-job-helm cel`, so that sync-job does not link
// cel-go. The child is started on the first expression a process
// compiles and then serves every compile and evaluation of the process,
// one JSON request and one JSON response per line on its stdin and
// stdout; it exits when its stdin closes (at the latest when sync-job
// exits). An object travels as JSON and is read back as Kubernetes reads
// JSON (integers as int64), so an expression sees what it would see in
// process (pkg/health/celeval).
package celexec

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"

	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/gitsync/gitsync/pkg/health"
	"github.com/gitsync/gitsync/pkg/helm/helmexec"
)

// Arg is the child program's argument that selects the CEL service.
const Arg = "cel"

// maxLine caps one response line (an error text): far more than any.
const maxLine = 1 << 20

// Request is one line to the child: compile Src, or evaluate it on Obj.
type Request struct {
	Op  string          `json:"op"` // "compile" or "eval"
	Src string          `json:"src"`
	Obj json.RawMessage `json:"obj,omitempty"`
}

// Response is the child's line: the result of an evaluation, or the
// error of the compile or evaluation (its text).
type Response struct {
	Value bool   `json:"value,omitempty"`
	Error string `json:"error,omitempty"`
}

// Engine runs expressions in one child process, shared by all callers.
type Engine struct {
	path string

	mu     sync.Mutex
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	stderr *tail
}

var _ health.Engine = (*Engine)(nil)

// New returns an Engine that runs path ("" means helmexec.Find's program)
// when it first needs it.
func New(path string) *Engine { return &Engine{path: path} }

// Compile compiles src in the child and returns its evaluation there.
func (e *Engine) Compile(src string) (func(ctx context.Context, obj map[string]any) (bool, error), error) {
	// A compile is quick and has no context: the spec's decoder calls it.
	if _, err := e.exchange(&Request{Op: "compile", Src: src}, nil, nil); err != nil {
		return nil, err
	}
	return func(ctx context.Context, obj map[string]any) (bool, error) {
		raw, err := json.Marshal(obj)
		if err != nil {
			return false, fmt.Errorf("encoding the object: %w", err)
		}
		return e.call(ctx, &Request{Op: "eval", Src: src, Obj: raw})
	}, nil
}

// evalError is an expression's own error, from the child.
type evalError struct{ msg string }

func (e *evalError) Error() string { return e.msg }

// call sends req and reads the answer; ctx's end stops the child.
func (e *Engine) call(ctx context.Context, req *Request) (bool, error) {
	return e.exchange(req, func(kill func()) func() bool { return context.AfterFunc(ctx, kill) }, ctx.Err)
}

// exchange sends req and reads the answer. watch, when not nil, arranges
// for kill to stop the child (a cancelled evaluation) and returns how to
// undo that; ctxErr says why it was stopped. A child that fails is stopped
// and forgotten: the next call starts another.
func (e *Engine) exchange(req *Request, watch func(kill func()) func() bool, ctxErr func() error) (bool, error) {
	line, err := json.Marshal(req)
	if err != nil {
		return false, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cmd == nil {
		if err := e.start(); err != nil {
			return false, err
		}
	}
	if watch != nil {
		cmd := e.cmd
		stop := watch(func() { _ = cmd.Process.Kill() })
		defer stop()
	}
	resp, err := e.roundTrip(append(line, '\n'))
	if err != nil {
		bin := e.cmd.Path
		_ = e.cmd.Process.Kill()
		_ = e.cmd.Wait()
		quote := e.stderr.quote()
		e.cmd = nil
		if ctxErr != nil && ctxErr() != nil {
			return false, fmt.Errorf("CEL evaluator %s: %w", bin, ctxErr())
		}
		return false, fmt.Errorf("CEL evaluator %s %s: %v%s", bin, Arg, err, quote)
	}
	if resp.Error != "" {
		return false, &evalError{resp.Error}
	}
	return resp.Value, nil
}

func (e *Engine) roundTrip(line []byte) (*Response, error) {
	if _, err := e.in.Write(line); err != nil {
		return nil, err
	}
	out, err := e.out.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("a response longer than %d bytes", maxLine)
		}
		return nil, err
	}
	var resp Response
	dec := json.NewDecoder(strings.NewReader(string(out)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&resp); err != nil {
		return nil, fmt.Errorf("invalid output (%v)", err)
	}
	return &resp, nil
}

func (e *Engine) start() error {
	bin := e.path
	if bin == "" {
		var err error
		if bin, err = helmexec.Find(); err != nil {
			return fmt.Errorf("CEL evaluator: %w", err)
		}
	}
	// Not CommandContext: the child lives as long as this process and ends
	// when its stdin closes; a cancelled evaluation kills it (exchange).
	cmd := exec.Command(bin, Arg)
	cmd.Env = helmexec.ChildEnv()
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	e.stderr = &tail{}
	cmd.Stderr = e.stderr
	if err := cmd.Start(); err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("CEL evaluator %s: no such program (build cmd/%s and put it next to sync-job, or set %s)", bin, helmexec.Program, helmexec.EnvProgram)
		}
		return fmt.Errorf("CEL evaluator %s: %w", bin, err)
	}
	e.cmd, e.in, e.out = cmd, in, bufio.NewReaderSize(out, maxLine)
	return nil
}

// tail keeps the last 4 KiB written to it.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 4<<10 {
		t.buf = t.buf[len(t.buf)-4<<10:]
	}
	return len(p), nil
}

func (t *tail) quote() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := strings.TrimSpace(string(t.buf)); s != "" {
		return "; stderr: " + s
	}
	return ""
}

// Serve is the child's side: it answers each request line of in on out
// with e (celeval's engine), until in ends.
func Serve(ctx context.Context, in io.Reader, out io.Writer, e health.Engine) error {
	dec := json.NewDecoder(in)
	dec.DisallowUnknownFields()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	for {
		var req Request
		if err := dec.Decode(&req); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("reading a request: %w", err)
		}
		var resp Response
		eval, err := e.Compile(req.Src)
		switch {
		case err != nil:
			resp.Error = err.Error()
		case req.Op == "compile":
		case req.Op == "eval":
			var obj map[string]any
			if err := utiljson.Unmarshal(req.Obj, &obj); err != nil {
				resp.Error = fmt.Sprintf("decoding the object: %v", err)
				break
			}
			resp.Value, err = eval(ctx, obj)
			if err != nil {
				resp.Error = err.Error()
			}
		default:
			return fmt.Errorf("a request with op %q (compile or eval)", req.Op)
		}
		if err := enc.Encode(&resp); err != nil {
			return fmt.Errorf("writing a response: %w", err)
		}
	}
}
