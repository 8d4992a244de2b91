package source_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/tests/githubapi"
	"github.com/gitsync/gitsync/tests/gitserver"
)

// TestGitHubAppProvider: with provider github, a Git source authenticates
// as a GitHub App installation: it exchanges the App's key for an
// installation token (once per process while it is valid), by installation
// ID or by the account it is installed on, and fetches over HTTPS with it.
// A wrong key, a missing key or an SSH URL fail clearly, and no token or
// key reaches an error.
func TestGitHubAppProvider(t *testing.T) {
	const token = "ghs_installation_token_0123456789"
	srv := startServer(t, gitserver.Options{Username: "x-access-token", Password: token})
	repo := createRepo(t, srv, "fleet")
	want := commit(t, repo, "first", map[string]string{"app.yaml": "kind: ConfigMap\n"})
	key, keyPEM := githubapi.NewKey(t)
	caPEM := func(api *githubapi.Server) []byte {
		return append(srv.CACert(), api.CAPEM()...)
	}
	opts := func(api *githubapi.Server, app source.GitHubApp) source.GitOptions {
		app.BaseURL, app.PrivateKey = api.URL, keyPEM
		return source.GitOptions{URL: srv.HTTPSURL("fleet"), Ref: source.GitRef{Branch: "main"}, Provider: source.GitProviderGitHub,
			Auth: source.Credentials{CAPEM: caPEM(api), GitHubApp: app}}
	}

	t.Run("installation ID", func(t *testing.T) {
		api := githubapi.Start(t, "1001", &key.PublicKey, token)
		o := opts(api, source.GitHubApp{AppID: "1001", InstallationID: "42"})
		rev, err := source.Resolve(t.Context(), o)
		check(t, "Resolve", err)
		if !strings.HasSuffix(string(rev), want) {
			t.Errorf("revision %s, want commit %s", rev, want)
		}
		art, err := fetch(t, o)
		check(t, "Fetch", err)
		if got := readTree(t, art.Dir)["app.yaml"]; got != "kind: ConfigMap\n" {
			t.Errorf("fetched app.yaml %q", got)
		}
		if n := api.Tokens.Load(); n != 1 {
			t.Errorf("%d token requests for a Resolve and a Fetch, want 1 (the token is kept while valid)", n)
		}
	})

	t.Run("installation owner", func(t *testing.T) {
		api := githubapi.Start(t, "1002", &key.PublicKey, token)
		_, err := source.Resolve(t.Context(), opts(api, source.GitHubApp{AppID: "1002", InstallationOwner: "fleet-org"}))
		check(t, "Resolve", err)
		if api.Lists.Load() != 1 || api.Tokens.Load() != 1 {
			t.Errorf("%d listings, %d token requests; want 1 and 1", api.Lists.Load(), api.Tokens.Load())
		}
		_, err = source.Resolve(t.Context(), opts(api, source.GitHubApp{AppID: "1002", InstallationOwner: "nobody"}))
		if !errors.Is(err, source.ErrAuthentication) || !strings.Contains(err.Error(), `not installed on "nobody"`) {
			t.Errorf("an owner without the App: %v", err)
		}
	})

	t.Run("a key GitHub does not know", func(t *testing.T) {
		other, _ := githubapi.NewKey(t)
		api := githubapi.Start(t, "1003", &other.PublicKey, token)
		_, err := source.Resolve(t.Context(), opts(api, source.GitHubApp{AppID: "1003", InstallationID: "42"}))
		if !errors.Is(err, source.ErrAuthentication) || !strings.Contains(err.Error(), "GitHub App 1003: POST "+api.URL+"/app/installations/42/access_tokens: 401 Unauthorized: A JSON web token could not be decoded") {
			t.Errorf("wrong key: %v", err)
		}
		if strings.Contains(err.Error(), "PRIVATE KEY") || strings.Contains(err.Error(), token) {
			t.Errorf("the error holds a secret: %v", err)
		}
	})

	t.Run("generic provider ignores the App", func(t *testing.T) {
		api := githubapi.Start(t, "1004", &key.PublicKey, token)
		o := opts(api, source.GitHubApp{AppID: "1004", InstallationID: "42"})
		o.Provider = ""
		if _, err := source.Resolve(t.Context(), o); !errors.Is(err, source.ErrAuthentication) {
			t.Errorf("without provider github: %v, want an authentication error", err)
		}
		if api.Tokens.Load() != 0 {
			t.Errorf("the App was asked for a token without provider github")
		}
	})

	t.Run("invalid options", func(t *testing.T) {
		api := githubapi.Start(t, "1005", &key.PublicKey, token)
		for name, o := range map[string]source.GitOptions{
			"no private key": func() source.GitOptions {
				o := opts(api, source.GitHubApp{AppID: "1005", InstallationID: "42"})
				o.Auth.GitHubApp.PrivateKey = nil
				return o
			}(),
			"no installation": opts(api, source.GitHubApp{AppID: "1005"}),
			"bad app ID":      opts(api, source.GitHubApp{AppID: "app", InstallationID: "42"}),
			"ssh URL": func() source.GitOptions {
				o := opts(api, source.GitHubApp{AppID: "1005", InstallationID: "42"})
				o.URL = srv.SSHURL("fleet")
				return o
			}(),
			"unknown provider": func() source.GitOptions {
				o := opts(api, source.GitHubApp{AppID: "1005", InstallationID: "42"})
				o.Provider = "azure"
				return o
			}(),
		} {
			if _, err := source.Resolve(t.Context(), o); !errors.Is(err, source.ErrInvalidOptions) {
				t.Errorf("%s: %v, want ErrInvalidOptions", name, err)
			}
		}
		if api.Tokens.Load() != 0 {
			t.Errorf("a token was asked for with invalid options")
		}
	})
}
