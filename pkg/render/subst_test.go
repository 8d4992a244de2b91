package render

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/fluxcd/pkg/envsubst"
	"github.com/google/go-cmp/cmp"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
)

// substVars are the variables of TestExpand and TestExpandMatchesEnvsubst.
var substVars = map[string]string{
	"name":      "web",
	"empty":     "",
	"path":      "a/b/c.tar.gz",
	"mixed":     "hello World",
	"upper":     "ABCDEFGH28IJ",
	"n":         "3",
	"neg":       "-3",
	"ünï":       "unicode",
	"path_name": "/home/bozo/ideas/thoughts.for.today",
	"filename":  "bash.string.txt",
	"stringZ":   "abcABC123ABCabc",
	"cluster":   "prod-eu-1",
}

// substCases are Flux's substitution forms with the outputs Flux gives:
// the examples of Flux's documentation (kustomization.md, postBuild), the
// cases of github.com/fluxcd/pkg/envsubst's own tests (eval_test.go,
// taken from tldp.org's parameter substitution page), and the places where
// Flux's library differs from a shell, which a Flux repository relies on.
var substCases = []struct {
	in      string
	want    string
	wantErr error
}{
	// Plain text and $var: only ${...} is an expression.
	{in: "no variables", want: "no variables"},
	{in: "${name}", want: "web"},
	{in: "x-${name}-y", want: "x-web-y"},
	{in: "$name stays", want: "$name stays"},
	{in: "echo $HOME", want: "echo $HOME"},
	{in: "a $ b $", want: "a $ b $"},
	{in: "${ünï}", want: "unicode"},
	{in: "${empty}", want: ""},
	{in: "${name}}", want: "web}"},
	{in: `\${name}`, want: `\web`},
	// Escapes: "$$" is one literal "$", so $${x} is the text ${x}.
	{in: "$${name}", want: "${name}"},
	{in: "cost: $$5", want: "cost: $5"},
	{in: "$$$${name}", want: "$${name}"},
	{in: "$$${name}", want: "$web"},
	{in: "$${", want: "${"},
	{in: "something $${var=${name}}", want: "something ${var=web}"},
	{in: "some text ${upper}$${var$${upper}$upper${upper}", want: "some text ABCDEFGH28IJ${var${upper}$upperABCDEFGH28IJ"},
	// Defaults: ":=", ":-" and "=" all fall back when unset or empty
	// (a shell's "=" would keep the empty value; Flux's does not).
	{in: "${missing:=def}", want: "def"},
	{in: "${missing:-def}", want: "def"},
	{in: "${missing=def}", want: "def"},
	{in: "${empty:=def}", want: "def"},
	{in: "${empty:-def}", want: "def"},
	{in: "${empty=def}", want: "def"},
	{in: "${name:=def}", want: "web"},
	{in: "${name=xyz}", want: "web"},
	{in: "${missing:=}", want: ""},
	{in: "${missing:=a b: c}", want: "a b: c"},
	{in: "${missing:= x }", want: " x "},
	{in: "${missing:=a}b}", want: "ab}"},
	{in: "${missing:=a{b}", want: "a{b"},
	{in: "${missing:=$$}", want: "$$"}, // no escapes inside a default
	{in: "${missing:=${name}-x}", want: "web-x"},
	{in: "${missing:=prefix${name}-suffix}", want: "prefixweb-suffix"},
	{in: "${missing=${upper,,}}", want: "abcdefgh28ij"},
	// Like Flux, nested words are evaluated even when not needed.
	{in: "${name:=${undefined}}", wantErr: ErrUndefinedVariable},
	// ":-" is a default, not a negative offset (as in a shell).
	{in: "${path:-6}", want: "a/b/c.tar.gz"},
	// Length and case.
	{in: "${#name}", want: "3"},
	{in: "${#ünï}", want: "7"},
	{in: "${mixed^}", want: "Hello World"},
	{in: "${mixed^^}", want: "HELLO WORLD"},
	{in: "${upper,}", want: "aBCDEFGH28IJ"},
	{in: "${upper,,}", want: "abcdefgh28ij"},
	// Substrings, in bytes.
	{in: "${path_name:11}", want: "ideas/thoughts.for.today"},
	{in: "${path_name:11:5}", want: "ideas"},
	{in: "${cluster:0:4}", want: "prod"},
	{in: "${path:100}", want: ""},
	{in: "${path:2:100}", want: "b/c.tar.gz"},
	{in: "${path:x}", want: "a/b/c.tar.gz"},      // not a number: the value
	{in: "${path:2:x}", want: "a/b/c.tar.gz"},    // the same for the length
	{in: "${path: -6}", want: "a/b/c.tar.gz"},    // " -6" is not a number either
	{in: "${path:${neg}}", want: ".gz"},          // a negative offset counts from the end
	{in: "${path:-100:2}", want: "a/b/c.tar.gz"}, // ":-": a default again
	{in: "${path:${n}:-3}", want: "/c.tar"},      // a negative length ends before the end
	{in: "${path:0:-3}", want: "a/b/c.tar"},
	{in: "${path:8:-6}", want: ""},              // the end before the offset: empty
	{in: "${path:1:1:1}", want: "a/b/c.tar.gz"}, // "1:1" is not a number
	// Removing a prefix or suffix that matches a glob.
	{in: "${filename#*.}", want: "string.txt"},
	{in: "${filename##*.}", want: "txt"},
	{in: "${filename%.*}", want: "bash.string"},
	{in: "${filename%%.*}", want: "bash"},
	{in: "${path#*/}", want: "b/c.tar.gz"},
	{in: "${path##*/}", want: "c.tar.gz"}, // "*" matches "/" too
	{in: "${path_name#*/}", want: "home/bozo/ideas/thoughts.for.today"},
	{in: "${path#[ab]/}", want: "b/c.tar.gz"},
	{in: "${path%.tar.gz}", want: "a/b/c"},
	{in: "${path#nomatch}", want: "a/b/c.tar.gz"},
	// Flux's quirks, kept because Flux repositories render with them:
	// the shortest match is never empty, "%" matches a reversed pattern
	// (so a bracket expression never matches), and a malformed pattern
	// leaves the value as it is.
	{in: "${path#*}", want: "/b/c.tar.gz"},
	{in: "${path%*}", want: "a/b/c.tar.g"},
	{in: "${path%[z]}", want: "a/b/c.tar.gz"},
	{in: "${path#[a}", want: "a/b/c.tar.gz"},
	// Replacing literal text.
	{in: "${stringZ/abc/xyz}", want: "xyzABC123ABCabc"},
	{in: "${stringZ//abc/xyz}", want: "xyzABC123ABCxyz"},
	{in: "${stringZ/#abc/XYZ}", want: "XYZABC123ABCabc"},
	{in: "${stringZ/%abc/XYZ}", want: "abcABC123ABCXYZ"},
	{in: "${path/\\//:}", want: "a:b/c.tar.gz"},
	{in: "${path//\\//:}", want: "a:b:c.tar.gz"},
	{in: "${path/.tar/}", want: "a/b/c.gz"},
	{in: "${path/*/x}", want: "a/b/c.tar.gz"}, // not a glob
	{in: "${name/w/${n}}", want: "3eb"},
	// Strict mode: an undefined variable without a default is an error,
	// whatever the operator.
	{in: "${undefined}", wantErr: ErrUndefinedVariable},
	{in: "text ${undefined} text", wantErr: ErrUndefinedVariable},
	{in: "${#undefined}", wantErr: ErrUndefinedVariable},
	{in: "${undefined^^}", wantErr: ErrUndefinedVariable},
	{in: "${undefined:0:2}", wantErr: ErrUndefinedVariable},
	{in: "${undefined/a/b}", wantErr: ErrUndefinedVariable},
	{in: "${undefined%%.*}", wantErr: ErrUndefinedVariable},
	{in: "${1abc}", wantErr: ErrUndefinedVariable},
	// ":?" and ":+": Flux's README calls them unsupported, yet its
	// library parses them and evaluates them as ":-" (the value, else
	// the word), in strict mode too; so does gitsync.
	{in: "${name:?must be set}", want: "web"},
	{in: "${missing:?must be set}", want: "must be set"},
	{in: "${empty:?must be set}", want: "must be set"},
	{in: "${name:+alt}", want: "web"},
	{in: "${missing:+alt}", want: "alt"},
	{in: "${empty:+alt}", want: "alt"},
	{in: "${missing:=${name:+alt}}", want: "web"},
	{in: "${missing:+${undefined}}", wantErr: ErrUndefinedVariable},
	// Rejected by Flux's parser too.
	{in: "${name-default}", wantErr: ErrBadSubstitution},
	{in: "${name+x}", wantErr: ErrBadSubstitution},
	{in: "${name?x}", wantErr: ErrBadSubstitution},
	{in: "${name", wantErr: ErrBadSubstitution},
	{in: "${}", wantErr: ErrBadSubstitution},
	{in: "${ name}", wantErr: ErrBadSubstitution},
	{in: "${name }", wantErr: ErrBadSubstitution},
	{in: "${name.x}", wantErr: ErrBadSubstitution},
	{in: "${name/a}", wantErr: ErrBadSubstitution},
	{in: "ok ${name} then ${bad.x} ${name}", wantErr: ErrBadSubstitution},
}

func TestExpand(t *testing.T) {
	for _, tc := range substCases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := expand(tc.in, substVars)
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

// TestExpandErrorNames checks that an error names the expression and the
// variable, so a user finds the line.
func TestExpandErrorNames(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{in: "a: ${ok}\nb: ${nope}\n", want: []string{`"${nope}"`, `undefined variable "nope"`}},
		{in: "b: ${x:=${nope}}\n", want: []string{`"${x:=${nope}"`, `"nope"`}},
		{in: "b: ${nope^^}\n", want: []string{`"${nope^^}"`, `"nope"`}},
		{in: "b: ${ok.x}\n", want: []string{`"${ok.x}"`, "bad substitution", "missing closing brace"}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			_, err := expand(tc.in, map[string]string{"ok": "1"})
			if err == nil {
				t.Fatalf("expand(%q) succeeded", tc.in)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// evalFlux is what kustomize-controller does with a document in strict
// mode.
func evalFlux(s string, vars map[string]string) (string, error) {
	return envsubst.Eval(s, func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	})
}

// checkMatchesFlux fails when expand and envsubst.Eval of the whole text
// disagree.
func checkMatchesFlux(t *testing.T, in string, vars map[string]string) {
	t.Helper()
	got, err := expand(in, vars)
	want, fluxErr := evalFlux(in, vars)
	switch {
	case (err == nil) != (fluxErr == nil):
		t.Fatalf("expand(%q) = %q, %v; Flux gives %q, %v", in, got, err, want, fluxErr)
	case err == nil && got != want:
		t.Fatalf("expand(%q) = %q; Flux gives %q", in, got, want)
	}
}

// TestExpandMatchesEnvsubst runs every case through Flux's library as
// kustomize-controller does, to prove the expected outputs above are
// Flux's and that expand's own scanning between expressions agrees.
func TestExpandMatchesEnvsubst(t *testing.T) {
	for _, tc := range substCases {
		t.Run(tc.in, func(t *testing.T) {
			checkMatchesFlux(t, tc.in, substVars)
			// The same expression inside a document, twice.
			checkMatchesFlux(t, "key: "+tc.in+"\nother: $$x ${name} "+tc.in+" $y\n", substVars)
		})
	}
}

// FuzzExpand compares expand with Flux's library on arbitrary text.
func FuzzExpand(f *testing.F) {
	for _, tc := range substCases {
		f.Add(tc.in)
	}
	f.Add("${a:=${b:=${c:=${d:=${e:=${f:=${g:=${h:=${i:=${j:=${k:=${l:=${m:=${n:=${o:=${p:=${q:=x}}}}}}}}}}}}}}}}}")
	f.Add("${a/}}}}}}}}}}}}}}}}}}}}}}}}}/b}")
	vars := map[string]string{"a": "alpha", "b": "", "name": "web", "n": "2", "neg": "-2"}
	f.Fuzz(func(t *testing.T, in string) {
		if strings.IndexByte(in, 0) >= 0 {
			// Flux's scanner reads a NUL byte as the end of the text.
			// expand never sees one: render substitutes YAML that kyaml
			// wrote, which escapes control characters.
			t.Skip()
		}
		checkMatchesFlux(t, in, vars)
	})
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

// TestSubstituteDisabled covers Flux's opt-out: an object labelled or
// annotated kustomize.toolkit.fluxcd.io/substitute: disabled (or gitsync's
// own key) is left as rendered, even with undefined variables in it.
func TestSubstituteDisabled(t *testing.T) {
	tests := []struct {
		name     string
		metadata string
		want     string
	}{
		{name: "Flux annotation", metadata: "  annotations:\n    kustomize.toolkit.fluxcd.io/substitute: disabled\n", want: "${undefined} ${v}"},
		{name: "Flux label", metadata: "  labels:\n    kustomize.toolkit.fluxcd.io/substitute: disabled\n", want: "${undefined} ${v}"},
		{name: "gitsync annotation", metadata: "  annotations:\n    gitsync.io/substitute: disabled\n", want: "${undefined} ${v}"},
		{name: "other value substitutes", metadata: "  annotations:\n    kustomize.toolkit.fluxcd.io/substitute: enabled\n", want: "x set"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			doc := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: x\n" + tc.metadata +
				"data:\n  k: ${undefined} ${v}\n"
			if !strings.Contains(tc.want, "$") {
				doc = strings.Replace(doc, "${undefined}", "${undefined:=x}", 1)
			}
			writeFiles(t, root, map[string]string{"a.yaml": doc})
			res, err := Render(t.Context(), Options{Root: root, Substitute: map[string]string{"v": "set"}})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(map[string]any{"k": tc.want}, res.Objects[0].Object["data"]); diff != "" {
				t.Errorf("data (-want +got):\n%s", diff)
			}
		})
	}
}

// substWorkload returns n documents as render hands them to expand (YAML
// written by kyaml), four in five with ${...} expressions: ${var},
// ${var:=default} and, in one in five, an operator (${var^^}). With ops
// set, every expression is an operator form or has a nested default.
func substWorkload(tb testing.TB, n int, ops bool) []string {
	tb.Helper()
	docs := make([]string, n)
	for i := range n {
		var src string
		switch i % 5 {
		case 0:
			src = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d-${env}\n  namespace: ns-%d\n  labels:\n    app: app-%d\ndata:\n  key: value-%d\n  other: \"42\"\n  region: ${region:=eu-west-1}\n", i, i%10, i%50, i)
		case 1:
			src = fmt.Sprintf("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d-%d\n  namespace: ns-%d\nspec:\n  replicas: ${replicas:=2}\n  selector:\n    matchLabels: {app: d-%d}\n  template:\n    metadata:\n      labels: {app: d-%d, env: \"${env}\"}\n    spec:\n      containers:\n      - name: c\n        image: nginx:1.%d\n        ports:\n        - containerPort: 80\n", i, i%10, i, i, i%30)
		case 2:
			src = fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata:\n  name: s-%d\n  namespace: ns-%d\nspec:\n  selector: {app: d-%d}\n  ports:\n  - port: 80\n    targetPort: 8080\n", i, i%10, i)
		case 3:
			src = fmt.Sprintf("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: cr-%d-${env}\nrules:\n- apiGroups: [\"\"]\n  resources: [pods]\n  verbs: [get, list]\n", i)
		case 4:
			src = fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata:\n  name: sec-%d\n  namespace: ns-%d\ntype: Opaque\nstringData:\n  password: p%d-${env^^}\n", i, i%10, i)
		}
		if ops {
			src = strings.NewReplacer("${env}", "${env,}", "${region:=eu-west-1}", "${region:=${env}-x}",
				"${replicas:=2}", "${replicas:=${env/prod/2}}").Replace(src)
		}
		var m map[string]any
		if err := kyaml.Unmarshal([]byte(src), &m); err != nil {
			tb.Fatal(err)
		}
		y, err := kyaml.Marshal(m)
		if err != nil {
			tb.Fatal(err)
		}
		docs[i] = string(y)
	}
	return docs
}

// BenchmarkExpand4000 substitutes 4,000 documents with expand and, for
// comparison, with Flux's library reading each whole document.
func BenchmarkExpand4000(b *testing.B) {
	vars := map[string]string{"env": "prod"}
	for _, w := range []struct {
		name string
		ops  bool
	}{{"mixed", false}, {"operators", true}} {
		docs := substWorkload(b, 4000, w.ops)
		total := 0
		for _, d := range docs {
			total += len(d)
		}
		for _, impl := range []struct {
			name string
			f    func(string, map[string]string) (string, error)
		}{{"expand", expand}, {"envsubst.Eval", evalFlux}} {
			b.Run(w.name+"/"+impl.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(total))
				for b.Loop() {
					for _, d := range docs {
						out, err := impl.f(d, vars)
						if err != nil || strings.Contains(out, "${") {
							b.Fatal(err, out)
						}
					}
				}
				b.ReportMetric(4000, "docs/op")
			})
		}
	}
}

// TestExpandLenient: without strict mode an undefined variable is "", as
// Flux's library evaluates it when kustomize-controller runs without its
// StrictPostBuildSubstitutions feature gate (its mapping then reports every
// name as set), and the names are collected for the run to report.
func TestExpandLenient(t *testing.T) {
	for _, tc := range substCases {
		t.Run(tc.in, func(t *testing.T) {
			undefined := map[string]bool{}
			got, err := expandWith(tc.in, substVars, undefined)
			want, fluxErr := envsubst.Eval(tc.in, func(name string) (string, bool) { return substVars[name], true })
			switch {
			case (err == nil) != (fluxErr == nil):
				t.Fatalf("expandWith(%q) = %q, %v; Flux gives %q, %v", tc.in, got, err, want, fluxErr)
			case err == nil && got != want:
				t.Fatalf("expandWith(%q) = %q; Flux gives %q", tc.in, got, want)
			}
		})
	}
	undefined := map[string]bool{}
	got, err := expandWith("a: ${gone}\nb: ${#also}\nc: ${name}\nd: ${dflt:=x}\ne: ${gone}\n", substVars, undefined)
	if err != nil {
		t.Fatal(err)
	}
	if want := "a: \nb: 0\nc: web\nd: x\ne: \n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if diff := cmp.Diff(map[string]bool{"gone": true, "also": true}, undefined); diff != "" {
		t.Errorf("undefined (-want +got):\n%s", diff)
	}
	if _, err := expand("a: ${gone}\n", substVars); !errors.Is(err, ErrUndefinedVariable) {
		t.Errorf("strict expand of an undefined variable: %v", err)
	}
}
