package spec

import (
	"strings"
	"testing"
)

// TestFluxSpec: spec.flux parses with its defaults, and refuses an unknown
// installation policy and a concurrency out of bounds, naming the field.
func TestFluxSpec(t *testing.T) {
	for _, tc := range []struct {
		name, flux  string
		apply       bool
		concurrency int
		noCross     bool
		err         string
	}{
		{name: "unset", concurrency: DefaultFluxConcurrency},
		{name: "apply", flux: "flux: {installation: Apply, concurrency: 8, noCrossNamespaceRefs: true}", apply: true, concurrency: 8, noCross: true},
		{name: "skip", flux: "flux: {installation: Skip}", concurrency: DefaultFluxConcurrency},
		{name: "bad policy", flux: "flux: {installation: Install}", err: `spec.flux.installation: Unsupported value: "Install": supported values: "Skip", "Apply"`},
		{name: "concurrency too high", flux: "flux: {concurrency: 100}", err: "spec.flux.concurrency: Invalid value: 100: must be between 1 and 32"},
		{name: "negative concurrency", flux: "flux: {concurrency: -1}", err: "spec.flux.concurrency: Invalid value: -1"},
		{name: "concurrency not a number", flux: "flux: {concurrency: many}", err: `spec.flux.concurrency: Invalid value: "\"many\"": must be a whole number`},
		{name: "unknown field", flux: "flux: {concurency: 2}", err: "spec.flux.concurency: Forbidden: unknown field"},
		{name: "bad secret name", flux: "flux: {readSecrets: [ok, Not_OK]}", err: `spec.flux.readSecrets[1]: Invalid value: "Not_OK"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse([]byte(syncDoc(okSource + tc.flux)))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			f := s.Spec.Flux
			if f.ApplyInstallation() != tc.apply || f.UnitConcurrency() != tc.concurrency || f.CrossNamespaceRefsRefused() != tc.noCross {
				t.Errorf("spec.flux %+v: apply %v, concurrency %d, no cross-namespace refs %v", f, f.ApplyInstallation(), f.UnitConcurrency(), f.CrossNamespaceRefsRefused())
			}
		})
	}
}

// spec.flux.readSecrets joins the Secrets the generated RBAC grants.
func TestFluxReadSecretsNamed(t *testing.T) {
	s, err := Parse([]byte(syncDoc(okSource + "flux: {readSecrets: [git-auth, cluster-vars]}")))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(s.SecretNames(), ",")
	for _, want := range []string{"git-auth", "cluster-vars"} {
		if !strings.Contains(got, want) {
			t.Errorf("SecretNames() = %s, want %s among them", got, want)
		}
	}
}
