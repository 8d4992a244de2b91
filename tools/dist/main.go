// Command dist builds the release archives of kubectl-gitsync and its krew
// manifest. `make dist` runs it:
//
//	go run ./tools/dist -version v0.1.0 -ldflags '-s -w -X github.com/gitsync/gitsync/pkg/version.Version=v0.1.0 ...'
//
// For each of linux and darwin on amd64 and arm64, and windows on amd64, it
// cross-builds ./cmd/kubectl-gitsync (CGO_ENABLED=0, -trimpath; .exe on
// Windows), packs the binary, the completion shim kubectl_complete-gitsync
// (.cmd on Windows) and LICENSE into
// dist/kubectl-gitsync_<version>_<os>_<arch>.tar.gz, writes its
// SHA-256 next to it and into dist/checksums.txt, and writes dist/plugin.yaml:
// the checked-in plugin.yaml with spec.version, and each platform's uri and
// sha256, filled in. -update-manifest also rewrites the checked-in
// plugin.yaml.
//
// Archives are reproducible: entries sorted, fixed modes, owner 0:0 without
// names, every mtime SOURCE_DATE_EPOCH (or -mtime; default the Unix epoch),
// and a gzip header without name or time. The same sources and Go version
// give the same hashes.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	cfg := config{}
	flag.StringVar(&cfg.Version, "version", "", "release version, such as v0.1.0 (required)")
	flag.StringVar(&cfg.Commit, "commit", "", "commit stamped into the binary when -ldflags is not given (default git rev-parse --short=12 HEAD)")
	flag.StringVar(&cfg.LDFlags, "ldflags", "", "linker flags (default: -s -w and the version package's Version and Commit, as the Makefile's)")
	flag.StringVar(&cfg.Out, "out", "dist", "output directory")
	flag.StringVar(&cfg.Manifest, "manifest", "plugin.yaml", "krew manifest template")
	flag.StringVar(&cfg.License, "license", "LICENSE", "license file packed into every archive")
	flag.StringVar(&cfg.BaseURL, "base-url", "https://github.com/gitsync/gitsync/releases/download", "download URL prefix; an archive's uri is <base-url>/<version>/<archive>")
	flag.StringVar(&cfg.Package, "package", "./cmd/kubectl-gitsync", "main package to build")
	flag.StringVar(&cfg.Shims, "shims", "./cmd/kubectl-gitsync", "directory of the completion shims packed into every archive")
	flag.BoolVar(&cfg.UpdateManifest, "update-manifest", false, "also rewrite the checked-in manifest (-manifest) with the new version and hashes")
	mtime := flag.String("mtime", "", "Unix time of every archive entry (default $SOURCE_DATE_EPOCH, else 0)")
	flag.Parse()
	if cfg.Version == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "dist: -version is required, and there are no arguments")
		flag.Usage()
		os.Exit(2)
	}
	if *mtime == "" {
		*mtime = os.Getenv("SOURCE_DATE_EPOCH")
	}
	if *mtime != "" {
		sec, err := strconv.ParseInt(*mtime, 10, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "dist: -mtime/SOURCE_DATE_EPOCH %q: not a Unix time\n", *mtime)
			os.Exit(2)
		}
		cfg.MTime = time.Unix(sec, 0).UTC()
	} else {
		cfg.MTime = time.Unix(0, 0).UTC()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "dist:", err)
		stop()
		os.Exit(1)
	}
}
