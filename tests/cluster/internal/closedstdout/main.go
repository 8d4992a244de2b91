// Command closedstdout tears a test cluster down the way `make demo` does
// on Ctrl-C, for TestTeardownSurvivesClosedStdout: it starts a control-plane
// cluster, prints its directory, waits for SIGINT, then reports on standard
// output that it is stopping and stops the cluster. When standard output is
// a pipe whose reader is gone (`make demo | tee demo.log`, where Ctrl-C
// kills tee too), the report fails; the teardown must not.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/gitsync/gitsync/tests/cluster"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := cluster.Start(ctx, cluster.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "closedstdout:", err)
		os.Exit(1)
	}
	fmt.Println("dir", c.Dir())
	<-ctx.Done()
	fmt.Println("\n==> stopping the cluster")
	err = c.Stop()
	fmt.Println("stopped:", err)
	if err != nil {
		fmt.Fprintln(os.Stderr, "closedstdout: stop:", err)
		os.Exit(1)
	}
}
