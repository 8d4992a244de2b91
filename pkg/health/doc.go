// Package health judges objects by CEL expressions instead of kstatus, as
// Flux's healthCheckExprs: for each apiVersion and kind, a `current`
// expression and optional `inProgress` and `failed` ones, evaluated on the
// live object with its top-level fields (apiVersion, kind, metadata, spec,
// status, data, ...) as variables.
//
// Expressions are compiled once: at decode and install time to refuse a
// wrong one with its field path (see Compile), and once per run for the
// wait, through a process-wide cache keyed by the expression's text.
package health
