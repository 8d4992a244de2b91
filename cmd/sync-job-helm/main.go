// Command sync-job-helm renders a Helm chart for sync-job, in a process of
// its own: it reads one request (JSON) on stdin, runs the Helm SDK's chart
// loader, values and template engine over a chart already on disk, writes
// one response (JSON) on stdout and exits. With the argument "verify" it
// checks one Sigstore signature (a cosign v3 bundle or a keyless cosign
// v2 signature) with sigstore-go instead, the same way
// (pkg/source/oci/sigcheck/sigexec); with "cel" it compiles and evaluates
// health check expressions with cel-go, one JSON request a line, until its
// stdin ends (pkg/health/celexec): sync-job links none of these libraries. sync-job starts it only for runs
// that render a chart, from the directory sync-job itself is in (or
// $GITSYNC_HELM_RENDERER); see pkg/helm/helmexec and docs/helm.md. It uses
// no network and no cluster.
//
// Exit codes: 0 the response was written (also for a chart that does not
// render: the response says why), 1 the request could not be read or the
// response written, 2 bad usage.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/gitsync/gitsync/pkg/health/celeval"
	"github.com/gitsync/gitsync/pkg/health/celexec"
	"github.com/gitsync/gitsync/pkg/helm/helmexec"
	"github.com/gitsync/gitsync/pkg/helm/sdk"
	sigsdk "github.com/gitsync/gitsync/pkg/source/oci/sigcheck/sdk"
	"github.com/gitsync/gitsync/pkg/source/oci/sigcheck/sigexec"
	"github.com/gitsync/gitsync/pkg/version"
)

// gcPercent is the child's GOGC when the environment sets none: as
// sync-job's (cmd/sync-job/gc.go), a render's live heap is its output,
// held to the end.
const gcPercent = 50

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 1 && args[0] == "version":
		fmt.Fprintln(stdout, helmexec.Program, version.Get())
		return 0
	case len(args) == 1 && args[0] == celexec.Arg:
		if err := celexec.Serve(ctx, stdin, stdout, celeval.Engine{}); err != nil {
			fmt.Fprintf(stderr, "%s %s: %v\n", helmexec.Program, celexec.Arg, err)
			return 1
		}
		return 0
	case len(args) == 1 && args[0] == sigexec.Arg:
		if err := sigexec.Serve(ctx, stdin, stdout, sigsdk.Checker{}); err != nil {
			fmt.Fprintf(stderr, "%s %s: %v\n", helmexec.Program, sigexec.Arg, err)
			return 1
		}
		return 0
	case len(args) > 0:
		fmt.Fprintf(stderr, "usage: %s [version | %s | %s]\n  reads a render request (JSON) on stdin and writes the response on stdout; with %q a signature check request, with %q CEL requests, one a line; sync-job runs it\n", helmexec.Program, sigexec.Arg, celexec.Arg, sigexec.Arg, celexec.Arg)
		return 2
	}
	if err := helmexec.Serve(ctx, stdin, stdout, sdk.Renderer{}); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", helmexec.Program, err)
		return 1
	}
	return 0
}
