package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/jobargs"
)

// The plugin writes the CronJob's arguments with jobargs.Args.Argv; what
// sync-job's own command line makes of them must be what was written, with
// sync-job's defaults for what was left out.
func TestJobArgsRoundTrip(t *testing.T) {
	withDefaults := func(a jobargs.Args) jobargs.Args {
		if a.Scope == "" {
			a.Scope = jobargs.DefaultScope
		}
		if a.LogFormat == "" {
			a.LogFormat = jobargs.DefaultLogFormat
		}
		if a.LogLevel == "" {
			a.LogLevel = jobargs.DefaultLogLevel
		}
		return a
	}
	rev := "main@sha1:" + strings.Repeat("a", 40)
	for _, a := range []jobargs.Args{
		install.JobArgs("web", install.RBACNamespace),
		install.JobArgs("web", install.RBACCluster),
		func() jobargs.Args { a := install.JobArgs("web", install.RBACNamespace); a.Revision = rev; return a }(),
		{Sync: "api", LogFormat: "text", LogLevel: "debug", Concurrency: 7, WorkDir: "/work"},
	} {
		argv := a.Argv()
		t.Run(strings.Join(argv, " "), func(t *testing.T) {
			o := &options{}
			if err := newFlags(o).Parse(argv); err != nil {
				t.Fatalf("sync-job refuses %q: %v", argv, err)
			}
			if diff := cmp.Diff(withDefaults(a), o.args); diff != "" {
				t.Errorf("sync-job read %q as (-written +read):\n%s", argv, diff)
			}
			if err := o.args.Validate(); err != nil {
				t.Errorf("sync-job would not run %q: %v", argv, err)
			}
			// And the plugin reads back what it wrote.
			back, err := jobargs.Parse(argv)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(a, back); diff != "" {
				t.Errorf("jobargs.Parse(%q) (-written +read):\n%s", argv, diff)
			}
		})
	}
}
