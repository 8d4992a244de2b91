package helm

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	repo "helm.sh/helm/v4/pkg/repo/v1"
	"sigs.k8s.io/yaml"

	"github.com/gitsync/gitsync/tests/helmrepo"
)

// wholeParse is the reference: the index parsed whole.
func wholeParse(t *testing.T, data []byte, chart string) []indexEntry {
	t.Helper()
	var idx struct {
		Entries map[string][]indexEntry `json:"entries"`
	}
	if err := yaml.Unmarshal(data, &idx); err != nil {
		t.Fatalf("reference parse: %v", err)
	}
	return idx.Entries[chart]
}

func TestReadIndexLayouts(t *testing.T) {
	long := strings.Repeat("x", 200<<10) // longer than the line buffer
	for _, tc := range []struct {
		name, index, layout string
	}{{
		name:   "helm layout, sequence at the key's indentation",
		layout: "block",
		index: `apiVersion: v1
entries:
  other:
  - name: other
    version: 9.0.0
    urls: [other-9.0.0.tgz]
  app:
  - name: app
    version: 1.0.0
    digest: abc
    urls:
    - app-1.0.0.tgz
  - name: app
    version: 1.1.0
    urls:
    - https://elsewhere.example/app-1.1.0.tgz
  zzz:
  - name: zzz
    version: 1.0.0
generated: "2024-01-01T00:00:00Z"
`,
	}, {
		name:   "indented sequences, quoted keys, comments, CRLF, document marker",
		layout: "block",
		index:  "---\r\n# a comment\r\napiVersion: v1\r\nentries:\r\n    \"app\":\r\n        - name: app\r\n          version: 2.0.0\r\n# comment at column 0\r\n          urls: ['a.tgz']\r\n    'b''c':\r\n        - name: x\r\n          version: 1.0.0\r\n",
	}, {
		name:   "block scalar with lines that look like keys",
		layout: "block",
		index: `entries:
  app:
  - description: |
      app:
      entries:
        not a key: really
    name: app
    version: 1.0.0
  other:
  - name: other
    version: 1.0.0
`,
	}, {
		name:   "long lines inside and outside the chart",
		layout: "block",
		index:  "entries:\n  before:\n  - description: " + long + "\n    version: 1.0.0\n  app:\n  - description: " + long + "\n    version: 3.0.0\n    urls: [x.tgz]\n  after:\n  - version: 1.0.0\n",
	}, {
		name:   "JSON",
		layout: "json",
		index:  `{"apiVersion":"v1","entries":{"other":[{"version":"1.0.0","urls":["o.tgz"],"x":{"deep":[1,2,{"a":null}]}}],"app":[{"name":"app","version":"1.2.3","urls":["a.tgz"],"digest":"d"}]},"generated":"now"}`,
	}, {
		name:   "flow style falls back to a whole parse",
		layout: "whole",
		index:  "entries: {app: [{name: app, version: 1.0.0, urls: [a.tgz]}]}\n",
	}, {
		name:   "anchors shared between charts fall back to a whole parse",
		layout: "whole",
		index:  "entries:\n  base:\n  - &b\n    name: base\n    version: 1.0.0\n  app:\n  - <<: *b\n    name: app\n    version: 2.0.0\n",
	}, {
		name:   "chart not listed",
		layout: "block",
		index:  "apiVersion: v1\nentries:\n  other:\n  - version: 1.0.0\n",
	}, {
		name:   "no entries",
		layout: "block",
		index:  "apiVersion: v1\nentries: {}\n",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, st, err := readIndex(strings.NewReader(tc.index), "app", 0)
			if err != nil {
				t.Fatal(err)
			}
			if st.Layout != tc.layout {
				t.Errorf("layout %s, want %s", st.Layout, tc.layout)
			}
			if st.Bytes != int64(len(tc.index)) {
				t.Errorf("read %d bytes of %d", st.Bytes, len(tc.index))
			}
			if d := cmp.Diff(wholeParse(t, []byte(tc.index), "app"), got); d != "" {
				t.Errorf("entries (-whole parse +streaming):\n%s", d)
			}
		})
	}
}

func TestReadIndexErrors(t *testing.T) {
	for _, tc := range []struct {
		name, index string
		limit       int64
		is          error
		message     string
	}{
		{"duplicate chart", "entries:\n  app:\n  - version: 1.0.0\n  app:\n  - version: 2.0.0\n", 0, nil, "chart app is listed twice"},
		{"size limit", "entries:\n  app:\n  - version: 1.0.0\n", 10, ErrTooLarge, "larger than 10 bytes"},
		{"empty", "  \n", 0, nil, "index is empty"},
		{"broken chart section", "entries:\n  app:\n  - version: [1.0.0\n", 0, nil, "entries of chart app"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := readIndex(strings.NewReader(tc.index), "app", tc.limit)
			if err == nil || !strings.Contains(err.Error(), tc.message) || tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("readIndex: %v, want an error containing %q", err, tc.message)
			}
		})
	}
}

// TestReadIndexMatchesHelm reads an index Helm wrote for many charts and
// compares every chart's entries with what Helm's own loader reads.
func TestReadIndexMatchesHelm(t *testing.T) {
	idx := repo.NewIndexFile()
	for c := range 30 {
		for v := range 20 {
			md, err := helmrepo.Metadata(helmrepo.Chart{
				Name: fmt.Sprintf("chart-%02d", c), Version: fmt.Sprintf("1.%d.%d", v/5, v%5),
				Description: strings.Repeat("long description ", 10) + "with: colons, and 'quotes'",
				AppVersion:  "v1",
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := idx.MustAdd(md, fmt.Sprintf("chart-%02d-%s.tgz", c, md.Version), "https://charts.example/x", fmt.Sprintf("%064x", c*100+v)); err != nil {
				t.Fatal(err)
			}
		}
	}
	idx.SortEntries()
	data, err := yaml.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "index.yaml")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	helmIdx, err := repo.LoadIndexFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"chart-00", "chart-17", "chart-29"} {
		got, st, err := readIndex(bytes.NewReader(data), name, 0)
		if err != nil {
			t.Fatal(err)
		}
		if st.Layout != "block" || st.Charts != 30 {
			t.Errorf("%s: layout %s, %d charts", name, st.Layout, st.Charts)
		}
		var want []indexEntry
		for _, cv := range helmIdx.Entries[name] {
			want = append(want, indexEntry{Name: cv.Name, Version: cv.Version, URLs: cv.URLs, Digest: cv.Digest})
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s (-helm +streaming):\n%s", name, d)
		}
	}
}
