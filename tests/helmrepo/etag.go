package helmrepo

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
)

// TagListETags wraps a registry's handler (RegistryOptions.Wrap) so that
// its tag lists carry an ETag, the SHA-256 of the body, and a GET whose
// If-None-Match names the current ETag is answered 304 Not Modified, as
// registries that support conditional requests do (the distribution
// registry sends no ETag there).
func TagListETags(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet || !strings.HasSuffix(req.URL.Path, "/tags/list") {
			next.ServeHTTP(w, req)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, req)
		res := rec.Result()
		for k, v := range res.Header {
			w.Header()[k] = v
		}
		if res.StatusCode != http.StatusOK {
			w.WriteHeader(res.StatusCode)
			_, _ = w.Write(rec.Body.Bytes())
			return
		}
		sum := sha256.Sum256(rec.Body.Bytes())
		etag := `"` + hex.EncodeToString(sum[:]) + `"`
		w.Header().Set("ETag", etag)
		if req.Header.Get("If-None-Match") == etag {
			w.Header().Del("Content-Type")
			w.Header().Del("Content-Length")
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(rec.Body.Bytes())
	})
}
