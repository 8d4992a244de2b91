package cli

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// emitTestEvent creates an Event on ConfigMap cm as syncrun emits them
// (source gitsync), or as another component when source differs.
func emitTestEvent(t *testing.T, ns, cm, source, typ, reason, msg string, at time.Time) {
	t.Helper()
	ts := metav1.NewTime(at)
	_, err := env.Client().CoreV1().Events(ns).Create(t.Context(), &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{GenerateName: cm + ".", Namespace: ns},
		InvolvedObject: corev1.ObjectReference{APIVersion: "v1", Kind: "ConfigMap", Namespace: ns, Name: cm},
		Reason:         reason, Message: msg, Type: typ, FirstTimestamp: ts, LastTimestamp: ts, Count: 1,
		Source: corev1.EventSource{Component: source},
	}, metav1.CreateOptions{})
	must(t, err)
}

// syncBuffer is a bytes.Buffer safe for a command writing while the test
// reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestEvents(t *testing.T) {
	ns := env.NewNamespace(t)
	now := goldenNow
	emitTestEvent(t, ns, "gitsync-web", "gitsync", "Warning", "SyncFailed", "revision main@sha1:1: kind: [unclosed", now.Add(-5*time.Minute))
	emitTestEvent(t, ns, "gitsync-web", "gitsync", "Normal", "Synced", "revision main@sha1:2: 3 objects (1 configured)", now.Add(-time.Minute))
	emitTestEvent(t, ns, "gitsync-api", "gitsync", "Normal", "Synced", "revision main@sha1:9: 1 objects", now.Add(-2*time.Minute))
	emitTestEvent(t, ns, "gitsync-web", "kubectl", "Normal", "Other", "not gitsync's", now)
	emitTestEvent(t, ns, "web", "gitsync", "Normal", "Other", "not a spec ConfigMap", now)
	kc := []string{"--kubeconfig", env.KubeconfigPath(), "-n", ns}

	out, _, err := gitsyncCLI(t.Context(), append([]string{"events", "web"}, kc...)...)
	must(t, err)
	want := "LAST SEEN   TYPE      REASON       OBJECT     MESSAGE\n" +
		"5m          Warning   SyncFailed   sync/web   revision main@sha1:1: kind: [unclosed\n" +
		"60s         Normal    Synced       sync/web   revision main@sha1:2: 3 objects (1 configured)\n"
	if out != want {
		t.Errorf("events web:\n%s\nwant:\n%s", out, want)
	}

	out, _, err = gitsyncCLI(t.Context(), append([]string{"events"}, kc...)...)
	must(t, err)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 4 || !strings.Contains(lines[2], "sync/api") {
		t.Errorf("events of the namespace, oldest first:\n%s", out)
	}
	out, _, err = gitsyncCLI(t.Context(), "events", "-A", "--kubeconfig", env.KubeconfigPath())
	must(t, err)
	if !strings.HasPrefix(out, "NAMESPACE ") || !strings.Contains(out, ns+"   ") {
		t.Errorf("events -A:\n%s", out)
	}
	out, _, err = gitsyncCLI(t.Context(), append([]string{"events", "web", "-o", "json"}, kc...)...)
	must(t, err)
	if !strings.Contains(out, `"reason": "SyncFailed"`) || strings.Count(out, `"sync": "web"`) != 2 {
		t.Errorf("events -o json:\n%s", out)
	}
	if _, _, err := gitsyncCLI(t.Context(), append([]string{"events", "web", "-A"}, kc...)...); err == nil {
		t.Error("NAME with -A was accepted")
	}

	// --watch prints what comes after the list.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var buf syncBuffer
	cmd := NewRootCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &buf, ErrOut: &buf})
	cmd.SetArgs(append([]string{"events", "api", "--watch"}, kc...))
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(withClock(ctx, func() time.Time { return goldenNow })) }()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(buf.String(), "main@sha1:9") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	emitTestEvent(t, ns, "gitsync-api", "gitsync", "Warning", "SyncFailed", "a new failure", now)
	emitTestEvent(t, ns, "gitsync-web", "gitsync", "Warning", "SyncFailed", "another sync's", now)
	for !strings.Contains(buf.String(), "a new failure") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("events --watch: %v", err)
	}
	if got := buf.String(); !strings.Contains(got, "a new failure") || strings.Contains(got, "another sync's") || strings.Count(got, "LAST SEEN") != 1 {
		t.Errorf("events --watch:\n%s", got)
	}
}
