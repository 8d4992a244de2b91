package render

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{
		"name":  "web",
		"empty": "",
		"path":  "a/b/c.tar.gz",
		"mixed": "hello World",
		"n":     "3",
		"ünï":   "unicode",
	}
	tests := []struct {
		in      string
		want    string
		wantErr error
	}{
		{in: "no variables", want: "no variables"},
		{in: "${name}", want: "web"},
		{in: "x-${name}-y", want: "x-web-y"},
		{in: "$name stays", want: "$name stays"},
		{in: "a $ b $", want: "a $ b $"},
		{in: "${ünï}", want: "unicode"},
		// Escapes: "$$" is one literal "$", so $${x} is the text ${x}.
		{in: "$${name}", want: "${name}"},
		{in: "cost: $$5", want: "cost: $5"},
		{in: "$$$${name}", want: "$${name}"},
		{in: "$$${name}", want: "$web"},
		// Defaults: ":=", ":-" and "=" all fall back when unset or empty.
		{in: "${missing:=def}", want: "def"},
		{in: "${missing:-def}", want: "def"},
		{in: "${missing=def}", want: "def"},
		{in: "${empty:=def}", want: "def"},
		{in: "${empty=def}", want: "def"},
		{in: "${name:=def}", want: "web"},
		{in: "${missing:=}", want: ""},
		{in: "${missing:=a b: c}", want: "a b: c"},
		{in: "${missing:=${name}-x}", want: "web-x"},
		{in: "${missing:=$$}", want: "$$"},
		// Like Flux, nested words are evaluated even when not needed.
		{in: "${name:=${undefined}}", wantErr: ErrUndefinedVariable},
		{in: "${#name}", want: "3"},
		{in: "${mixed^}", want: "Hello World"},
		{in: "${mixed^^}", want: "HELLO WORLD"},
		{in: "${mixed,}", want: "hello World"},
		{in: "${mixed,,}", want: "hello world"},
		{in: "${path:2}", want: "b/c.tar.gz"},
		{in: "${path:2:3}", want: "b/c"},
		{in: "${path:-6}", want: "a/b/c.tar.gz"}, // ":-" is a default, not a negative offset
		{in: "${path:x}", want: "a/b/c.tar.gz"},
		{in: "${path:100}", want: ""},
		{in: "${path#*/}", want: "b/c.tar.gz"},
		{in: "${path##*/}", want: "c.tar.gz"},
		{in: "${path%.*}", want: "a/b/c.tar"},
		{in: "${path%%.*}", want: "a/b/c"},
		{in: "${path#[ab]/}", want: "b/c.tar.gz"},
		{in: "${path/\\//:}", want: "a:b/c.tar.gz"},
		{in: "${path//\\//:}", want: "a:b:c.tar.gz"},
		{in: "${path/#a/z}", want: "z/b/c.tar.gz"},
		{in: "${path/%gz/xz}", want: "a/b/c.tar.xz"},
		{in: "${path/.tar/}", want: "a/b/c.gz"},
		{in: "${name/w/${n}}", want: "3eb"},
		{in: "${undefined}", wantErr: ErrUndefinedVariable},
		{in: "${#undefined}", wantErr: ErrUndefinedVariable},
		{in: "${undefined^^}", wantErr: ErrUndefinedVariable},
		{in: "${undefined/a/b}", wantErr: ErrUndefinedVariable},
		{in: "${name", wantErr: ErrBadSubstitution},
		{in: "${}", wantErr: ErrBadSubstitution},
		{in: "${name-default}", wantErr: ErrBadSubstitution},
		{in: "${name+x}", wantErr: ErrBadSubstitution},
		{in: "${name:?x}", wantErr: ErrBadSubstitution},
		{in: "${name:+x}", wantErr: ErrBadSubstitution},
		{in: "${name/a}", wantErr: ErrBadSubstitution},
		{in: "${name.x}", wantErr: ErrBadSubstitution},
		{in: "${path#[a}", wantErr: ErrBadSubstitution},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := expand(tc.in, vars)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("expand(%q) = %q, %v; want error %v", tc.in, got, err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), "${") {
					t.Errorf("error %q does not quote the expression", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("expand(%q): %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("expand(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

// TestSubstituteSwitch covers when substitution runs at all.
func TestSubstituteSwitch(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"a.yaml": cmA + "data:\n  v: ${v:=dflt}\n  literal: $${v}\n",
	})
	tests := []struct {
		name string
		sub  map[string]string
		want map[string]any
	}{
		{name: "nil map leaves text alone", sub: nil, want: map[string]any{"v": "${v:=dflt}", "literal": "$${v}"}},
		{name: "empty map applies defaults", sub: map[string]string{}, want: map[string]any{"v": "dflt", "literal": "${v}"}},
		{name: "value wins", sub: map[string]string{"v": "set"}, want: map[string]any{"v": "set", "literal": "${v}"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Render(t.Context(), Options{Root: root, Substitute: tc.sub})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, res.Objects[0].Object["data"]); diff != "" {
				t.Errorf("data (-want +got):\n%s", diff)
			}
		})
	}
}
