// Package kustdefaults reads kustomize's default transformer configuration
// (the field specs its builtin transformers and its name-reference fixer
// use) out of the kustomize/api module's source.
//
// kustomize keeps that configuration in an internal package, so nothing
// outside the module can import it. pkg/render needs the very same field
// specs to run kustomize's transformers object by object, so a generator
// (go generate in pkg/render) writes them into a file that pkg/render
// embeds, and a test compares that file with the source of the kustomize
// version in go.mod: upgrading kustomize without regenerating fails the
// test instead of rendering with stale rules.
package kustdefaults

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Module is the module whose default configuration Extract reads.
const Module = "sigs.k8s.io/kustomize/api"

// constsDir is the package, inside Module, holding the configuration.
const constsDir = "internal/konfig/builtinpluginconsts"

// ModuleDir returns the directory of Module at the version the main module
// requires, as the go command resolves it.
func ModuleDir() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", Module).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("go list -m %s: %w: %s", Module, err, ee.Stderr)
		}
		return "", fmt.Errorf("go list -m %s: %w", Module, err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", fmt.Errorf("go list -m %s: module not downloaded", Module)
	}
	return dir, nil
}

// Extract returns what GetDefaultFieldSpecs returns in the module at dir:
// the YAML field specs of every builtin transformer, joined in the order
// that function joins them. It evaluates the package's string constants
// from source and fails when the function no longer has the shape it
// understands, so a change in kustomize is noticed rather than misread.
func Extract(dir string) ([]byte, error) {
	pkgDir := filepath.Join(dir, constsDir)
	fset := token.NewFileSet()
	ents, err := os.ReadDir(pkgDir)
	if err != nil {
		return nil, err
	}
	var files []*ast.File
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(pkgDir, name), nil, 0)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	consts := map[string]ast.Expr{}
	var fn *ast.FuncDecl
	for _, f := range files {
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.GenDecl:
				if d.Tok != token.CONST {
					continue
				}
				for _, s := range d.Specs {
					vs := s.(*ast.ValueSpec)
					for i, n := range vs.Names {
						if i < len(vs.Values) {
							consts[n.Name] = vs.Values[i]
						}
					}
				}
			case *ast.FuncDecl:
				if d.Name.Name == "GetDefaultFieldSpecs" && d.Recv == nil {
					fn = d
				}
			}
		}
	}
	if fn == nil {
		return nil, fmt.Errorf("%s: GetDefaultFieldSpecs not found", pkgDir)
	}
	names, sep, err := joinedConsts(fn)
	if err != nil {
		return nil, fmt.Errorf("%s: GetDefaultFieldSpecs: %w", pkgDir, err)
	}
	parts := make([][]byte, 0, len(names))
	for _, n := range names {
		v, err := evalString(consts, consts[n], 0)
		if err != nil {
			return nil, fmt.Errorf("%s: constant %s: %w", pkgDir, n, err)
		}
		parts = append(parts, []byte(v))
	}
	return bytes.Join(parts, []byte(sep)), nil
}

// joinedConsts understands exactly this body:
//
//	configData := [][]byte{[]byte(a), []byte(b), ...}
//	return bytes.Join(configData, []byte("sep"))
func joinedConsts(fn *ast.FuncDecl) (names []string, sep string, err error) {
	body := fn.Body.List
	if len(body) != 2 {
		return nil, "", errors.New("unexpected body")
	}
	as, ok := body[0].(*ast.AssignStmt)
	if !ok || len(as.Lhs) != 1 || len(as.Rhs) != 1 {
		return nil, "", errors.New("unexpected first statement")
	}
	lit, ok := as.Rhs[0].(*ast.CompositeLit)
	if !ok {
		return nil, "", errors.New("first statement is not a slice literal")
	}
	for _, el := range lit.Elts {
		call, ok := el.(*ast.CallExpr)
		if !ok || len(call.Args) != 1 {
			return nil, "", errors.New("slice element is not []byte(constant)")
		}
		id, ok := call.Args[0].(*ast.Ident)
		if !ok {
			return nil, "", errors.New("slice element is not []byte(constant)")
		}
		names = append(names, id.Name)
	}
	ret, ok := body[1].(*ast.ReturnStmt)
	if !ok || len(ret.Results) != 1 {
		return nil, "", errors.New("unexpected return statement")
	}
	call, ok := ret.Results[0].(*ast.CallExpr)
	if !ok || len(call.Args) != 2 {
		return nil, "", errors.New("return is not bytes.Join(data, sep)")
	}
	if sel, ok := call.Fun.(*ast.SelectorExpr); !ok || sel.Sel.Name != "Join" {
		return nil, "", errors.New("return is not bytes.Join(data, sep)")
	}
	conv, ok := call.Args[1].(*ast.CallExpr)
	if !ok || len(conv.Args) != 1 {
		return nil, "", errors.New("separator is not []byte(literal)")
	}
	bl, ok := conv.Args[0].(*ast.BasicLit)
	if !ok || bl.Kind != token.STRING {
		return nil, "", errors.New("separator is not []byte(literal)")
	}
	sep, err = strconv.Unquote(bl.Value)
	return names, sep, err
}

// evalString evaluates a constant string expression: literals, other
// constants and concatenation.
func evalString(consts map[string]ast.Expr, e ast.Expr, depth int) (string, error) {
	if depth > 32 {
		return "", errors.New("constant expression too deep")
	}
	switch e := e.(type) {
	case nil:
		return "", errors.New("not defined")
	case *ast.BasicLit:
		if e.Kind != token.STRING {
			return "", errors.New("not a string literal")
		}
		return strconv.Unquote(e.Value)
	case *ast.ParenExpr:
		return evalString(consts, e.X, depth+1)
	case *ast.Ident:
		return evalString(consts, consts[e.Name], depth+1)
	case *ast.BinaryExpr:
		if e.Op != token.ADD {
			return "", fmt.Errorf("unsupported operator %s", e.Op)
		}
		x, err := evalString(consts, e.X, depth+1)
		if err != nil {
			return "", err
		}
		y, err := evalString(consts, e.Y, depth+1)
		return x + y, err
	}
	return "", fmt.Errorf("unsupported expression %T", e)
}
