// Command gen writes kustomize's default transformer configuration, as the
// kustomize/api version in go.mod defines it, to the file named by -o.
// pkg/render runs it with go generate.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/gitsync/gitsync/pkg/render/internal/kustdefaults"
)

func main() {
	out := flag.String("o", "", "file to write")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "kustdefaults:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	if out == "" {
		return fmt.Errorf("-o is required")
	}
	dir, err := kustdefaults.ModuleDir()
	if err != nil {
		return err
	}
	data, err := kustdefaults.Extract(dir)
	if err != nil {
		return err
	}
	return os.WriteFile(out, data, 0o644)
}
