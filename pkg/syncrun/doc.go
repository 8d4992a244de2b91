// Package syncrun runs one pass of a sync: read the spec, take the Lease,
// resolve and fetch the source, render it, apply it, prune what was removed,
// record the result, release the Lease. Each stage is its own package; this
// one only hands their plain results from one to the next and decides, from
// the recorded state, which stages a run needs.
package syncrun
