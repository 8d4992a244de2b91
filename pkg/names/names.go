// Package names holds the one definition of every name gitsync derives from
// a sync's name, and of the labels that say which sync an object belongs to.
// The plugin writes these objects and sync-job reads and writes them; both
// must agree, so neither spells a name out itself.
//
// For sync NAME in namespace NS:
//
//	ConfigMap gitsync-NAME                 the spec (key sync.yaml)
//	CronJob gitsync-NAME                   the schedule and the Job template
//	ServiceAccount gitsync-NAME            the identity of every run
//	Role, RoleBinding gitsync-NAME         the run's rights on its own state
//	Role/ClusterRole gitsync:NS:NAME       the rights to apply (and bindings)
//	ConfigMap gitsync-NAME-inventory       the inventory and the record
//	ConfigMaps gitsync-NAME-rev-N          the history
//	Lease gitsync-NAME                     one run at a time
package names

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Prefix starts the name of every namespaced object of a sync.
const Prefix = "gitsync-"

// MaxCronJobName is the longest CronJob name the API server accepts:
// Kubernetes appends an 11-character timestamp suffix to name its Jobs.
const MaxCronJobName = 52

// MaxSyncName is the longest sync name, so that CronJob(NAME) fits
// MaxCronJobName.
const MaxSyncName = MaxCronJobName - len(Prefix)

// Labels that tie an object to its sync. Applied objects and the sync's own
// ConfigMaps carry both; install's objects too.
const (
	// LabelSync names the sync an object belongs to.
	LabelSync = "gitsync.io/sync"
	// LabelSyncNamespace names the namespace of that sync, so that
	// cluster-scoped objects and objects in a target namespace can be traced
	// back.
	LabelSyncNamespace = "gitsync.io/sync-namespace"
)

// Spec returns the name of the ConfigMap holding the spec of sync.
func Spec(sync string) string { return Prefix + sync }

// CronJob returns the name of the CronJob of sync.
func CronJob(sync string) string { return Prefix + sync }

// ServiceAccount returns the name of the ServiceAccount every run of sync
// runs as.
func ServiceAccount(sync string) string { return Prefix + sync }

// OwnRole returns the name of the Role, and of its RoleBinding, that grant
// a run of sync its rights on its own state in the sync's namespace.
func OwnRole(sync string) string { return Prefix + sync }

// Applier returns the name of the RBAC objects that grant sync the rights to
// apply: gitsync:NAMESPACE:NAME. It includes the sync's namespace because
// these objects are cluster-scoped or live in a target namespace that syncs
// of other namespaces may share.
func Applier(namespace, sync string) string { return "gitsync:" + namespace + ":" + sync }

// Inventory returns the name of the inventory ConfigMap of sync.
func Inventory(sync string) string { return Prefix + sync + "-inventory" }

// History returns the name of history ConfigMap number n of sync.
func History(sync string, n int) string { return Prefix + sync + "-rev-" + strconv.Itoa(n) }

// Lease returns the name of the Lease of sync.
func Lease(sync string) string { return Prefix + sync }

// FluxTree returns the name of the Secret holding the Flux objects of
// sync's units (see docs/architecture.md, Units).
func FluxTree(sync string) string { return Prefix + sync + "-flux" }

// Render returns the name of the Secret holding the last render of sync
// and of each of its units, from which a drift correction applies (see
// docs/architecture.md, Drift without a request per object).
func Render(sync string) string { return Prefix + sync + "-render" }

// SyncOfSpec returns the sync whose spec ConfigMap is named configMap, and
// false when the name is not a spec ConfigMap's (it does not start with
// Prefix or names nothing after it). A name that fits is not proof: the
// caller also checks the ConfigMap holds a spec.
func SyncOfSpec(configMap string) (string, bool) {
	name, ok := strings.CutPrefix(configMap, Prefix)
	if !ok || name == "" {
		return "", false
	}
	return name, true
}

// Validate checks a sync name: a DNS-1123 label no longer than
// MaxSyncName, so that every name above is a valid object name and label
// value. The error lists every problem.
func Validate(sync string) error {
	if sync == "" {
		return errors.New("required")
	}
	problems := validation.IsDNS1123Label(sync)
	if len(sync) > MaxSyncName {
		problems = append(problems, fmt.Sprintf("must be no more than %d characters", MaxSyncName))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}
