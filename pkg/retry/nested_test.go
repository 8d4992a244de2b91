package retry

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// TestWrapTwice: a config wrapped twice (the plugin's, then a run's built
// on a copy of it) sends each request Attempts times, not Attempts²; the
// outer counter counts the retries.
func TestWrapTwice(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	cfg := &rest.Config{Host: srv.URL}
	inner := Wrap(cfg, Options{Attempts: 3, Backoff: time.Millisecond})
	cfg = rest.CopyConfig(cfg)
	outer := Wrap(cfg, Options{Attempts: 4, Backoff: time.Millisecond})
	client := kubernetes.NewForConfigOrDie(cfg)
	if _, err := client.CoreV1().ConfigMaps("default").Get(t.Context(), "x", metav1.GetOptions{}); err == nil {
		t.Fatal("want an error from a server answering 503")
	}
	if got := hits.Load(); got != 4 {
		t.Errorf("%d requests sent, want 4 (the outer transport's attempts)", got)
	}
	if outer.Retries() != 3 || inner.Retries() != 0 {
		t.Errorf("retries counted: outer %d (want 3), inner %d (want 0)", outer.Retries(), inner.Retries())
	}
}
