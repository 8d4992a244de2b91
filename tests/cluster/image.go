package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/gitsync/gitsync/internal/ociimage"
)

// BuildImage compiles the main package pkg (relative to the repository
// root, such as "./cmd/sync-job") statically for linux/amd64, packs it into
// the same image `make image` builds (ociimage.BinaryImage: the binary as
// entrypoint, CA bundle, non-root user, /tmp) tagged tag, and imports it
// into the node's containerd. Node mode only. The sync-job image also holds
// sync-job-helm next to the entrypoint, as `make image` packs it.
func (c *Cluster) BuildImage(ctx context.Context, pkg, tag string) (err error) {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp(c.dir, "image-")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, os.RemoveAll(dir)) }()
	build := func(pkg string) ([]byte, error) {
		bin := filepath.Join(dir, filepath.Base(pkg))
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
		return os.ReadFile(bin)
	}
	name := filepath.Base(pkg)
	content, err := build(pkg)
	if err != nil {
		return err
	}
	opts, err := ociimage.BinaryImage(content, name, tag, "amd64", "")
	if err != nil {
		return err
	}
	if pkg == "./cmd/sync-job" {
		helper, err := build("./cmd/sync-job-helm")
		if err != nil {
			return err
		}
		opts.Files = append(opts.Files, ociimage.File{Path: "/sync-job-helm", Mode: 0o755, Content: helper})
	}
	tarball := filepath.Join(dir, name+".tar")
	if _, err := ociimage.WriteTarball(tarball, opts); err != nil {
		return err
	}
	return c.ImportImage(ctx, tarball)
}
