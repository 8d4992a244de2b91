package sigstoretest

import (
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// TrustedRootTarget is the TUF target Sigstore publishes its trusted root
// as.
const TrustedRootTarget = "trusted_root.json"

// TUFRepository is a TUF repository served over HTTP whose one target is
// a trusted_root.json, as Sigstore's public-good instance publishes its
// trusted root: root, targets, snapshot and timestamp metadata, each
// signed by its own Ed25519 key, with consistent snapshots (versioned
// metadata, targets under their hash).
type TUFRepository struct {
	// URL is the repository's base URL.
	URL string
	// RootPath is a file holding its root.json, the trust a client
	// starts from.
	RootPath string

	mu     sync.Mutex
	served map[string]int
}

// ServeTUF serves a TUF repository whose target trusted_root.json is
// trustedRoot, until the test ends.
func ServeTUF(t testing.TB, trustedRoot []byte) *TUFRepository {
	t.Helper()
	now := time.Now().UTC()
	root := metadata.Root(now.AddDate(1, 0, 0))
	targets := metadata.Targets(now.AddDate(0, 0, 7))
	snapshot := metadata.Snapshot(now.AddDate(0, 0, 7))
	timestamp := metadata.Timestamp(now.AddDate(0, 0, 1))
	tf, err := metadata.TargetFile().FromBytes(TrustedRootTarget, trustedRoot, "sha256")
	if err != nil {
		t.Fatal(err)
	}
	targets.Signed.Targets[TrustedRootTarget] = tf

	signers := map[string]signature.Signer{}
	for _, role := range []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP} {
		pub, priv, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		key, err := metadata.KeyFromPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		if err := root.Signed.AddKey(key, role); err != nil {
			t.Fatal(err)
		}
		if signers[role], err = signature.LoadSigner(priv, crypto.Hash(0)); err != nil {
			t.Fatal(err)
		}
	}
	sign := func(role string, md interface {
		Sign(signature.Signer) (*metadata.Signature, error)
		ToBytes(bool) ([]byte, error)
	}) []byte {
		if _, err := md.Sign(signers[role]); err != nil {
			t.Fatalf("signing %s: %v", role, err)
		}
		b, err := md.ToBytes(false)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	sum := sha256.Sum256(trustedRoot)
	files := map[string][]byte{
		"/1.root.json":     sign(metadata.ROOT, root),
		"/1.targets.json":  sign(metadata.TARGETS, targets),
		"/1.snapshot.json": sign(metadata.SNAPSHOT, snapshot),
		"/timestamp.json":  sign(metadata.TIMESTAMP, timestamp),
		"/targets/" + hex.EncodeToString(sum[:]) + "." + TrustedRootTarget: trustedRoot,
	}

	r := &TUFRepository{served: map[string]int{}}
	r.RootPath = filepath.Join(t.TempDir(), "root.json")
	if err := os.WriteFile(r.RootPath, files["/1.root.json"], 0o600); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, ok := files[req.URL.Path]
		if !ok {
			// 2.root.json among them: there is no newer root.
			http.NotFound(w, req)
			return
		}
		r.mu.Lock()
		r.served[req.URL.Path]++
		r.mu.Unlock()
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

// TrustedRootServed returns how many times the trusted root target was
// served.
func (r *TUFRepository) TrustedRootServed() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for p, c := range r.served {
		if strings.HasPrefix(p, "/targets/") {
			n += c
		}
	}
	return n
}
