// Command mkimage packs a static binary into a container image tarball
// without a Docker engine. `make image` runs it for sync-job:
//
//	go run ./tools/mkimage -binary bin/linux_amd64/sync-job -tag ghcr.io/gitsync/sync-job:v0.1.0 -o bin/sync-job-image.tar
//
// The image has the binary at /<name>, the host's CA bundle, a non-root user
// (65532, "nonroot") and a world-writable /tmp; its entrypoint is the binary.
// The same inputs give the same digest.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gitsync/gitsync/internal/ociimage"
)

func main() {
	binary := flag.String("binary", "", "static binary to pack (required)")
	tag := flag.String("tag", "", "image reference, such as ghcr.io/gitsync/sync-job:v0.1.0 (required)")
	out := flag.String("o", "", "output tarball (required)")
	caFile := flag.String("ca-bundle", ociimage.DefaultCABundle, "CA bundle to include at /etc/ssl/certs/ca-certificates.crt")
	arch := flag.String("arch", "amd64", "image architecture")
	var extra []string
	flag.Func("extra", "another static binary to put next to the entrypoint, at /<its file name> (repeatable; sync-job's is sync-job-helm, its Helm, Sigstore and CEL child)", func(s string) error {
		extra = append(extra, s)
		return nil
	})
	flag.Parse()
	if *binary == "" || *tag == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "mkimage: -binary, -tag and -o are required")
		flag.Usage()
		os.Exit(2)
	}
	digest, err := build(*binary, extra, *tag, *out, *caFile, *arch)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
	fmt.Printf("%s %s %s\n", *out, *tag, digest)
}

func build(binary string, extra []string, tag, out, caFile, arch string) (string, error) {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return "", err
	}
	opts, err := ociimage.BinaryImage(bin, filepath.Base(binary), tag, arch, caFile)
	if err != nil {
		return "", err
	}
	for _, e := range extra {
		content, err := os.ReadFile(e)
		if err != nil {
			return "", err
		}
		opts.Files = append(opts.Files, ociimage.File{Path: "/" + filepath.Base(e), Mode: 0o755, Content: content})
	}
	return ociimage.WriteTarball(out, opts)
}
