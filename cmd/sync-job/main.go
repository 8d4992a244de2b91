// Command sync-job is the container of a gitsync CronJob: each run fetches a
// sync's source, renders it, applies it, prunes what was removed, records the
// result in ConfigMaps and exits. See docs/exit-codes.md for its exit codes.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/gitsync/gitsync/pkg/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:]))
}

func run(ctx context.Context, args []string) int {
	_ = ctx
	if len(args) > 0 && args[0] == "version" {
		fmt.Println("sync-job", version.Get())
		return 0
	}
	fmt.Fprintln(os.Stderr, "sync-job: usage: sync-job version")
	return 2
}
