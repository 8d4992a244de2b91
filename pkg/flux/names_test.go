package flux

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/validation"
)

func TestStateName(t *testing.T) {
	long := strings.Repeat("very-long-name-", 16) + "end" // 243 characters
	tests := []struct {
		name      string
		sync      string
		id        ID
		want      string
		inventory string
		history   string
	}{
		{name: "Kustomization", sync: "fleet", id: ID{KindKustomization, "flux-system", "apps"},
			want: "fleet.ks.flux-system.apps", inventory: "gitsync-fleet.ks.flux-system.apps-inventory", history: "gitsync-fleet.ks.flux-system.apps-rev-3"},
		{name: "HelmRelease with dots in its name", sync: "fleet", id: ID{KindHelmRelease, "podinfo", "podinfo.v2"},
			want: "fleet.hr.podinfo.podinfo.v2", inventory: "gitsync-fleet.hr.podinfo.podinfo.v2-inventory", history: "gitsync-fleet.hr.podinfo.podinfo.v2-rev-3"},
		{name: "exactly 63", sync: "s", id: ID{KindKustomization, "ns", strings.Repeat("a", 63-len("s.ks.ns."))},
			want: "s.ks.ns." + strings.Repeat("a", 55)},
		{name: "longer: cut with a hash", sync: "fleet", id: ID{KindKustomization, "infrastructure-controllers", long},
			want: "fleet.ks.infrastructure-controllers.very-long-name-v-07611326a2"},
		{name: "the cut does not leave a dot or dash before the hash", sync: "s", id: ID{KindKustomization, "n", strings.Repeat("x", 44) + "." + long},
			want: "s.ks.n." + strings.Repeat("x", 44) + "-7a80940343"},
		{name: "longest sync name and namespace", sync: strings.Repeat("s", 44), id: ID{KindHelmRelease, strings.Repeat("n", 63), "x"},
			want: strings.Repeat("s", 44) + ".hr." + strings.Repeat("n", 4) + "-fe9a0571d5"},
	}
	seen := map[string]string{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := StateName(tc.sync, tc.id)
			if got != tc.want {
				t.Errorf("StateName = %q; want %q", got, tc.want)
			}
			if errs := validation.IsValidLabelValue(got); len(errs) > 0 {
				t.Errorf("%q is not a label value: %v", got, errs)
			}
			if errs := validation.IsDNS1123Subdomain(InventoryName(tc.sync, tc.id)); len(errs) > 0 {
				t.Errorf("%q is not a ConfigMap name: %v", InventoryName(tc.sync, tc.id), errs)
			}
			if tc.inventory != "" && InventoryName(tc.sync, tc.id) != tc.inventory {
				t.Errorf("InventoryName = %q; want %q", InventoryName(tc.sync, tc.id), tc.inventory)
			}
			if tc.history != "" && HistoryName(tc.sync, tc.id, 3) != tc.history {
				t.Errorf("HistoryName = %q; want %q", HistoryName(tc.sync, tc.id, 3), tc.history)
			}
			if other, dup := seen[got]; dup {
				t.Errorf("%q is also the name of %s", got, other)
			}
			seen[got] = tc.name
		})
	}
	// Units that differ only past the cut still get different names.
	a := StateName("fleet", ID{KindKustomization, "infrastructure-controllers", long + "a"})
	b := StateName("fleet", ID{KindKustomization, "infrastructure-controllers", long + "b"})
	if a == b {
		t.Errorf("two units share the state name %q", a)
	}
	// The same unit always gets the same name, and the kind matters.
	if StateName("s", ID{KindKustomization, "n", "x"}) == StateName("s", ID{KindHelmRelease, "n", "x"}) {
		t.Error("a Kustomization and a HelmRelease of the same name share their state")
	}
}

// TestReleaseName uses helm-controller's own test vectors
// (internal/release/name_test.go).
func TestReleaseName(t *testing.T) {
	tests := []struct {
		targetNamespace, name, want string
	}{
		{"", "release-name", "release-name"},
		{"", "release-name-with-very-long-name-which-is-longer-than-53-characters", "release-name-with-very-long-name-which-i-788ca0d0d7b0"},
		{"", "another-release-name-with-very-long-name-which-is-longer-than-53-characters", "another-release-name-with-very-long-name-7e72150d5a36"},
		{"apps", "podinfo", "apps-podinfo"},
		{"release-name-with-very-long-name", "which-is-longer-than-53-characters", "release-name-with-very-long-name-which-i-788ca0d0d7b0"},
	}
	for _, tc := range tests {
		got := ReleaseName(tc.targetNamespace, tc.name)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ReleaseName(%q, %q) (-want +got):\n%s", tc.targetNamespace, tc.name, diff)
		}
		if len(got) > MaxReleaseNameLength {
			t.Errorf("%q is longer than %d", got, MaxReleaseNameLength)
		}
	}
}
