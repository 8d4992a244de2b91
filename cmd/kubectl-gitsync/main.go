// Command kubectl-gitsync is the kubectl plugin that installs and operates
// gitsync syncs. It only wires the command tree up and maps errors to exit
// codes; the commands live in pkg/cli.
package main

import (
	"fmt"
	"os"

	"github.com/gitsync/gitsync/pkg/version"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "version" {
		fmt.Println("kubectl-gitsync", version.Get())
		return
	}
	fmt.Fprintln(os.Stderr, "usage: kubectl gitsync version")
	os.Exit(2)
}
