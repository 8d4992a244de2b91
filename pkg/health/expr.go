package health

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// The CEL library (cel-go, with its ANTLR parser and protobuf types) is
// about 5.6 MB of sync-job's binary, and its init work runs in every
// process that links it; this package does not link it. Each binary
// chooses an Engine with UseEngine: kubectl-gitsync and the tests
// pkg/health/celeval in process, sync-job pkg/health/celexec, which runs
// the same code in a child process started on the first expression of a
// run (a sync without healthCheckExprs never starts it).

// Engine compiles an expression and returns its evaluation on an object.
// Compile's error is the text the user sees (CEL's own report); the
// evaluation's error too. Implementations are safe for concurrent use.
type Engine interface {
	Compile(src string) (func(ctx context.Context, obj map[string]any) (bool, error), error)
}

// engine is the Engine UseEngine set.
var engine atomic.Pointer[Engine]

// UseEngine sets how expressions are compiled and evaluated:
// celeval.Engine{} in this process, celexec's engine in a child. A binary
// calls it once at start; without it Compile fails with ErrNoEngine.
func UseEngine(e Engine) { engine.Store(&e) }

// ErrNoEngine means the binary set no CEL engine (UseEngine).
var ErrNoEngine = errors.New("no CEL engine is set in this binary (health.UseEngine)")

// Expr is one compiled CEL expression that yields a bool. It is safe for
// concurrent use.
type Expr struct {
	src  string
	eval func(ctx context.Context, obj map[string]any) (bool, error)
}

// String returns the expression's text.
func (e *Expr) String() string { return e.src }

// Eval evaluates the expression on obj (an object's top-level fields).
func (e *Expr) Eval(ctx context.Context, obj map[string]any) (bool, error) {
	return e.eval(ctx, obj)
}

var (
	cacheMu sync.Mutex
	cache   = map[string]*Expr{}
)

// Compile parses and checks src with the Engine, and returns it ready to
// evaluate; the same *Expr for the same text, process-wide. What it
// refuses and how it reports it is celeval.Compile's.
func Compile(src string) (*Expr, error) {
	cacheMu.Lock()
	e, ok := cache[src]
	cacheMu.Unlock()
	if ok {
		return e, nil
	}
	eng := engine.Load()
	if eng == nil {
		return nil, ErrNoEngine
	}
	eval, err := (*eng).Compile(src)
	if err != nil {
		return nil, err
	}
	e = &Expr{src: src, eval: eval}
	cacheMu.Lock()
	cache[src] = e
	cacheMu.Unlock()
	return e, nil
}
