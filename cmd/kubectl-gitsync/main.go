// Command kubectl-gitsync is the kubectl plugin that installs and operates
// gitsync syncs. It only wires the command tree up and maps errors to exit
// codes (docs/exit-codes.md); the commands live in pkg/cli.
package main

import (
	"fmt"
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	_ "k8s.io/client-go/plugin/pkg/client/auth" // exec, OIDC and cloud auth plugins for kubeconfigs

	"github.com/gitsync/gitsync/pkg/cli"
)

func main() {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	cmd := cli.NewRootCommand(streams)
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(cli.ExitCode(err))
	}
}
