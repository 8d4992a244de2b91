package cluster

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"
)

// Run is the body of a TestMain: it starts a cluster with opts, prints how
// long that took to stderr, stores the cluster in *out, runs the tests, stops
// the cluster and returns the exit code for os.Exit. The cluster is also
// stopped when the tests panic (the panic then continues) and on SIGINT or
// SIGTERM (the process then exits with 128+signal). A cluster that fails to
// start fails the run with exit code 1; it is never skipped.
func Run(m *testing.M, opts Options, out **Cluster) int {
	if dir := os.Getenv(reaperEnv); dir != "" {
		return reap(dir)
	}
	if fuzzOnly() {
		// make fuzz: fuzz targets need no cluster, and each fuzz worker
		// process would start one of its own.
		return m.Run()
	}
	opts.withReaper = true
	mode := "control plane"
	if opts.Node {
		mode = "node"
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan struct{})
	var c *Cluster
	go func() {
		select {
		case sig := <-sigs:
			cancel() // abandons a Start in progress, which then cleans up
			select {
			case <-started:
				if c != nil {
					if err := c.Stop(); err != nil {
						fmt.Fprintf(os.Stderr, "test cluster: stop: %v\n", err)
					}
				}
			case <-time.After(30 * time.Second):
			}
			code := 128
			if s, ok := sig.(syscall.Signal); ok {
				code += int(s)
			}
			os.Exit(code)
		case <-ctx.Done():
		}
	}()

	var err error
	c, err = Start(ctx, opts)
	close(started)
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "test cluster (%s) ready in %.1fs\n", mode, c.StartupTime().Seconds())
	*out = c

	code := runTests(m, c)
	if err := c.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: test cluster: stop: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// runTests runs m, stopping c before a panic propagates.
func runTests(m *testing.M, c *Cluster) int {
	defer func() {
		if r := recover(); r != nil {
			_ = c.Stop()
			panic(r)
		}
	}()
	return m.Run()
}

// fuzzOnly reports whether this process only fuzzes: a fuzz worker, or a
// run with -fuzz and -run '^$' (no test, only the fuzz target).
func fuzzOnly() bool {
	if !flag.Parsed() {
		flag.Parse()
	}
	get := func(name string) string {
		if f := flag.Lookup(name); f != nil {
			return f.Value.String()
		}
		return ""
	}
	return get("test.fuzzworker") == "true" || (get("test.fuzz") != "" && get("test.run") == "^$")
}
