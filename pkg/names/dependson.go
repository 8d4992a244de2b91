package names

import (
	"crypto/sha256"
	"encoding/hex"
)

// DependsOnLabelPrefix starts the label a dependent sync's spec ConfigMap
// carries for each sync it depends on (DependsOnLabel).
const DependsOnLabelPrefix = "depends-on.gitsync.io/"

// DependsOnLabel returns the label key that marks the spec ConfigMap of a
// sync depending on sync NAME of namespace NS: DependsOnLabelPrefix and
// the first 16 bytes, in hex, of sha256("NS/NAME"); its value is NAME. A
// run of the dependency finds its dependents with one labelled list.
func DependsOnLabel(namespace, sync string) string {
	sum := sha256.Sum256([]byte(namespace + "/" + sync))
	return DependsOnLabelPrefix + hex.EncodeToString(sum[:16])
}

// Trigger returns the name of the Role, and of its RoleBinding, in a
// sync's namespace that let the ServiceAccounts of the syncs it depends on
// start its runs: get on its CronJob, create on Jobs.
func Trigger(sync string) string { return Prefix + sync + "-trigger" }

// DependencyReader returns the name of the Role, and of its RoleBinding,
// that a sync of namespace NS depending on syncs of another namespace gets
// there: get on their spec and inventory ConfigMaps. It names the
// dependent, as Applier does, because syncs of other namespaces share the
// namespace it lives in.
func DependencyReader(namespace, sync string) string {
	return "gitsync-dependent:" + namespace + ":" + sync
}

// TriggeredBy is the annotation on a Job a dependency's run started: the
// NAMESPACE/NAME of that sync.
const TriggeredBy = "gitsync.io/triggered-by"
