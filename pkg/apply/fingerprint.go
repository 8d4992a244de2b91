package apply

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// A fingerprint, as recorded in Target.Fingerprint, is "STATE.DIGEST" (or
// just "STATE" for objects that are never updated), 16 hex digits each:
//
//   - STATE (stateOf) describes the live object right after gitsync applied
//     it, in terms that only change when someone else interferes: its UID
//     and the field set of gitsync's Apply entry in metadata.managedFields.
//     When anyone changes a field gitsync owns (kubectl edit, a controller's
//     Update, another applier forcing ownership, the scale subresource), the
//     API server moves that field's ownership to them, so gitsync's set
//     shrinks; a recreated object has a new UID. Changes to fields gitsync
//     does not own, status writes and the entry's timestamp do not count.
//     Drift compares STATE only, from a metadata-only LIST.
//   - DIGEST (digestOf) is a hash of the exact body gitsync sent. Apply
//     skips an object whose DIGEST matches what it would send now and whose
//     live STATE still matches: sending it again could not change anything.
const fingerprintSep = "."

// stateOf returns the STATE part of a live object's fingerprint for the
// given field manager: the first 16 hex digits of a SHA-256 over its UID and
// the canonicalized field set of manager's Apply entry for the main resource
// (not a subresource). For objects whose live annotations say ssa:
// IfNotPresent the set is left out: they are never updated, so only their
// existence (UID) matters. It reads only ObjectMeta, so it works on the
// metadata-only objects a metadata LIST returns.
func stateOf(m metav1.Object, manager string) string {
	return stateHash(m, manager, true, nil)
}

// stateOfIgnoring is stateOf with the paths under ignored (the pointers of
// the ignore rules that select the object) left out of the field set:
// whether gitsync still owns an ignored field does not count, so another
// writer taking it is no drift. Without pointers it is stateOf.
func stateOfIgnoring(m metav1.Object, manager string, ignored [][]string) string {
	return stateHash(m, manager, true, ignored)
}

// stateMatchesIgnoring is stateMatches for a state from stateOfIgnoring.
func stateMatchesIgnoring(m metav1.Object, manager, state string, ignored [][]string) bool {
	if len(ignored) == 0 {
		return stateMatches(m, manager, state)
	}
	return stateHash(m, manager, true, ignored) == state
}

// stateMatches tells whether m's STATE is state. It first hashes the field
// set as the server sent it, which is canonical already when the API server
// wrote it (a match then proves the sets equal), and canonicalizes it only
// when that differs: a drift check of 1,000 objects parses no field set
// unless something changed.
func stateMatches(m metav1.Object, manager, state string) bool {
	return stateHash(m, manager, false, nil) == state || stateHash(m, manager, true, nil) == state
}

// stateHash computes stateOf, with the field set canonicalized or as sent,
// and without the paths under ignored (always canonical then).
func stateHash(m metav1.Object, manager string, canonical bool, ignored [][]string) string {
	h := sha256.New()
	h.Write([]byte("gitsync-state-v1\x00"))
	h.Write([]byte(m.GetUID()))
	h.Write([]byte{0})
	if _, v, ok := lookup(m.GetAnnotations(), AnnotationSSA); ok && strings.EqualFold(v, string(SSAIfNotPresent)) {
		h.Write([]byte("if-not-present"))
	} else if e := applyEntry(m.GetManagedFields(), manager); e != nil && e.FieldsV1 != nil {
		if len(ignored) > 0 {
			h.Write(fieldsWithout(e.FieldsV1.GetRawBytes(), ignored))
		} else if canonical {
			h.Write(canonicalFields(e.FieldsV1.GetRawBytes()))
		} else {
			h.Write(e.FieldsV1.GetRawBytes())
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// digestOf returns the DIGEST of a body the engine sends.
func digestOf(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:8])
}

// fingerprint joins the parts; digest may be empty.
func fingerprint(state, digest string) string {
	if digest == "" {
		return state
	}
	return state + fingerprintSep + digest
}

// stateOfFingerprint returns the STATE part of a recorded fingerprint.
func stateOfFingerprint(fp string) string {
	state, _, _ := strings.Cut(fp, fingerprintSep)
	return state
}

// applyEntry returns manager's Apply entry for the main resource, or nil.
func applyEntry(entries []metav1.ManagedFieldsEntry, manager string) *metav1.ManagedFieldsEntry {
	for i := range entries {
		e := &entries[i]
		if e.Manager == manager && e.Operation == metav1.ManagedFieldsOperationApply && e.Subresource == "" {
			return e
		}
	}
	return nil
}

// canonicalFields re-serializes a FieldsV1 set so that two encodings of the
// same set hash alike; raw bytes are used when they do not parse.
func canonicalFields(raw []byte) []byte {
	var s fieldpath.Set
	if err := s.FromJSON(bytes.NewReader(raw)); err != nil {
		return raw
	}
	out, err := s.ToJSON()
	if err != nil {
		return raw
	}
	return out
}
