package cluster_test

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTeardownSurvivesClosedStdout: `make demo | tee demo.log`, then
// Ctrl-C. The terminal's SIGINT kills tee as well, so standard output is a
// pipe without a reader when the teardown starts. Go kills a program that
// writes there with SIGPIPE, which used to end the teardown at its first
// message and leave the cluster behind (in node mode: containerd shims,
// Pods, the bridge and mounts). The teardown must run to its end whatever
// becomes of standard output.
//
// The command under test (internal/closedstdout) does what the demo does,
// on a control-plane cluster: print, wait for SIGINT, print, Stop.
func TestTeardownSurvivesClosedStdout(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "closedstdout")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./internal/closedstdout")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	cmd := exec.Command(bin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	var dir string
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if d, ok := strings.CutPrefix(strings.TrimSpace(line), "dir "); ok && err == nil {
		dir = d
	} else {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("first line %q, %v; stderr:\n%s", line, err, stderr.String())
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })

	// tee is gone: nobody reads standard output any more. Then Ctrl-C.
	if err := stdout.Close(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(90 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("teardown still running after 90s; stderr:\n%s", stderr.String())
	}

	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			t.Errorf("the teardown was killed by %v; stderr:\n%s", ws.Signal(), stderr.String())
		} else {
			t.Errorf("the teardown failed: %v; stderr:\n%s", err, stderr.String())
		}
	} else if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the cluster's directory %s is left behind (%v)", dir, err)
	}
	if left := processesMentioning(dir); len(left) > 0 {
		t.Errorf("processes of the cluster left running: %v", left)
	}
}

// processesMentioning returns the command lines of live processes whose
// arguments contain s.
func processesMentioning(s string) []string {
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte(s)) {
			continue
		}
		out = append(out, e.Name()+": "+strings.ReplaceAll(string(cmdline), "\x00", " "))
	}
	return out
}
