package inventory

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gitsync/gitsync/pkg/object"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		entries []Entry
	}{
		{name: "empty"},
		{
			name: "mixed scopes and odd names",
			entries: []Entry{
				{ID: object.ID{Group: "apps", Kind: "Deployment", Namespace: "web", Name: "frontend"}, Version: "v1", Resource: "deployments", Namespaced: true, Fingerprint: "3f2a9c0d1e2b4a5c"},
				{ID: object.ID{Kind: "Namespace", Name: "web"}, Version: "v1", Resource: "namespaces"},
				{ID: object.ID{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "system:controller:gitsync <\"x\">\t&\u00e9"}, Version: "v1", Resource: "clusterroles", Fingerprint: "f"},
				{ID: object.ID{Group: "example.com", Kind: "Widget", Namespace: "web", Name: "a"}, Version: "v1beta1", Resource: "widgets", Namespaced: true},
				// The same kind at another version is another type row.
				{ID: object.ID{Group: "example.com", Kind: "Widget", Namespace: "web", Name: "b"}, Version: "v1", Resource: "widgets", Namespaced: true},
			},
		},
		{name: "realistic", entries: realisticEntries(2000, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := encodeEntries(tt.entries)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeEntries(raw)
			if err != nil {
				t.Fatalf("decode: %v\n%s", err, raw)
			}
			want := append([]Entry{}, tt.entries...)
			Sort(want)
			if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
			// Compressed, the same bytes come back.
			zipped, err := compress(raw)
			if err != nil {
				t.Fatal(err)
			}
			back, err := decompress(zipped)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(raw, back) {
				t.Errorf("gzip round trip changed %d bytes into %d bytes", len(raw), len(back))
			}
		})
	}
}

func TestEncodeIsCanonical(t *testing.T) {
	entries := realisticEntries(500, 2)
	reversed := make([]Entry, len(entries))
	for i, e := range entries {
		reversed[len(entries)-1-i] = e
	}
	a, err := encodeEntries(entries)
	if err != nil {
		t.Fatal(err)
	}
	b, err := encodeEntries(reversed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("the same entries in another order encode to other bytes")
	}
}

func TestEncodeFormat(t *testing.T) {
	raw, err := encodeEntries([]Entry{
		{ID: object.ID{Group: "apps", Kind: "Deployment", Namespace: "web", Name: "frontend"}, Version: "v1", Resource: "deployments", Namespaced: true, Fingerprint: "3f2a"},
		{ID: object.ID{Kind: "Service", Namespace: "web", Name: "frontend"}, Version: "v1", Resource: "services", Namespaced: true},
		{ID: object.ID{Group: "apps", Kind: "Deployment", Namespace: "web", Name: "backend"}, Version: "v1", Resource: "deployments", Namespaced: true, Fingerprint: "9e8d"},
		{ID: object.ID{Kind: "Namespace", Name: "web"}, Version: "v1", Resource: "namespaces"},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The format is read by later versions of gitsync: changing it is a
	// compatibility decision, not a refactoring.
	want := `{"format":"gitsync.io/inventory/v1","count":4,
"types":[
{"version":"v1","resource":"namespaces","kind":"Namespace"},
{"version":"v1","resource":"services","kind":"Service","namespaced":true},
{"group":"apps","version":"v1","resource":"deployments","kind":"Deployment","namespaced":true}
],
"groups":[
{"t":0,"n":["web"]},
{"ns":"web","t":1,"n":["frontend"]},
{"ns":"web","t":2,"n":["backend","frontend"]}
],
"fingerprints":["","","9e8d","3f2a"]}
`
	if diff := cmp.Diff(want, string(raw)); diff != "" {
		t.Errorf("encoding (-want +got):\n%s", diff)
	}
	noFingerprints, err := encodeEntries([]Entry{{ID: object.ID{Kind: "Namespace", Name: "web"}, Version: "v1", Resource: "namespaces"}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(noFingerprints), "fingerprints") {
		t.Errorf("fingerprints written although all are empty:\n%s", noFingerprints)
	}
}

func TestEncodeRefuses(t *testing.T) {
	ok := Entry{ID: object.ID{Kind: "ConfigMap", Namespace: "a", Name: "b"}, Version: "v1", Resource: "configmaps", Namespaced: true}
	tests := []struct {
		name    string
		mut     func(*Entry)
		twice   bool
		wantErr string
	}{
		{name: "no version", mut: func(e *Entry) { e.Version = "" }, wantErr: "must be set"},
		{name: "no resource", mut: func(e *Entry) { e.Resource = "" }, wantErr: "must be set"},
		{name: "no name", mut: func(e *Entry) { e.Name = "" }, wantErr: "must be set"},
		{name: "namespaced without namespace", mut: func(e *Entry) { e.Namespace = "" }, wantErr: "no namespace"},
		{name: "cluster-scoped with namespace", mut: func(e *Entry) { e.Namespaced = false }, wantErr: "cluster-scoped"},
		{name: "duplicate", mut: func(e *Entry) {}, twice: true, wantErr: "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ok
			tt.mut(&e)
			entries := []Entry{e}
			if tt.twice {
				entries = append(entries, e)
			}
			_, err := encodeEntries(entries)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("encodeEntries error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
	if _, err := encodeEntries([]Entry{ok}); err != nil {
		t.Errorf("encodeEntries refused a valid entry: %v", err)
	}
}

func TestDecodeErrors(t *testing.T) {
	const head = `{"format":"gitsync.io/inventory/v1","count":1,"types":[{"version":"v1","resource":"namespaces","kind":"Namespace"}],`
	tests := []struct {
		name, data, wantErr string
	}{
		{"not json", "hello", "invalid character"},
		{"other format", `{"format":"gitsync.io/inventory/v9","count":0,"types":[],"groups":[]}`, `format "gitsync.io/inventory/v9"`},
		{"truncated", head + `"groups":[{"t":0,"n":["a"]}`, "unexpected EOF"},
		{"fewer names", head + `"groups":[]}`, "0 names, count says 1"},
		{"more names", head + `"groups":[{"t":0,"n":["a","b"]}]}`, "2 names, count says 1"},
		{"fingerprints", head + `"groups":[{"t":0,"n":["a"]}],"fingerprints":["x","y"]}`, "2 fingerprints"},
		{"type out of range", head + `"groups":[{"t":1,"n":["a"]}]}`, "type index 1 out of range"},
		{"negative type", head + `"groups":[{"t":-1,"n":["a"]}]}`, "type index -1 out of range"},
		{"empty name", head + `"groups":[{"t":0,"n":[""]}]}`, "must be set"},
		{"namespace on cluster-scoped", head + `"groups":[{"ns":"x","t":0,"n":["a"]}]}`, "cluster-scoped"},
		{"unknown field", head + `"groups":[{"t":0,"n":["a"],"x":1}]}`, "unknown field"},
		{"trailing data", head + `"groups":[{"t":0,"n":["a"]}]}{}`, "after the document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeEntries([]byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("decodeEntries error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestDecompressRejectsGarbage(t *testing.T) {
	if _, err := decompress([]byte("not gzip")); err == nil {
		t.Error("decompress accepted bytes that are not gzip")
	}
}
