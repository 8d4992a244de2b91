package flux

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/gitsync/gitsync/pkg/inventory"
)

// A unit keeps its state as a sync does (pkg/inventory), under its own
// name:
//
//	StateName(sync, unit)    = SYNC.ks.NAMESPACE.NAME   (hr for a HelmRelease)
//	inventory and record     : ConfigMap gitsync-<StateName>-inventory
//	history                  : ConfigMaps gitsync-<StateName>-rev-N
//
// all in the sync's namespace, where the sync's Job may write, whatever the
// unit's own namespace. The dots keep the parts apart without ambiguity:
// a sync name and a namespace are DNS labels (no dots), so everything after
// the third dot is the unit's name, and no unit's StateName can equal a
// sync's name (which has no dot) or another unit's.
//
// StateName is at most 63 characters, so it is valid both in a ConfigMap
// name (253) and as a label value (63): it is what inventory.Store.Sync
// and the gitsync.io/sync label of the unit's ConfigMaps carry. A longer
// name keeps its first 52 characters and ends in "-" and 10 hex digits of
// the SHA-256 of the whole name, so names stay stable from run to run and
// two units still differ when they only differ past the cut.

// MaxStateNameLength is the longest StateName: a label value's limit.
const MaxStateNameLength = 63

// stateHashLength is how many hex digits of the hash a shortened
// StateName ends with (40 bits).
const stateHashLength = 10

// kindAbbrev abbreviates unit kinds as the flux CLI does.
var kindAbbrev = map[string]string{KindKustomization: "ks", KindHelmRelease: "hr"}

// StateName returns the name of the state of unit id of sync NAME; see
// above. id.Kind is KindKustomization or KindHelmRelease.
func StateName(sync string, id ID) string {
	abbrev := kindAbbrev[id.Kind]
	if abbrev == "" {
		abbrev = strings.ToLower(id.Kind)
	}
	full := sync + "." + abbrev + "." + id.Namespace + "." + id.Name
	if len(full) <= MaxStateNameLength {
		return full
	}
	sum := sha256.Sum256([]byte(full))
	prefix := strings.TrimRight(full[:MaxStateNameLength-stateHashLength-1], ".-")
	return prefix + "-" + hex.EncodeToString(sum[:])[:stateHashLength]
}

// InventoryName returns the name of the ConfigMap holding unit id's
// inventory and record.
func InventoryName(sync string, id ID) string {
	return inventory.InventoryName(StateName(sync, id))
}

// HistoryName returns the name of unit id's history ConfigMap number n.
func HistoryName(sync string, id ID, n int) string {
	return inventory.HistoryName(StateName(sync, id), n)
}
