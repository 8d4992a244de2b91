package health

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// Check holds the compiled expressions of one apiVersion and kind.
// Current is required; InProgress and Failed may be nil.
type Check struct {
	Current    *Expr
	InProgress *Expr
	Failed     *Expr
}

// NewCheck compiles the expressions of one healthCheckExprs entry. The
// error names the field (current, inProgress or failed) first.
func NewCheck(current, inProgress, failed string) (*Check, error) {
	c := &Check{}
	for _, f := range []struct {
		name string
		src  string
		dst  **Expr
	}{{"current", current, &c.Current}, {"inProgress", inProgress, &c.InProgress}, {"failed", failed, &c.Failed}} {
		if f.src == "" && f.name != "current" {
			continue
		}
		e, err := Compile(f.src)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
		*f.dst = e
	}
	return c, nil
}

// Evaluate computes the status of u as Flux does (RFC 0009): an object
// whose status.observedGeneration differs from its metadata.generation is
// InProgress; otherwise the first of inProgress, failed and current that
// is true decides (InProgress, Failed, Current), and InProgress when none
// is. An evaluation error (e.g. a field the object lacks) is returned, and
// the wait takes it as not Current yet, as Flux's status poller does: it
// shows when the wait times out.
func (c *Check) Evaluate(ctx context.Context, u *unstructured.Unstructured) (*status.Result, error) {
	obj := u.UnstructuredContent()
	observed, ok, err := unstructured.NestedInt64(obj, "status", "observedGeneration")
	if err != nil {
		return nil, fmt.Errorf("status.observedGeneration: %w", err)
	}
	if ok && observed != u.GetGeneration() {
		return &status.Result{Status: status.InProgressStatus,
			Message: fmt.Sprintf("status.observedGeneration %d is not metadata.generation %d", observed, u.GetGeneration())}, nil
	}
	for _, s := range []struct {
		name   string
		expr   *Expr
		status status.Status
	}{
		{"inProgress", c.InProgress, status.InProgressStatus},
		{"failed", c.Failed, status.FailedStatus},
		{"current", c.Current, status.CurrentStatus},
	} {
		if s.expr == nil {
			continue
		}
		ok, err := s.expr.Eval(ctx, obj)
		if err != nil {
			return nil, fmt.Errorf("healthCheckExprs %s %q: %w", s.name, s.expr, err)
		}
		if ok {
			return &status.Result{Status: s.status, Message: fmt.Sprintf("healthCheckExprs %s is true: %s", s.name, s.expr)}, nil
		}
	}
	return &status.Result{Status: status.InProgressStatus, Message: fmt.Sprintf("healthCheckExprs current is false: %s", c.Current)}, nil
}

// Refused returns why objects of group and kind may not be judged by
// expressions, or "". Secrets are refused: an evaluation error can quote
// the value it failed on (a string that is no number, say), and a Secret's
// data must never reach an error message; kstatus has nothing to wait for
// in a Secret anyway.
func Refused(group, kind string) string {
	if group == "" && kind == "Secret" {
		return "Secrets are not judged by expressions: an evaluation error could quote their data"
	}
	return ""
}

// Checks holds the checks of a unit by group and kind. As in Flux, the
// version of an entry's apiVersion does not matter: an object of any
// version of the group and kind is judged by it.
type Checks map[schema.GroupKind]*Check

// Judge evaluates the check of u's group and kind; ok is false when there
// is none, and kstatus judges u.
func (cs Checks) Judge(ctx context.Context, u *unstructured.Unstructured) (res *status.Result, ok bool, err error) {
	gk := u.GroupVersionKind().GroupKind()
	c := cs[gk]
	if c == nil || Refused(gk.Group, gk.Kind) != "" {
		return nil, false, nil
	}
	res, err = c.Evaluate(ctx, u)
	return res, true, err
}
