package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/spec"
	"github.com/gitsync/gitsync/tests/cluster"
	"github.com/gitsync/gitsync/tests/gitserver"
)

var env *cluster.Cluster

func TestMain(m *testing.M) { os.Exit(cluster.Run(m, cluster.Options{}, &env)) }

func TestExitCodes(t *testing.T) {
	ctx := t.Context()
	git := gitserver.StartTest(t, gitserver.Options{})
	repo, err := git.CreateRepo(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Commit(ctx, "init", map[string]string{
		"good/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
		"bad/a.yaml":  "apiVersion: v1\nmetadata:\n  name: a\n",
	}); err != nil {
		t.Fatal(err)
	}
	ns := env.NewNamespace(t)
	install := func(name, path string) {
		doc := "apiVersion: gitsync.io/v1alpha1\nkind: Sync\nmetadata:\n  name: " + name + "\nspec:\n  source:\n    git:\n      url: " +
			git.HTTPURL("app") + "\n      insecure: true\n      ref: {branch: main}\n  path: " + path + "\n"
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: spec.ConfigMapName(name), Namespace: ns}, Data: map[string]string{spec.ConfigMapKey: doc}}
		if _, err := env.Client().CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	install("good", "./good")
	install("bad", "./bad")
	invalid := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: spec.ConfigMapName("invalid"), Namespace: ns},
		Data: map[string]string{spec.ConfigMapKey: "apiVersion: gitsync.io/v1alpha1\nkind: Sync\nmetadata: {name: invalid}\nspec: {}\n"}}
	if _, err := env.Client().CoreV1().ConfigMaps(ns).Create(ctx, invalid, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	kc := []string{"--kubeconfig", env.KubeconfigPath(), "-n", ns}
	tests := []struct {
		name       string
		args       []string
		want       int
		wantStderr string
		wantResult string
	}{
		{"success", append([]string{"--sync", "good"}, kc...), exitOK, "", "Succeeded"},
		{"nothing changed", append([]string{"--sync", "good"}, kc...), exitOK, "", "Succeeded"},
		{"render fails", append([]string{"--sync", "bad"}, kc...), exitFailed, "a.yaml", "Failed"},
		{"no such sync", append([]string{"--sync", "missing"}, kc...), exitSpec, "no such sync", ""},
		{"invalid spec", append([]string{"--sync", "invalid"}, kc...), exitSpec, "spec.source", ""},
		{"no --sync", kc, exitUsage, "--sync is required", ""},
		{"bad --log-format", append([]string{"--sync", "good", "--log-format", "xml"}, kc...), exitUsage, "--log-format", ""},
		{"bad --scope", append([]string{"--sync", "good", "--scope", "world"}, kc...), exitUsage, "--scope", ""},
		{"unknown flag", []string{"--frobnicate"}, exitUsage, "unknown flag", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			got := run(ctx, tt.args, &stdout, &stderr)
			if got != tt.want {
				t.Fatalf("exit %d, want %d\n%s", got, tt.want, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr does not contain %q:\n%s", tt.wantStderr, stderr.String())
			}
			if tt.wantResult == "" {
				return
			}
			// The log is JSON lines; the last one carries the result.
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			var last map[string]any
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
				t.Fatalf("last log line is not JSON: %v\n%s", err, lines[len(lines)-1])
			}
			if last["result"] != tt.wantResult || last["sync"] == nil && last["result"] == nil {
				t.Errorf("last log line %v, want result %s", last, tt.wantResult)
			}
			if _, ok := last["requests"]; !ok {
				t.Errorf("last log line has no request count: %v", last)
			}
			if _, ok := last["writes"]; !ok {
				t.Errorf("last log line has no write count: %v", last)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if got := run(t.Context(), []string{"version"}, &stdout, &stderr); got != exitOK {
		t.Fatalf("exit %d: %s", got, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "sync-job v") {
		t.Errorf("version output %q", stdout.String())
	}
}

// TestSIGTERM runs the real binary and sends SIGTERM while it applies, as
// the kubelet does when a Job's deadline passes: it must stop within a few
// seconds, exit 4, and leave a Failed record.
func TestSIGTERM(t *testing.T) {
	ctx := t.Context()
	bin := filepath.Join(t.TempDir(), "sync-job")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	git := gitserver.StartTest(t, gitserver.Options{})
	repo, err := git.CreateRepo(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for i := range 2000 {
		files[fmt.Sprintf("deploy/cm-%04d.yaml", i)] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%04d\n", i)
	}
	if _, err := repo.Commit(ctx, "many", files); err != nil {
		t.Fatal(err)
	}
	ns := env.NewNamespace(t)
	doc := "apiVersion: gitsync.io/v1alpha1\nkind: Sync\nmetadata:\n  name: big\nspec:\n  source:\n    git:\n      url: " +
		git.HTTPURL("big") + "\n      insecure: true\n      ref: {branch: main}\n  path: ./deploy\n"
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: spec.ConfigMapName("big"), Namespace: ns}, Data: map[string]string{spec.ConfigMapKey: doc}}
	if _, err := env.Client().CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	cmd := exec.CommandContext(ctx, bin, "--sync", "big", "-n", ns, "--kubeconfig", env.KubeconfigPath(), "--concurrency", "2")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), `"msg":"rendered"`) {
			break // the apply starts now
		}
	}
	time.Sleep(200 * time.Millisecond)
	signalled := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
	}
	err = cmd.Wait()
	took := time.Since(signalled)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitInterrupted {
		t.Fatalf("exit: %v, want code %d\n%s", err, exitInterrupted, log.String())
	}
	if took > 5*time.Second {
		t.Errorf("stopped %s after SIGTERM", took)
	}
	st := &inventory.Store{Client: env.Client(), Namespace: ns, Sync: "big"}
	inv, err := st.Load(ctx)
	if err != nil || inv.Record.LastRun.Result != inventory.ResultFailed {
		t.Errorf("record after SIGTERM: %+v, %v\n%s", inv.Record.LastRun, err, log.String())
	}
}
