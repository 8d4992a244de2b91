package redact

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

func TestSecretsText(t *testing.T) {
	var s Secrets
	s.Add("hunter2-secret", "short", "  padded-value \n")
	s.AddData(map[string][]byte{
		"values.yaml": []byte("db:\n  password: Yaml-Pa55word\n  port: 5432\napiTokens: [\"in-a-list-value\"]\nservice: {type: ClusterIP}\n"),
		"tls.key":     []byte("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n"),
		"quoted":      []byte("a\"quote\"d-value"),
	})
	tests := []struct{ in, want string }{
		{`Invalid value: "hunter2-secret": a lowercase RFC 1123 label`, `Invalid value: "xxxxx": a lowercase RFC 1123 label`},
		{"data: " + base64.StdEncoding.EncodeToString([]byte("hunter2-secret")), "data: xxxxx"},
		{"short stays", "short stays"},
		{"padded-value here", "xxxxx here"},
		{`spec.password: Invalid value: "Yaml-Pa55word"`, `spec.password: Invalid value: "xxxxx"`},
		{"in-a-list-value", "xxxxx"},
		{"line MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7 of a key", "line xxxxx of a key"},
		{fmt.Sprintf("%q", `a"quote"d-value`), `"xxxxx"`},
		{"5432 is no secret", "5432 is no secret"},
		{"type ClusterIP is a name", "type ClusterIP is a name"},
	}
	for _, tc := range tests {
		if got := s.Text(tc.in); got != tc.want {
			t.Errorf("Text(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	err := fmt.Errorf("apply: %w", fmt.Errorf("value hunter2-secret: %w", fs.ErrInvalid))
	masked := s.Error(err)
	if strings.Contains(masked.Error(), "hunter2") || !errors.Is(masked, fs.ErrInvalid) {
		t.Errorf("Error: %v", masked)
	}
	var empty *Secrets
	if got := empty.Text("hunter2-secret"); got != "hunter2-secret" {
		t.Errorf("nil set changed text: %q", got)
	}
}

func TestSecretsHandler(t *testing.T) {
	var s Secrets
	var buf bytes.Buffer
	log := slog.New(s.Handler(slog.NewJSONHandler(&buf, nil))).With("early", "token-value-1")
	s.Add("token-value-1", "token-value-2")
	log.Info("applying token-value-2", "error", errors.New("bad token-value-2"), "list", []string{"token-value-1"},
		slog.Group("g", "x", "token-value-2"), "n", 3)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Add(fmt.Sprintf("concurrent-%d", i))
			_ = s.Text("concurrent-1")
		}()
	}
	wg.Wait()
	out := buf.String()
	if strings.Contains(out, "token-value") {
		t.Errorf("log leaks: %s", out)
	}
	if !strings.Contains(out, `"n":3`) {
		t.Errorf("log lost an attribute: %s", out)
	}
}
