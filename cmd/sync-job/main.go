// Command sync-job is the container of a gitsync CronJob: each run fetches a
// sync's source, renders it, applies it, prunes what was removed, records the
// result in ConfigMaps and exits. It runs in a Pod (in-cluster config) or
// outside with --kubeconfig. Exit codes are in docs/exit-codes.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/gitsync/gitsync/pkg/jobargs"
	"github.com/gitsync/gitsync/pkg/syncrun"
	"github.com/gitsync/gitsync/pkg/version"
)

// Exit codes, documented in docs/exit-codes.md.
const (
	exitOK          = 0 // the run succeeded, or there was nothing to do (suspended, another run in progress)
	exitFailed      = 1 // the run failed: fetch, render, apply, prune or health; recorded in the inventory
	exitUsage       = 2 // bad flags or arguments
	exitSpec        = 3 // the Sync spec is missing or invalid
	exitInterrupted = 4 // SIGTERM or SIGINT stopped the run; a Failed result was recorded
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	flags *genericclioptions.ConfigFlags
	// args are sync-job's own flags, the contract with the CronJob the
	// plugin writes (pkg/jobargs).
	args     jobargs.Args
	exitCode int
	logged   bool // the error is in the JSON log already
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o := &options{}
	root := newCommand(o, stdout, stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		if !o.logged {
			fmt.Fprintln(stderr, "sync-job:", err)
		}
		if o.exitCode != exitOK {
			return o.exitCode
		}
		return exitUsage
	}
	return o.exitCode
}

// newCommand returns sync-job's command, whose flags fill o: the
// kubeconfig flags and the pkg/jobargs contract.
func newCommand(o *options, stdout, stderr io.Writer) *cobra.Command {
	o.flags = genericclioptions.NewConfigFlags(false)
	root := &cobra.Command{
		Use:   "sync-job --sync NAME [-n NAMESPACE]",
		Short: "Run one pass of a gitsync sync: fetch, render, apply, prune, record",
		Long: `sync-job runs one pass of the sync NAME: it reads the spec from ConfigMap gitsync-NAME, resolves and
fetches the source, renders it with kustomize, server-side applies it, prunes what was removed, records the result
in ConfigMap gitsync-NAME-inventory and exits. In a Pod it uses the Pod's ServiceAccount and namespace.

Exit codes: 0 succeeded or nothing to do, 1 the run failed, 2 bad usage, 3 the spec is missing or invalid,
4 interrupted by a signal.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), stderr)
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	fs := root.Flags()
	o.flags.AddFlags(fs)
	o.args.AddFlags(fs)
	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(stdout, "sync-job", version.Get())
			return err
		},
	})
	return root
}

func (o *options) run(ctx context.Context, stderr io.Writer) error {
	if err := o.args.Validate(); err != nil {
		return err
	}
	logger, err := newLogger(stderr, o.args.LogFormat, o.args.LogLevel)
	if err != nil {
		return err
	}
	cfg, err := o.flags.ToRESTConfig()
	if err != nil {
		o.exitCode = exitFailed
		return fmt.Errorf("kubeconfig: %w", err)
	}
	ns, _, err := o.flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		o.exitCode = exitFailed
		return fmt.Errorf("namespace: %w", err)
	}
	var requests atomic.Int64
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			requests.Add(1)
			return rt.RoundTrip(req)
		})
	})
	cfg.UserAgent = "gitsync-sync-job/" + version.Version

	start := time.Now()
	logger.Info("run starting", "sync", ns+"/"+o.args.Sync, "version", version.Version)
	res, err := syncrun.Run(ctx, syncrun.Options{
		Name: o.args.Sync, Namespace: ns, Config: cfg, Logger: logger,
		Concurrency: o.args.Concurrency, Revision: o.args.Revision, WorkDir: o.args.WorkDir,
		NamespaceScoped: o.args.NamespaceScoped(),
	})
	if err != nil {
		var se *syncrun.SpecError
		switch {
		case errors.As(err, &se):
			o.exitCode = exitSpec
		case ctx.Err() != nil:
			o.exitCode = exitInterrupted
		default:
			o.exitCode = exitFailed
		}
		logger.Error("run could not start", "error", err.Error(), "requests", requests.Load(), "duration", time.Since(start).String())
		o.logged = true
		return err
	}
	attrs := []any{
		"result", string(res.Outcome), "revision", res.Revision, "objects", res.Objects,
		"rendered", res.Rendered, "drifted", len(res.Drifted), "units", len(res.Units), "requests", requests.Load(), "retries", res.Retries,
		"duration", res.End.Sub(res.Start).String(),
	}
	if len(res.Notify) > 0 {
		attrs = append(attrs, "notified", len(res.Notify))
	}
	attrs = append(attrs, memoryAttrs()...)
	switch res.Outcome {
	case syncrun.Failed:
		o.exitCode = exitFailed
		if ctx.Err() != nil {
			o.exitCode = exitInterrupted
		}
		logger.Error("run failed", append(attrs, "error", res.Err.Error())...)
		o.logged = true
		return res.Err
	default:
		logger.Info(res.Message, attrs...)
	}
	return nil
}

// memoryAttrs reports the process's peak resident memory and its current
// anonymous and file-backed parts, from /proc (Linux only): the figures
// that size the CronJob's memory request and limit.
func memoryAttrs() []any {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil
	}
	var out []any
	for _, line := range strings.Split(string(data), "\n") {
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch key {
		case "VmHWM", "RssAnon", "RssFile":
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(value), "%d", &kb); err != nil {
				continue // not a number of kB: leave the figure out
			}
			out = append(out, map[string]string{"VmHWM": "peakRSSKiB", "RssAnon": "anonRSSKiB", "RssFile": "fileRSSKiB"}[key], kb)
		}
	}
	return out
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	hopts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "json":
		return slog.New(slog.NewJSONHandler(w, hopts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, hopts)), nil
	}
	return nil, fmt.Errorf("--log-format: must be json or text, not %q", format)
}
