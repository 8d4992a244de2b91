package cluster

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// A node-mode cluster changes the machine (bridge, iptables, cgroups, mounts).
// If the test binary dies without Stop (a `go test -timeout` panic, a panic in
// a test goroutine, SIGKILL), Pdeathsig kills the components, but nothing would
// undo those changes until the next node-mode Start. So Run starts a reaper:
// the test binary itself, re-executed with reaperEnv set, whose stdin is a
// pipe from the test process. Stop writes "stop" and closes it; a bare EOF
// means the test process died, and the reaper cleans up after it.

// reaperEnv carries the cluster directory to the reaper process.
const reaperEnv = "GITSYNC_CLUSTER_REAPER"

// reaper is the running reaper of a node-mode cluster.
type reaper struct {
	cmd  *exec.Cmd
	pipe *os.File
}

func (c *Cluster) startReaper() error {
	if !c.opts.withReaper {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("reaper: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("reaper: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), reaperEnv+"="+c.dir)
	cmd.Stdin = r
	// No stdout/stderr: go test waits for every holder of its pipes, and the
	// reaper must outlive the test process. Its own process group keeps a
	// terminal's Ctrl-C from killing it along with the tests.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return fmt.Errorf("reaper: %w", err)
	}
	r.Close()
	c.node.reaper = &reaper{cmd: cmd, pipe: w}
	return nil
}

// dismiss tells the reaper that the cluster was stopped properly.
func (r *reaper) dismiss() error {
	_, _ = io.WriteString(r.pipe, "stop\n")
	r.pipe.Close()
	done := make(chan error, 1)
	go func() { done <- r.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("reaper: %w", err)
		}
		return nil
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		return fmt.Errorf("reaper (pid %d): did not exit", r.cmd.Process.Pid)
	}
}

// reap is the reaper's main: it waits for its stdin to close and, unless told
// "stop", undoes what the node-mode cluster in dir changed.
func reap(dir string) int {
	b, _ := io.ReadAll(os.Stdin)
	if strings.TrimSpace(string(b)) == "stop" {
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	lock, err := acquireNodeLock(ctx, filepath.Join(filepath.Dir(dir), nodeLockFile), nil)
	if err != nil {
		return 1
	}
	defer releaseLock(lock)
	// A later Start may have swept the directory already.
	st, err := readNodeState(dir)
	if err != nil {
		return 0
	}
	cleanNodeState(dir, st)
	_ = os.RemoveAll(dir)
	return 0
}
