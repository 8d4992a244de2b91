package inventory

// ImageRecord is one image policy as the sync's last run resolved it: the
// policies of spec.imageUpdate and the ImagePolicies of Flux's
// ImageUpdateAutomation units. Store writes them in the sync's Record
// (record.json, key "images"), for example:
//
//	{"policy": "apps:podinfo", "automation": "ImageUpdateAutomation/flux-system/apps",
//	 "image": "ghcr.io/org/podinfo", "latest": "6.5.4", "tags": 42,
//	 "markers": ["apps/podinfo.yaml:12", "apps/values.yaml:3:tag"],
//	 "etags": ["\"5e1f…\""], "tagsDigest": "0c4b9e2f7a1d3c55", "specDigest": "9a1d07c3e8b24f60"}
//
// `kubectl gitsync images` lists them, and the next run reuses Latest
// when the repository's tag list is unchanged (ETags, TagsDigest) and so is
// the policy (SpecDigest). About 350 bytes each with one marker and one
// page's ETag: 20 policies add about 7 KB to the record
// (TestImageRecordSize).
type ImageRecord struct {
	// Policy is "NAMESPACE:POLICY", as markers name it.
	Policy string `json:"policy"`
	// Automation is the ImageUpdateAutomation unit that resolved the
	// policy, as Kind/namespace/name; empty for spec.imageUpdate.
	Automation string `json:"automation,omitempty"`
	// Image is the repository scanned.
	Image string `json:"image"`
	// Latest is the tag the policy chose (a digest reflected is looked up
	// at every run, and not kept).
	Latest string `json:"latest"`
	// Tags is the number of tags listed.
	Tags int `json:"tags,omitempty"`
	// Markers are the policy's markers under the update path, as
	// FILE:LINE, or FILE:LINE:FIELD for a :tag, :name or :digest marker.
	Markers []string `json:"markers,omitempty"`
	// MoreMarkers counts the markers beyond the first MaxImageMarkers,
	// which are not listed.
	MoreMarkers int `json:"moreMarkers,omitempty"`
	// Pending tells that the markers were updated on a push branch for
	// review: the branch the run applies still holds the old values.
	Pending bool `json:"pending,omitempty"`
	// ETags are the registry's ETags of the tag list's pages, sent as
	// If-None-Match by the next scan.
	ETags []string `json:"etags,omitempty"`
	// TagsDigest is a digest of the tag list as listed.
	TagsDigest string `json:"tagsDigest,omitempty"`
	// SpecDigest is a digest of the policy and its image repository.
	SpecDigest string `json:"specDigest,omitempty"`
}

// MaxImageMarkers bounds the markers an ImageRecord lists: a policy may
// mark hundreds of files, and the record is read at every run.
const MaxImageMarkers = 20

// ImagesOf returns the records of automation ("" for spec.imageUpdate)
// among recs.
func ImagesOf(recs []ImageRecord, automation string) []ImageRecord {
	var out []ImageRecord
	for _, r := range recs {
		if r.Automation == automation {
			out = append(out, r)
		}
	}
	return out
}

// ReplaceImages returns recs with the records of automation replaced by
// with, keeping the order of the others.
func ReplaceImages(recs []ImageRecord, automation string, with []ImageRecord) []ImageRecord {
	out := make([]ImageRecord, 0, len(recs)+len(with))
	for _, r := range recs {
		if r.Automation != automation {
			out = append(out, r)
		}
	}
	return append(out, with...)
}
