package inventory

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzDecodeEntries feeds the inventory ConfigMap's payload, plain or
// gzip-compressed as Load reads it, to the decoder: it never panics nor
// inflates past maxDecompressed, and an inventory it accepts holds exactly
// the count of entries it declares (none dropped) and survives encoding
// again unchanged.
func FuzzDecodeEntries(f *testing.F) {
	for _, n := range []int{0, 1, 7} {
		enc, err := encodeEntries(realisticEntries(n, uint64(n)))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc)
		gz, err := compress(enc)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(gz)
	}
	f.Add([]byte(`{"format":"gitsync.io/inventory/v1","count":2,"types":[{"version":"v1","resource":"configmaps","kind":"ConfigMap","namespaced":true}],"groups":[{"ns":"a","t":0,"n":["x","x"]}]}`))
	f.Add([]byte(`{"format":"gitsync.io/inventory/v1","count":1,"types":[],"groups":[{"t":3,"n":["x"]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
			out, err := decompress(data)
			if err != nil {
				return
			}
			if len(out) > maxDecompressed {
				t.Fatalf("inflated to %d bytes, cap %d", len(out), maxDecompressed)
			}
			data = out
		}
		entries, err := decodeEntries(data)
		if err != nil {
			return
		}
		var doc struct {
			Count int `json:"count"`
		}
		if err := json.Unmarshal(data, &doc); err != nil || doc.Count != len(entries) {
			t.Fatalf("%d entries decoded, the document declares %d (%v)", len(entries), doc.Count, err)
		}
		enc, err := encodeEntries(entries)
		if dup := duplicateID(entries); dup != "" {
			// The decoder keeps both entries (none dropped); encode refuses
			// the set, so a run writes it only after inventory.Union.
			if err == nil || !strings.Contains(err.Error(), dup) {
				t.Fatalf("entries with %s twice encode: %v", dup, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("a decoded inventory does not encode again: %v", err)
		}
		again, err := decodeEntries(enc)
		if err != nil {
			t.Fatalf("re-encoded inventory does not decode: %v", err)
		}
		if diff := cmp.Diff(entries, again); diff != "" {
			t.Fatalf("round trip changed the entries (-decoded +again):\n%s", diff)
		}
	})
}

// duplicateID returns the ID that entries list twice, or "".
func duplicateID(entries []Entry) string {
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		id := e.ID.String()
		if seen[id] {
			return id
		}
		seen[id] = true
	}
	return ""
}
