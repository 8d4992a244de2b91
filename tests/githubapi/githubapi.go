// Package githubapi is a GitHub REST API for GitHub Apps, as far as Git
// authentication uses it, for tests of the Git provider github: it checks
// the App's JSON Web Token against the App's public key and issues
// installation tokens, over TLS.
package githubapi

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Server is the API of one App, with installation 42 on the account
// Fleet-Org (and 7 on another). It checks the App's JSON Web Token (RS256,
// iss, iat, exp) and issues Token for installation 42.
type Server struct {
	*httptest.Server
	appID string
	key   *rsa.PublicKey
	token string
	// Tokens counts the token requests answered, Lists the installation
	// listings.
	Tokens, Lists atomic.Int32
}

// Start starts the API of App appID, whose public key is key; it issues
// token. It is closed when the test ends.
func Start(t *testing.T, appID string, key *rsa.PublicKey, token string) *Server {
	t.Helper()
	g := &Server{appID: appID, key: key, token: token}
	g.Server = httptest.NewTLSServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.Close)
	return g
}

func (g *Server) serve(w http.ResponseWriter, r *http.Request) {
	fail := func(code int, msg string) {
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
	}
	if err := g.checkJWT(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")); err != nil {
		fail(http.StatusUnauthorized, "A JSON web token could not be decoded: "+err.Error())
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/app/installations/42/access_tokens":
		g.Tokens.Add(1)
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"token": g.token, "expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
	case r.Method == http.MethodGet && r.URL.Path == "/app/installations":
		g.Lists.Add(1)
		_ = json.NewEncoder(w).Encode([]map[string]any{
			{"id": 7, "account": map[string]string{"login": "someone-else"}},
			{"id": 42, "account": map[string]string{"login": "Fleet-Org"}},
		})
	default:
		fail(http.StatusNotFound, "Not Found")
	}
}

func (g *Server) checkJWT(tok string) error {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return errors.New("not a JWT")
	}
	enc := base64.RawURLEncoding
	var header struct{ Alg string }
	var claims struct {
		Iss      string
		Iat, Exp int64
	}
	h, err1 := enc.DecodeString(parts[0])
	c, err2 := enc.DecodeString(parts[1])
	sig, err3 := enc.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3, json.Unmarshal(h, &header), json.Unmarshal(c, &claims)); err != nil {
		return err
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	now := time.Now().Unix()
	switch {
	case header.Alg != "RS256":
		return fmt.Errorf("alg %s", header.Alg)
	case rsa.VerifyPKCS1v15(g.key, crypto.SHA256, digest[:], sig) != nil:
		return errors.New("signature does not match the App's key")
	case claims.Iss != g.appID:
		return fmt.Errorf("iss %q", claims.Iss)
	case claims.Iat > now || claims.Exp <= now || claims.Exp-claims.Iat > 600:
		return fmt.Errorf("iat %d exp %d now %d", claims.Iat, claims.Exp, now)
	}
	return nil
}

// NewKey returns a new App key and its PEM (PKCS#1), as GitHub hands it out.
func NewKey(t *testing.T) (*rsa.PrivateKey, []byte) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

// CAPEM is the PEM of the certificate the API serves with.
func (g *Server) CAPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: g.Certificate().Raw})
}
