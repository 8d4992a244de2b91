// Package action holds the operations behind kubectl gitsync's commands, one
// file per operation: reading syncs (sync.go, status.go), run, rollback and
// pin (run.go, rollback.go, pin.go), suspend and resume, install, uninstall,
// diff and build, history, tree, trace, logs and check.
//
// Each operation takes a *Config (the cluster) and an options struct whose
// fields document their defaults, and returns a result value; none of them
// prints. Operations that wait (a run's Job, logs --follow) tell what they
// see through an optional Progress and copy a log to the io.Writer they are
// given. pkg/cli maps flags onto the options and prints the results, so a
// new command is a new file here and a thin one there.
//
// Rules that exist once elsewhere are called, never restated: what prune
// would delete is apply.Engine.Prune (dry-run for diff), a render is
// syncrun.Render, names come from pkg/names and the CronJob's arguments
// from pkg/jobargs.
package action
