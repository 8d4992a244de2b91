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

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/gitsync/gitsync/internal/ociimage"
)

func main() {
	binary := flag.String("binary", "", "static binary to pack (required)")
	tag := flag.String("tag", "", "image reference, such as ghcr.io/gitsync/sync-job:v0.1.0 (required)")
	out := flag.String("o", "", "output tarball (required)")
	caFile := flag.String("ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "CA bundle to include at /etc/ssl/certs/ca-certificates.crt")
	arch := flag.String("arch", "amd64", "image architecture")
	flag.Parse()
	if *binary == "" || *tag == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "mkimage: -binary, -tag and -o are required")
		flag.Usage()
		os.Exit(2)
	}
	digest, err := build(*binary, *tag, *out, *caFile, *arch)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
	fmt.Printf("%s %s %s\n", *out, *tag, digest)
}

func build(binary, tag, out, caFile, arch string) (string, error) {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return "", err
	}
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return "", fmt.Errorf("%s: CA bundle: %w (install the ca-certificates package)", caFile, err)
	}
	name := "/" + filepath.Base(binary)
	return ociimage.WriteTarball(out, ociimage.Options{
		Files: []ociimage.File{
			{Path: name, Mode: 0o755, Content: bin},
			{Path: "/etc/ssl/certs/ca-certificates.crt", Content: ca},
			{Path: "/etc/passwd", Content: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
			{Path: "/etc/group", Content: []byte("root:x:0:\nnonroot:x:65532:\n")},
		},
		Dirs:       map[string]int64{"/tmp": 0o1777, "/home/nonroot": 0o755},
		Entrypoint: []string{name},
		User:       "65532:65532",
		Env:        []string{"HOME=/tmp"},
		RepoTag:    tag,
		Platform:   &v1.Platform{OS: "linux", Architecture: arch},
	})
}
