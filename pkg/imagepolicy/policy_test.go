package imagepolicy

import (
	"errors"
	"strings"
	"testing"
)

func TestLatest(t *testing.T) {
	semverRange := func(r string) Choice { return Choice{SemVer: &SemVer{Range: r}} }
	alpha := func(o string) Choice { return Choice{Alphabetical: &Ordered{Order: o}} }
	num := func(o string) Choice { return Choice{Numerical: &Ordered{Order: o}} }
	tests := []struct {
		name    string
		spec    Spec
		tags    []string
		want    string
		wantErr string
	}{
		{name: "semver highest in range", spec: Spec{Policy: semverRange(">=1.0.0 <2.0.0")},
			tags: []string{"0.9.0", "1.0.0", "1.10.0", "1.9.3", "2.0.0", "latest"}, want: "1.10.0"},
		{name: "semver 5.0.x (Flux's example)", spec: Spec{Policy: semverRange("5.0.x")},
			tags: []string{"5.0.0", "5.0.3", "5.1.0", "4.9.9"}, want: "5.0.3"},
		{name: "semver v prefix kept", spec: Spec{Policy: semverRange(">=1.0.0")},
			tags: []string{"v1.2.0", "v1.10.1", "v1.9.0"}, want: "v1.10.1"},
		{name: "semver skips pre-releases unless the range asks", spec: Spec{Policy: semverRange(">=1.0.0")},
			tags: []string{"1.0.0", "1.1.0-rc.1"}, want: "1.0.0"},
		{name: "semver pre-releases with -0", spec: Spec{Policy: semverRange(">=1.0.0-0")},
			tags: []string{"1.0.0", "1.1.0-rc.1", "1.1.0-rc.2"}, want: "1.1.0-rc.2"},
		{name: "semver none in range", spec: Spec{Policy: semverRange(">=3.0.0")},
			tags: []string{"1.0.0", "2.0.0"}, wantErr: ErrNoMatch.Error()},
		{name: "semver signature tags excluded by default", spec: Spec{Policy: semverRange("*")},
			tags: []string{"1.0.0", "1.0.1.sig", "sha256-abc.sig"}, want: "1.0.0"},
		{name: "alphabetical asc (Flux's RELEASE example)", spec: Spec{Policy: alpha("")},
			tags: []string{"RELEASE.2021-01-27T00-47-35Z", "RELEASE.2021-02-01T19-22-30Z", "RELEASE.2020-12-31T00-00-00Z"},
			want: "RELEASE.2021-02-01T19-22-30Z"},
		{name: "alphabetical desc", spec: Spec{Policy: alpha("desc")},
			tags: []string{"b", "a", "c"}, want: "a"},
		{name: "numerical asc", spec: Spec{Policy: num("asc")},
			tags: []string{"9", "10", "2", "10.5"}, want: "10.5"},
		{name: "numerical desc", spec: Spec{Policy: num("desc")},
			tags: []string{"9", "10", "2"}, want: "2"},
		{name: "numerical fails on a non-number, naming it", spec: Spec{Policy: num("")},
			tags: []string{"9", "latest"}, wantErr: `tag value "latest" is not a number`},
		{name: "filterTags extract timestamp (Flux's main-SHA-TS example)",
			spec: Spec{Policy: num("asc"), FilterTags: &FilterTags{Pattern: `^main-[a-fA-F0-9]+-(?P<ts>.*)`, Extract: "$ts"}},
			tags: []string{"main-abc1234-1611000000", "main-fed4321-1612000000", "dev-0000000-1699999999", "latest"},
			want: "main-fed4321-1612000000"},
		{name: "filterTags extract numbered group",
			spec: Spec{Policy: semverRange(">=1.0.0"), FilterTags: &FilterTags{Pattern: `^app-(\d+\.\d+\.\d+)$`, Extract: "$1"}},
			tags: []string{"app-1.2.0", "app-1.11.0", "other-9.9.9", "1.99.0"}, want: "app-1.11.0"},
		{name: "filterTags pattern only keeps matching tags",
			spec: Spec{Policy: alpha(""), FilterTags: &FilterTags{Pattern: `^stable-`}},
			tags: []string{"stable-a", "stable-b", "zzz"}, want: "stable-b"},
		{name: "filterTags matches nothing", spec: Spec{Policy: alpha(""), FilterTags: &FilterTags{Pattern: `^x`}},
			tags: []string{"a"}, wantErr: ErrNoMatch.Error()},
		{name: "exclusionList replaces the default", spec: Spec{Policy: alpha(""), ExclusionList: []string{"^latest$"}},
			tags: []string{"a", "latest", "z.sig"}, want: "z.sig"},
		{name: "empty exclusionList excludes nothing", spec: Spec{Policy: alpha(""), ExclusionList: []string{}},
			tags: []string{"a", "z.sig"}, want: "z.sig"},
		{name: "no tags", spec: Spec{Policy: alpha("")}, wantErr: ErrNoMatch.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(tt.spec)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			got, err := p.Latest(tt.tags)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Latest = %q, %v; want error %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Latest = %q, %v; want %q", got, err, tt.want)
			}
			// The choice does not depend on the order of the list.
			rev := make([]string, len(tt.tags))
			for i, s := range tt.tags {
				rev[len(rev)-1-i] = s
			}
			if got2, _ := p.Latest(rev); got2 != got {
				t.Fatalf("Latest(reversed) = %q, want %q", got2, got)
			}
		})
	}
}

func TestCompileErrorsNameTheField(t *testing.T) {
	tests := []struct {
		spec  Spec
		field string
	}{
		{Spec{}, "policy"},
		{Spec{Policy: Choice{SemVer: &SemVer{}, Numerical: &Ordered{}}}, "policy"},
		{Spec{Policy: Choice{SemVer: &SemVer{}}}, "policy.semver.range"},
		{Spec{Policy: Choice{SemVer: &SemVer{Range: ">= 1.0 <<"}}}, "policy.semver.range"},
		{Spec{Policy: Choice{Alphabetical: &Ordered{Order: "up"}}}, "policy.alphabetical.order"},
		{Spec{Policy: Choice{Numerical: &Ordered{Order: "ASC"}}}, "policy.numerical.order"},
		{Spec{Policy: Choice{Numerical: &Ordered{}}, FilterTags: &FilterTags{Pattern: "("}}, "filterTags.pattern"},
		{Spec{Policy: Choice{Numerical: &Ordered{}}, FilterTags: &FilterTags{Extract: "$1"}}, "filterTags.pattern"},
		{Spec{Policy: Choice{Numerical: &Ordered{}}, ExclusionList: []string{"ok", "["}}, "exclusionList[1]"},
		{Spec{Policy: Choice{Numerical: &Ordered{}}, ExclusionList: make([]string, 26)}, "exclusionList"},
	}
	for _, tt := range tests {
		_, err := Compile(tt.spec)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("Compile(%+v) = %v, want a FieldError on %s", tt.spec, err, tt.field)
		}
	}
}
