package source

import (
	"bytes"
	"context"
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
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Git providers: how a Git source authenticates, Flux's GitRepository
// spec.provider.
const (
	// GitProviderGeneric uses the credentials as they are (the default).
	GitProviderGeneric = "generic"
	// GitProviderGitHub authenticates as a GitHub App installation: the
	// Secret holds the App's ID, its installation and its private key;
	// each run exchanges them for an installation token, used over
	// HTTPS as Git's password.
	GitProviderGitHub = "github"
)

// GitHubApp is a GitHub App's credentials, read from a Secret's
// githubApp* keys (Flux's names).
type GitHubApp struct {
	// AppID is the App's numeric ID.
	AppID string
	// InstallationID is the numeric ID of the App's installation; when
	// empty, InstallationOwner names the account it is installed on.
	InstallationID    string
	InstallationOwner string
	// PrivateKey is the App's RSA private key (PEM, PKCS#1 or PKCS#8).
	PrivateKey []byte
	// BaseURL is the REST API: DefaultGitHubAPI, or GitHub Enterprise
	// Server's https://HOST/api/v3.
	BaseURL string
}

// DefaultGitHubAPI is GitHub's REST API.
const DefaultGitHubAPI = "https://api.github.com"

// githubAppUser is the user name Git takes an installation token with.
const githubAppUser = "x-access-token"

// appToken is an installation token and when it expires.
type appToken struct {
	token   string
	expires time.Time
}

// appTokens keeps the installation tokens of this process, so that a run's
// ls-remote, fetch and push ask GitHub once.
var appTokens = struct {
	sync.Mutex
	m map[[sha256.Size]byte]appToken
}{m: map[[sha256.Size]byte]appToken{}}

// withProvider returns opts with the credentials its provider gives: for
// GitProviderGitHub, the App's installation token as Username and
// Password. timeout bounds the exchange.
func withProvider(ctx context.Context, opts GitOptions, u remoteURL, timeout time.Duration) (Credentials, error) {
	switch opts.Provider {
	case "", GitProviderGeneric:
		return opts.Auth, nil
	case GitProviderGitHub:
	default:
		return Credentials{}, fmt.Errorf("%w: provider %q: must be %s or %s", ErrInvalidOptions, opts.Provider, GitProviderGeneric, GitProviderGitHub)
	}
	if u.kind != transportHTTPS {
		return Credentials{}, fmt.Errorf("%w: provider github authenticates over HTTPS only", ErrInvalidOptions)
	}
	token, err := opts.Auth.githubAppToken(ctx, timeout)
	if err != nil {
		return Credentials{}, fmt.Errorf("provider github: %w", err)
	}
	c := opts.Auth
	c.Username, c.Password, c.BearerToken = githubAppUser, token, ""
	c.GitHubApp = GitHubApp{}
	return c, nil
}

// githubAppToken returns an installation token of the App, from the cache
// while it has five minutes left, else from GitHub.
func (c Credentials) githubAppToken(ctx context.Context, timeout time.Duration) (string, error) {
	a := c.GitHubApp
	switch {
	case a.AppID == "" || len(a.PrivateKey) == 0:
		return "", fmt.Errorf("%w: the Secret needs githubAppID and githubAppPrivateKey (and githubAppInstallationID or githubAppInstallationOwner)", ErrInvalidOptions)
	case a.InstallationID == "" && a.InstallationOwner == "":
		return "", fmt.Errorf("%w: the Secret needs githubAppInstallationID or githubAppInstallationOwner", ErrInvalidOptions)
	}
	if _, err := strconv.ParseInt(a.AppID, 10, 64); err != nil {
		return "", fmt.Errorf("%w: githubAppID %q is not a number", ErrInvalidOptions, a.AppID)
	}
	if _, err := strconv.ParseInt(a.InstallationID, 10, 64); a.InstallationID != "" && err != nil {
		return "", fmt.Errorf("%w: githubAppInstallationID %q is not a number", ErrInvalidOptions, a.InstallationID)
	}
	key, err := parseRSAKey(a.PrivateKey)
	if err != nil {
		return "", fmt.Errorf("%w: githubAppPrivateKey: %w", ErrInvalidOptions, err)
	}
	base := strings.TrimSuffix(a.BaseURL, "/")
	if base == "" {
		base = DefaultGitHubAPI
	}
	if bu, err := url.Parse(base); err != nil || bu.Scheme != "https" || bu.Host == "" {
		return "", fmt.Errorf("%w: githubAppBaseURL %q: must be an https:// URL", ErrInvalidOptions, a.BaseURL)
	}
	cacheKey := sha256.Sum256([]byte(strings.Join([]string{a.AppID, a.InstallationID, a.InstallationOwner, base, string(a.PrivateKey)}, "\x00")))
	appTokens.Lock()
	t, ok := appTokens.m[cacheKey]
	appTokens.Unlock()
	if ok && time.Until(t.expires) > 5*time.Minute {
		return t.token, nil
	}

	tlsCfg, err := c.TLSConfig()
	if err != nil {
		return "", err
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	api := &githubAPI{base: base, appID: a.AppID, key: key,
		client: &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg, Proxy: http.ProxyFromEnvironment}}}
	id := a.InstallationID
	if id == "" {
		if id, err = api.installationOf(ctx, a.InstallationOwner); err != nil {
			return "", err
		}
	}
	t, err = api.installationToken(ctx, id)
	if err != nil {
		return "", err
	}
	appTokens.Lock()
	appTokens.m[cacheKey] = t
	appTokens.Unlock()
	return t.token, nil
}

// githubAPI asks GitHub's REST API as the App.
type githubAPI struct {
	base, appID string
	key         *rsa.PrivateKey
	client      *http.Client
}

// jwt returns the App's JSON Web Token (RS256), valid for 9 minutes and
// dated a minute back, as GitHub advises against clock drift.
func (g *githubAPI) jwt() (string, error) {
	now := time.Now()
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
	claims, err := json.Marshal(map[string]any{"iat": now.Add(-time.Minute).Unix(), "exp": now.Add(9 * time.Minute).Unix(), "iss": g.appID})
	if err != nil {
		return "", err
	}
	signed := header + "." + enc.EncodeToString(claims)
	digest := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, g.key, crypto.SHA256, digest[:])
	if err != nil {
		return "", err
	}
	return signed + "." + enc.EncodeToString(sig), nil
}

// call sends one request as the App and decodes the JSON answer into out
// when the status is want. Errors name the method, the URL and GitHub's
// message; never a token.
func (g *githubAPI) call(ctx context.Context, method, path string, want int, out any) error {
	jwt, err := g.jwt()
	if err != nil {
		return err
	}
	u := g.base + path
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+jwt)
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	resp, err := g.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is said once
		}
		return fmt.Errorf("GitHub App %s: %s %s: %w", g.appID, method, u, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("GitHub App %s: %s %s: %w", g.appID, method, u, err)
	}
	if resp.StatusCode != want {
		var e struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(body, &e)
		err := fmt.Errorf("GitHub App %s: %s %s: %s", g.appID, method, u, resp.Status)
		if e.Message != "" {
			err = fmt.Errorf("%w: %s", err, e.Message)
		}
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusNotFound {
			err = fmt.Errorf("%w: %w", ErrAuthentication, err)
		}
		return err
	}
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(out); err != nil {
		return fmt.Errorf("GitHub App %s: %s %s: the answer is not JSON: %w", g.appID, method, u, err)
	}
	return nil
}

// installationToken asks for a token of installation id.
func (g *githubAPI) installationToken(ctx context.Context, id string) (appToken, error) {
	var out struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := g.call(ctx, http.MethodPost, "/app/installations/"+id+"/access_tokens", http.StatusCreated, &out); err != nil {
		return appToken{}, err
	}
	if out.Token == "" {
		return appToken{}, fmt.Errorf("GitHub App %s: installation %s: the answer holds no token", g.appID, id)
	}
	return appToken{token: out.Token, expires: out.ExpiresAt}, nil
}

// installationOf returns the ID of the App's installation on the account
// owner (an organization or a user), from the App's installations.
func (g *githubAPI) installationOf(ctx context.Context, owner string) (string, error) {
	const perPage, maxPages = 100, 20
	for page := 1; page <= maxPages; page++ {
		var list []struct {
			ID      int64 `json:"id"`
			Account struct {
				Login string `json:"login"`
			} `json:"account"`
		}
		if err := g.call(ctx, http.MethodGet, fmt.Sprintf("/app/installations?per_page=%d&page=%d", perPage, page), http.StatusOK, &list); err != nil {
			return "", err
		}
		for _, in := range list {
			if strings.EqualFold(in.Account.Login, owner) {
				return strconv.FormatInt(in.ID, 10), nil
			}
		}
		if len(list) < perPage {
			break
		}
	}
	return "", fmt.Errorf("%w: GitHub App %s is not installed on %q (githubAppInstallationOwner)", ErrAuthentication, g.appID, owner)
}

// parseRSAKey reads an RSA private key in PEM, PKCS#1 or PKCS#8.
func parseRSAKey(data []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("not an RSA private key (PKCS#1 or PKCS#8)")
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an RSA key")
	}
	return rk, nil
}
