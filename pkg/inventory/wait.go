package inventory

// ResultDependencyNotReady is the result of a run that applied nothing
// because a sync it depends on (spec.dependsOn) has not applied its latest
// revision, or is not healthy. It is neither a success nor a failure: the
// run did nothing, and the dependency's next success starts it again.
const ResultDependencyNotReady Result = "DependencyNotReady"

// Wait records run as a run that waited on its dependencies: it becomes
// the last run, with Result DependencyNotReady. The last applied and last
// attempted revisions stay as they were (nothing was attempted), and so
// does the count of consecutive failures: waiting neither fails nor
// recovers.
func (r *Record) Wait(run Run) {
	run.Result = ResultDependencyNotReady
	run.ConsecutiveFailures = r.LastRun.ConsecutiveFailures
	r.LastRun = run
}

// Waiting reports whether the last run waited on its dependencies.
func (r *Record) Waiting() bool { return r.LastRun.Result == ResultDependencyNotReady }
