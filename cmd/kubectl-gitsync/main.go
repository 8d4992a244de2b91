// Command kubectl-gitsync is the kubectl plugin that installs and operates
// gitsync syncs. It only wires the command tree up and maps errors to exit
// codes (docs/exit-codes.md); the commands live in pkg/cli.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	_ "k8s.io/client-go/plugin/pkg/client/auth" // exec, OIDC and cloud auth plugins for kubeconfigs

	"github.com/gitsync/gitsync/pkg/cli"
)

func main() {
	// Commands that wait (run, status --watch, logs --follow) stop cleanly on
	// Ctrl-C: they see the context end.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	cmd := cli.NewRootCommand(streams)
	if err := cmd.ExecuteContext(ctx); err != nil {
		code := cli.ExitCode(err)
		if code == cli.ExitFailed {
			// Not an error of the command: what it found (diff: changes; run:
			// a failed run; check: a missing requirement).
			fmt.Fprintln(os.Stderr, err)
		} else {
			fmt.Fprintln(os.Stderr, "error:", err)
		}
		stop()
		os.Exit(code)
	}
}
