package metrics

import (
	"bytes"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// TestTextAsClientGolang holds the hand-written exposition to
// client_golang's: the same families written by a client_golang registry
// and expfmt's text encoder give the same bytes, escapes, ordering and
// special values included. (client_golang is linked by this test only.)
func TestTextAsClientGolang(t *testing.T) {
	f := true
	odd := failedSync()
	odd.Namespace, odd.Name = "zz", `we"ird\name`
	odd.Record.LastAppliedRevision = "main@sha1:x\nnewline"
	odd.Suspended = &f
	odd.PeakRSS = 1 << 40
	never := Sync{Namespace: "apps", Name: "new"}
	for name, syncs := range map[string][]Sync{
		"one":    {failedSync()},
		"many":   {odd, failedSync(), never},
		"none":   nil,
		"never":  {never},
		"waited": {{Namespace: "a", Name: "b", Record: failedSync().Record}},
	} {
		for _, syncLabels := range []bool{true, false} {
			if !syncLabels && len(syncs) > 1 {
				continue // a push has one sync
			}
			fams := gather(syncs, syncLabels)
			if diff := cmp.Diff(clientGolangText(t, fams), string(text(fams))); diff != "" {
				t.Errorf("%s (sync labels %v): text differs from client_golang's (-want +got):\n%s", name, syncLabels, diff)
			}
		}
	}
	for _, v := range []float64{0, 1, -1, 2.5, 1.796472e+09, 5.24288e+07, 1e21, 1e-7, math.Inf(1), math.Inf(-1), math.NaN(), 123456789} {
		fams := []*family{{name: "x", help: "h", samples: []sample{{value: v}}}}
		if got, want := string(text(fams)), clientGolangText(t, fams); got != want {
			t.Errorf("value %v: %q, client_golang %q", v, got, want)
		}
	}
}

// clientGolangText is fams as client_golang's registry gathers them and
// expfmt's text encoder writes them.
func clientGolangText(t *testing.T, fams []*family) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	for _, fam := range fams {
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: fam.name, Help: fam.help}, fam.labels)
		reg.MustRegister(v)
		for _, s := range fam.samples {
			v.WithLabelValues(s.values...).Set(s.value)
		}
	}
	gathered, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	enc := expfmt.NewEncoder(&out, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range gathered {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return out.String()
}

// TestGroupingPath: a grouping label's value goes in the path as it is,
// or base64 (URL-safe) when it has a slash or is empty.
func TestGroupingPath(t *testing.T) {
	for value, want := range map[string]string{
		"apps":  "namespace/apps",
		"a/b":   "namespace@base64/YS9i",
		"":      "namespace@base64/=",
		"a b%c": "namespace/a%20b%25c",
	} {
		if got := groupingPath("namespace", value); got != want {
			t.Errorf("groupingPath(%q) = %q, want %q", value, got, want)
		}
	}
}
