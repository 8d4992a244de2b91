// Package apply writes a rendered set of objects to a cluster and answers
// what changed: server-side apply in stages, pruning of objects that left the
// set, a drift check that needs no request per object, and health waits with
// kstatus.
//
// The orchestrator (pkg/sync) hands the Engine plain values —
// []*unstructured.Unstructured in, a ChangeSet out, Targets for prune, drift
// and wait — and records Change.Target (with its Fingerprint) in the
// inventory.
//
// # Apply
//
// Every object is sent as one server-side apply PATCH with field manager
// "gitsync" and force=true, so gitsync takes back fields that someone else
// changed (drift correction) while fields it never set stay with their owners.
// Objects go in stages, each concurrent within itself, and a stage runs only
// when every earlier stage succeeded (see Stage):
//
//  1. CustomResourceDefinitions, Namespaces, ClusterRoles — then the engine
//     waits until the CRDs are Established and lets a missing kind read
//     discovery once more, so the new kinds resolve;
//  2. *Class kinds (StorageClass, IngressClass, ...) and Roles;
//  3. everything else, including RoleBindings and ClusterRoleBindings (after
//     the roles they bind, so a restricted applier passes RBAC's escalation
//     check);
//  4. admission webhook configurations and APIServices, which change how the
//     API server treats every later request.
//
// Per-object annotations (gitsync.io/... or Flux's kustomize.toolkit.fluxcd.io/...)
// change what happens to one object; see Policy.
//
// # What a Change's Action means
//
// Created: the apply answered 201. Unchanged: the apply did not change the
// object's content, or the engine knew it could not and sent nothing (see
// Options.Fingerprints). Configured: it did, or the engine could not prove it
// did not (see Engine.Apply for the rule). Replaced: deleted and recreated
// because an immutable field changed and force was asked for. Skipped: not
// touched on purpose (an annotation, an IfNotPresent object that exists, or
// an earlier stage failed — then Err says so). Failed: Err says why.
// Deleted: pruned, or already gone.
//
// # Fingerprints
//
// Every applied object gets a fingerprint (Change.Fingerprint) that the
// orchestrator stores in the inventory. Drift uses it to find, with one
// metadata-only LIST per resource, the objects someone changed or deleted;
// Apply uses it (Options.Fingerprints) to skip objects that are still exactly
// as applied. See stateOf and digestOf in fingerprint.go.
//
// # Requests, rate limits and faults
//
// The engine sends each request once. Transient faults (429, 503, lost
// connections, etcd leader changes) are retried below it, by the transport
// pkg/retry wraps around the configuration given to New: the orchestrator
// wraps it once for all of a run's clients, so that apply, prune, the Lease
// and the inventory share one policy. A caller without it gets no retries.
//
// The engine's own concurrency (Options.Concurrency) is what bounds the load
// it puts on the API server; the API server's priority and fairness does the
// rest. New therefore disables client-go's client-side token bucket (QPS 5)
// unless the caller configured one explicitly.
package apply
