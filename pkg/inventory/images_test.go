package inventory

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// What image records add to record.json: 20 policies with a marker each,
// a 128-bit digest pair and one page's ETag (a quoted SHA-256, the
// longest ETag registries commonly send).
func TestImageRecordSize(t *testing.T) {
	rec := Record{LastAppliedRevision: "main@sha1:" + strings.Repeat("a", 40)}
	before, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		rec.Images = append(rec.Images, ImageRecord{
			Policy: fmt.Sprintf("flux-system:app%02d", i), Automation: "ImageUpdateAutomation/flux-system/flux-system",
			Image: fmt.Sprintf("ghcr.io/example-org/app%02d", i), Latest: "1.23.456", Tags: 1234,
			Markers:    []string{fmt.Sprintf("apps/app%02d/deployment.yaml:21", i)},
			ETags:      []string{`"` + strings.Repeat("e", 64) + `"`},
			TagsDigest: strings.Repeat("d", 16), SpecDigest: strings.Repeat("s", 16),
		})
	}
	after, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	added := len(after) - len(before)
	t.Logf("20 image records add %d bytes to record.json (%d per policy)", added, added/20)
	if added > 20*400 {
		t.Errorf("20 image records add %d bytes, more than 400 each", added)
	}
	var back Record
	if err := json.Unmarshal(after, &back); err != nil || len(back.Images) != 20 || back.Images[7].ETags[0] != rec.Images[7].ETags[0] {
		t.Errorf("round trip: %v, %+v", err, back.Images)
	}
}

// ReplaceImages swaps one automation's records and keeps the others.
func TestReplaceImages(t *testing.T) {
	recs := []ImageRecord{{Policy: "a", Automation: ""}, {Policy: "b", Automation: "X"}, {Policy: "c", Automation: ""}}
	got := ReplaceImages(recs, "", []ImageRecord{{Policy: "d"}})
	if len(got) != 2 || got[0].Policy != "b" || got[1].Policy != "d" {
		t.Errorf("ReplaceImages = %+v", got)
	}
	if got := ImagesOf(recs, "X"); len(got) != 1 || got[0].Policy != "b" {
		t.Errorf("ImagesOf = %+v", got)
	}
}
