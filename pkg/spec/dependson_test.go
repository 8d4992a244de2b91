package spec

import (
	"errors"
	"strings"
	"testing"
)

func TestDependsOnValidation(t *testing.T) {
	base := `apiVersion: gitsync.io/v1alpha1
kind: Sync
metadata: {name: web, namespace: apps}
spec:
  source: {git: {url: https://git.example.com/web.git}}
`
	for _, tc := range []struct {
		name, deps string
		want       []string // substrings of the error; none: valid
	}{
		{name: "same namespace", deps: "[{name: db}]"},
		{name: "other namespace", deps: "[{name: db, namespace: infra}, {name: db}]"},
		{name: "self", deps: "[{name: web}]", want: []string{"spec.dependsOn[0]: Invalid value: \"apps/web\": a sync cannot depend on itself"}},
		{name: "self by namespace", deps: "[{name: web, namespace: apps}]", want: []string{"cannot depend on itself"}},
		{name: "duplicate", deps: "[{name: db}, {name: db, namespace: apps}]", want: []string{"spec.dependsOn[1]: Duplicate value: \"apps/db\""}},
		{name: "no name", deps: "[{namespace: infra}]", want: []string{"spec.dependsOn[0].name: Required value"}},
		{name: "bad name", deps: "[{name: DB}]", want: []string{"spec.dependsOn[0].name: Invalid value: \"DB\""}},
		{name: "bad namespace", deps: "[{name: db, namespace: In_fra}]", want: []string{"spec.dependsOn[0].namespace: Invalid value"}},
		{name: "unknown field", deps: "[{name: db, kind: Kustomization}]", want: []string{"spec.dependsOn[0].kind: Forbidden: unknown field"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse([]byte(base + "  dependsOn: " + tc.deps + "\n"))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if len(s.Dependencies()) == 0 {
					t.Fatal("no dependencies parsed")
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse accepted dependsOn %s", tc.deps)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestDependenciesDefaultNamespace(t *testing.T) {
	s := New("web", "apps")
	s.Spec.DependsOn = []DependencyReference{{Name: "db"}, {Name: "crds", Namespace: "infra"}}
	got := s.Dependencies()
	if got[0] != (DependencyReference{Name: "db", Namespace: "apps"}) || got[1] != (DependencyReference{Name: "crds", Namespace: "infra"}) {
		t.Errorf("Dependencies() = %v", got)
	}
	if s.Spec.DependsOn[0].Namespace != "" {
		t.Error("Dependencies changed the spec")
	}
	// dependsOn is not part of the digest: ordering syncs changes no render.
	plain := New("web", "apps")
	if s.Digest() != plain.Digest() {
		t.Error("dependsOn changed the digest")
	}
}

func TestFindCycle(t *testing.T) {
	ref := func(s string) DependencyReference {
		ns, name, _ := strings.Cut(s, "/")
		return DependencyReference{Namespace: ns, Name: name}
	}
	graph := map[string][]string{
		"n/b": {"n/c", "n/d"},
		"n/c": {"n/e"},
		"n/d": {"n/a"},
		"n/e": {},
		"n/x": {"n/y"},
		"n/y": {"n/x"},
	}
	deps := func(d DependencyReference) ([]DependencyReference, error) {
		next, ok := graph[d.String()]
		if !ok {
			return nil, ErrDependencyUnknown
		}
		var out []DependencyReference
		for _, n := range next {
			out = append(out, ref(n))
		}
		return out, nil
	}
	for _, tc := range []struct {
		first []string
		want  string
	}{
		{first: []string{"n/b"}, want: "dependsOn: cycle: n/a → n/b → n/d → n/a"},
		{first: []string{"n/c", "n/e"}},
		{first: []string{"n/missing"}},
		{first: []string{"n/x"}, want: "dependsOn: cycle: n/x → n/y → n/x"},
	} {
		var first []DependencyReference
		for _, f := range tc.first {
			first = append(first, ref(f))
		}
		err := FindCycle(ref("n/a"), first, deps)
		var ce *CycleError
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v, want no cycle", tc.first, err)
		case tc.want != "" && (!errors.As(err, &ce) || err.Error() != tc.want):
			t.Errorf("%v: %v, want %q", tc.first, err, tc.want)
		}
	}
}
