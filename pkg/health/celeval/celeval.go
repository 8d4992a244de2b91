// Package celeval compiles and evaluates health check expressions with
// cel-go, in this process: the engine (health.Engine) of kubectl-gitsync
// and the tests, and of sync-job's child process (`sync-job-helm cel`,
// pkg/health/celexec), so that sync-job does not link cel-go.
package celeval

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
)

// Engine compiles expressions with cel-go (health.Engine).
type Engine struct{}

// Compile compiles src (see Compile) and returns its evaluation.
func (Engine) Compile(src string) (func(ctx context.Context, obj map[string]any) (bool, error), error) {
	e, err := Compile(src)
	if err != nil {
		return nil, err
	}
	return e.Eval, nil
}

// Expr is one compiled CEL expression that yields a bool. It is safe for
// concurrent use.
type Expr struct {
	src  string
	prog cel.Program
}

// String returns the expression's text.
func (e *Expr) String() string { return e.src }

// Eval evaluates the expression on obj, whose top-level keys are the
// expression's variables. A result that is not a bool is an error.
func (e *Expr) Eval(ctx context.Context, obj map[string]any) (bool, error) {
	v, _, err := e.prog.ContextEval(ctx, obj)
	if err != nil {
		return false, err
	}
	b, ok := v.(types.Bool)
	if !ok {
		return false, fmt.Errorf("the result is %s, not a bool", v.Type().TypeName())
	}
	return bool(b), nil
}

var (
	baseOnce sync.Once
	base     *cel.Env
	baseErr  error

	cacheMu sync.Mutex
	cache   = map[string]*Expr{}
)

// baseEnv is the environment of every expression: the options Flux gives
// its health check expressions, so that a Flux user's expressions mean
// the same here.
func baseEnv() (*cel.Env, error) {
	baseOnce.Do(func() {
		base, baseErr = cel.NewEnv(
			cel.HomogeneousAggregateLiterals(),
			cel.EagerlyValidateDeclarations(true),
			cel.DefaultUTCTimeZone(true),
			cel.CrossTypeNumericComparisons(true),
			cel.OptionalTypes(),
			ext.Strings(),
			ext.Sets(),
			ext.Encoders(),
		)
	})
	return base, baseErr
}

// Compile parses and checks src, and returns it ready to evaluate. The
// error is CEL's own report, one "ERROR: <input>:line:column: message" per
// problem, joined by "; ".
//
// The object's fields are not known before it is read (custom resources
// need not have spec or status; ConfigMaps have data), so every name the
// expression uses at its top level is declared as a dynamic variable: a
// misspelt field shows at evaluation, as in Flux. What the checker still
// refuses is a syntax error, an unknown function or macro, a call with the
// wrong arguments, and a result that cannot be a bool (e.g. 1 + 1), which
// Flux only finds at evaluation.
func Compile(src string) (*Expr, error) {
	cacheMu.Lock()
	e, ok := cache[src]
	cacheMu.Unlock()
	if ok {
		return e, nil
	}
	env, err := baseEnv()
	if err != nil {
		return nil, fmt.Errorf("CEL environment: %w", err)
	}
	if strings.TrimSpace(src) == "" {
		return nil, fmt.Errorf("empty expression")
	}
	parsed, iss := env.Parse(src)
	if iss.Err() != nil {
		return nil, report(iss)
	}
	var vars []cel.EnvOption
	seen := map[string]bool{}
	ast.PreOrderVisit(parsed.NativeRep().Expr(), ast.NewExprVisitor(func(x ast.Expr) {
		// Comprehension accumulators (@result) are no names of the
		// object; iteration variables may be declared too: their own
		// scope shadows the declaration.
		if x.Kind() == ast.IdentKind && !seen[x.AsIdent()] && !strings.HasPrefix(x.AsIdent(), "@") {
			seen[x.AsIdent()] = true
			vars = append(vars, cel.Variable(x.AsIdent(), cel.DynType))
		}
	}))
	checkEnv, err := env.Extend(vars...)
	if err != nil {
		return nil, fmt.Errorf("CEL environment: %w", err)
	}
	checked, iss := checkEnv.Check(parsed)
	if iss.Err() != nil {
		return nil, report(iss)
	}
	if t := checked.OutputType(); t != cel.BoolType && t != cel.DynType {
		return nil, fmt.Errorf("the result is %s, not a bool", t)
	}
	// The program runs from the checked AST, with the same declarations,
	// so a name the object lacks is "no such attribute" at evaluation.
	prog, err := checkEnv.Program(checked,
		cel.EvalOptions(cel.OptOptimize),
		// How often a long comprehension looks at ctx: Kubernetes'
		// own default for its CEL.
		cel.InterruptCheckFrequency(100),
	)
	if err != nil {
		return nil, fmt.Errorf("CEL program: %w", err)
	}
	e = &Expr{src: src, prog: prog}
	cacheMu.Lock()
	cache[src] = e
	cacheMu.Unlock()
	return e, nil
}

// report renders CEL's issues on one line each, without the source
// snippet and caret CEL draws under them.
func report(iss *cel.Issues) error {
	var lines []string
	for _, l := range strings.Split(iss.String(), "\n") {
		if strings.HasPrefix(l, "ERROR:") {
			lines = append(lines, l)
		}
	}
	return fmt.Errorf("%s", strings.Join(lines, "; "))
}
