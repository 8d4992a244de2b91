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

	"github.com/spf13/pflag"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gitsync/gitsync/pkg/health"
	"github.com/gitsync/gitsync/pkg/health/celexec"
	"github.com/gitsync/gitsync/pkg/helm"
	"github.com/gitsync/gitsync/pkg/helm/helmexec"
	_ "github.com/gitsync/gitsync/pkg/hugeheap"
	"github.com/gitsync/gitsync/pkg/jobargs"
	"github.com/gitsync/gitsync/pkg/source/oci"
	"github.com/gitsync/gitsync/pkg/source/oci/sigcheck/sigexec"
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
	limit := containerMemoryLimit()
	tuneGC(limit)
	// A chart renders in a child process, sync-job-helm next to this
	// binary: sync-job does not link the Helm SDK (docs/helm.md). The
	// child is stopped at half the container's memory, so that a runaway
	// template fails the run with a message instead of the Pod being
	// OOM-killed.
	helm.UseRenderer(helmexec.Renderer{MaxMemory: limit / 2})
	// Sigstore bundles and keyless signatures are checked in the same
	// child, `sync-job-helm verify`: sync-job does not link sigstore-go.
	oci.UseChecker(sigexec.Checker{})
	// healthCheckExprs compile and evaluate there too (`sync-job-helm
	// cel`, one process for the run, started on the first expression):
	// sync-job does not link cel-go.
	health.UseEngine(celexec.New(""))
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	// loading and overrides are the kubeconfig flags (--kubeconfig,
	// --context, -n/--namespace, --server, --token, ...): client-go's own,
	// without the plugin's CLI packages. With neither, a Pod uses its
	// ServiceAccount and namespace.
	loading   *clientcmd.ClientConfigLoadingRules
	overrides *clientcmd.ConfigOverrides
	// args are sync-job's own flags, the contract with the CronJob the
	// plugin writes (pkg/jobargs).
	args     jobargs.Args
	exitCode int
	logged   bool // the error is in the JSON log already
}

// usage is sync-job's help text; the flags follow it.
const usage = `sync-job runs one pass of the sync NAME: it reads the spec from ConfigMap gitsync-NAME, resolves and
fetches the source, renders it with kustomize, server-side applies it, prunes what was removed, records the result
in ConfigMap gitsync-NAME-inventory and exits. In a Pod it uses the Pod's ServiceAccount and namespace.

Exit codes: 0 succeeded or nothing to do, 1 the run failed, 2 bad usage, 3 the spec is missing or invalid,
4 interrupted by a signal.

Usage:
  sync-job --sync NAME [-n NAMESPACE] [flags]
  sync-job version

Flags:
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o := &options{}
	fs := newFlags(o)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprint(stdout, usage+fs.FlagUsages())
			return exitOK
		}
		fmt.Fprintln(stderr, "sync-job:", err)
		return exitUsage
	}
	switch rest := fs.Args(); {
	case len(rest) == 1 && rest[0] == "version":
		fmt.Fprintln(stdout, "sync-job", version.Get())
		return exitOK
	case len(rest) > 0:
		fmt.Fprintf(stderr, "sync-job: unknown command %q: sync-job takes flags only (or \"version\")\n", strings.Join(rest, " "))
		return exitUsage
	}
	if err := o.run(ctx, stderr); err != nil {
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

// newFlags returns sync-job's flags, which fill o: the kubeconfig flags
// and the pkg/jobargs contract. A plain flag set, not a command tree: a
// run needs nothing else, and cobra and cli-runtime cost sync-job size and
// start-up (docs/benchmarks.md).
func newFlags(o *options) *pflag.FlagSet {
	fs := pflag.NewFlagSet("sync-job", pflag.ContinueOnError)
	fs.SetOutput(io.Discard) // run prints the error and the usage
	fs.SortFlags = false
	o.loading = clientcmd.NewDefaultClientConfigLoadingRules()
	o.overrides = &clientcmd.ConfigOverrides{}
	fs.StringVar(&o.loading.ExplicitPath, clientcmd.RecommendedConfigPathFlag, "", "Path to the kubeconfig file; in a Pod, leave it out to use the Pod's ServiceAccount.")
	clientcmd.BindOverrideFlags(o.overrides, fs, clientcmd.RecommendedConfigOverrideFlags(""))
	o.args.AddFlags(fs)
	return fs
}

func (o *options) run(ctx context.Context, stderr io.Writer) error {
	if err := o.args.Validate(); err != nil {
		return err
	}
	logger, err := newLogger(stderr, o.args.LogFormat, o.args.LogLevel)
	if err != nil {
		return err
	}
	kubeconfig := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(o.loading, o.overrides)
	cfg, err := kubeconfig.ClientConfig()
	if err != nil {
		o.exitCode = exitFailed
		return fmt.Errorf("kubeconfig: %w", err)
	}
	ns, _, err := kubeconfig.Namespace()
	if err != nil {
		o.exitCode = exitFailed
		return fmt.Errorf("namespace: %w", err)
	}
	// requests counts the run's API requests; writes those that are not
	// reads (GET: get, list, watch).
	var requests, writes atomic.Int64
	debug := logger.Enabled(ctx, slog.LevelDebug)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			requests.Add(1)
			if req.Method != http.MethodGet && req.Method != http.MethodHead {
				writes.Add(1)
			}
			if !debug {
				return rt.RoundTrip(req)
			}
			// At debug level each request is logged with its status and
			// latency, as kubectl's -v=6: the path only, never a body.
			sent := time.Now()
			resp, err := rt.RoundTrip(req)
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			logger.Debug("API request", "method", req.Method, "path", req.URL.Path, "query", req.URL.RawQuery, "status", status, "latency", time.Since(sent).String())
			return resp, err
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
		logger.Error("run could not start", "error", err.Error(), "requests", requests.Load(), "writes", writes.Load(), "duration", time.Since(start).String())
		o.logged = true
		return err
	}
	attrs := []any{
		"result", string(res.Outcome), "revision", res.Revision, "objects", res.Objects,
		"rendered", res.Rendered, "renderStored", res.RenderStored, "drifted", len(res.Drifted), "units", len(res.Units), "requests", requests.Load(), "writes", writes.Load(), "retries", res.Retries,
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
