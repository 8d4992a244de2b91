// Package jobargs is the contract between the CronJob the plugin writes and
// the sync-job binary it runs: sync-job's command line. Args is written into
// the CronJob's container by Argv and read back by Parse, and sync-job
// registers the same flags with AddFlags, so the plugin (install, rollback's
// pin, resume, the scope of a local run) and the job can never disagree on
// what an argument means. Nothing else builds or scans these arguments.
package jobargs

import (
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/pflag"
)

// The scopes sync-job runs in (--scope).
const (
	// ScopeCluster lets the run apply anything its ServiceAccount may.
	ScopeCluster = "cluster"
	// ScopeNamespace refuses, before applying anything, a render with
	// cluster-scoped objects or objects outside the sync's target namespace.
	ScopeNamespace = "namespace"
)

// The flags of Args, as sync-job takes them.
const (
	FlagSync        = "sync"
	FlagScope       = "scope"
	FlagWorkDir     = "work-dir"
	FlagRevision    = "revision"
	FlagLogFormat   = "log-format"
	FlagLogLevel    = "log-level"
	FlagConcurrency = "concurrency"
)

// Defaults sync-job uses for an argument that is not given.
const (
	DefaultScope     = ScopeCluster
	DefaultLogFormat = "json"
	DefaultLogLevel  = "info"
)

// Args are sync-job's own arguments. A zero field is left out of Argv, and
// sync-job then uses its default; the kubeconfig flags (--kubeconfig,
// --namespace ...) are not part of the contract: in a Pod, sync-job uses
// the Pod's ServiceAccount and namespace.
type Args struct {
	// Sync names the sync to run (--sync). Required.
	Sync string
	// Scope is ScopeCluster or ScopeNamespace (--scope). Default
	// DefaultScope.
	Scope string
	// WorkDir is the directory the source is fetched into (--work-dir).
	// Default: the system temp dir.
	WorkDir string
	// Revision pins the run to a recorded revision, [ref@]sha1:<commit>
	// (--revision); rollback sets it. Default: follow the spec's ref.
	Revision string
	// LogFormat is json or text (--log-format). Default DefaultLogFormat.
	LogFormat string
	// LogLevel is debug, info, warn or error (--log-level). Default
	// DefaultLogLevel.
	LogLevel string
	// Concurrency is the number of API requests in flight within an apply
	// stage (--concurrency). Default 0: the apply engine's default.
	Concurrency int
}

// AddFlags registers sync-job's flags on fs, bound to a's fields and with
// sync-job's defaults: what sync-job parses its command line with.
func (a *Args) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&a.Sync, FlagSync, "", "name of the sync to run (required)")
	fs.StringVar(&a.LogFormat, FlagLogFormat, DefaultLogFormat, "log format: json or text")
	fs.StringVar(&a.LogLevel, FlagLogLevel, DefaultLogLevel, "log level: debug, info, warn or error")
	fs.IntVar(&a.Concurrency, FlagConcurrency, 0, "API requests in flight within an apply stage (0: the default)")
	fs.StringVar(&a.Revision, FlagRevision, "", "apply this recorded revision ([ref@]sha1:<commit>) instead of following the spec's ref (rollback)")
	fs.StringVar(&a.WorkDir, FlagWorkDir, "", "directory for the fetched source (default: the system temp dir)")
	fs.StringVar(&a.Scope, FlagScope, DefaultScope, "cluster, or namespace: only namespaced objects in the sync's namespace and targetNamespace may be applied")
}

// Validate checks what sync-job cannot run without: a sync name and a
// known scope (empty means the default).
func (a Args) Validate() error {
	if a.Sync == "" {
		return errors.New("--sync is required")
	}
	if a.Scope != "" && a.Scope != ScopeCluster && a.Scope != ScopeNamespace {
		return fmt.Errorf("--scope: must be cluster or namespace, not %q", a.Scope)
	}
	return nil
}

// NamespaceScoped tells whether the run is limited to the sync's namespaces
// (Scope is ScopeNamespace).
func (a Args) NamespaceScoped() bool { return a.Scope == ScopeNamespace }

// Argv returns the command line for a, without the program name. The
// arguments install always writes come first as separate words (--sync NAME
// --scope MODE --work-dir DIR, as CronJobs have carried them since the first
// release); the optional ones follow as one word each (--revision=REV), so
// that a pin is one word of the CronJob. Zero fields are left out.
func (a Args) Argv() []string {
	var out []string
	for _, f := range []struct{ flag, value string }{{FlagSync, a.Sync}, {FlagScope, a.Scope}, {FlagWorkDir, a.WorkDir}} {
		if f.value != "" {
			out = append(out, "--"+f.flag, f.value)
		}
	}
	for _, f := range []struct{ flag, value string }{
		{FlagRevision, a.Revision}, {FlagLogFormat, a.LogFormat}, {FlagLogLevel, a.LogLevel},
	} {
		if f.value != "" {
			out = append(out, "--"+f.flag+"="+f.value)
		}
	}
	if a.Concurrency != 0 {
		out = append(out, "--"+FlagConcurrency+"="+strconv.Itoa(a.Concurrency))
	}
	return out
}

// Parse reads a command line written by Argv, or by hand in either flag form
// (--flag value, --flag=value), back into Args. Only the flags given are set;
// the others stay zero, so Parse(a.Argv()) == a. An argument that is not one
// of sync-job's own flags is an error: sync-job itself would refuse it (or,
// for the kubeconfig flags, read it in a way the plugin cannot follow).
func Parse(argv []string) (Args, error) {
	var all Args
	fs := pflag.NewFlagSet("sync-job", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	all.AddFlags(fs)
	if err := fs.Parse(argv); err != nil {
		return Args{}, fmt.Errorf("sync-job arguments %q: %w", argv, err)
	}
	if fs.NArg() > 0 {
		return Args{}, fmt.Errorf("sync-job arguments %q: unexpected %q: sync-job takes flags only", argv, fs.Arg(0))
	}
	var out Args
	fs.Visit(func(f *pflag.Flag) {
		switch f.Name {
		case FlagSync:
			out.Sync = all.Sync
		case FlagScope:
			out.Scope = all.Scope
		case FlagWorkDir:
			out.WorkDir = all.WorkDir
		case FlagRevision:
			out.Revision = all.Revision
		case FlagLogFormat:
			out.LogFormat = all.LogFormat
		case FlagLogLevel:
			out.LogLevel = all.LogLevel
		case FlagConcurrency:
			out.Concurrency = all.Concurrency
		}
	})
	return out, nil
}
