package registry

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/gitsync/gitsync/pkg/source"
)

func TestParseURL(t *testing.T) {
	for url, want := range map[string]string{
		"oci://r.example/team/app":       "r.example/team/app",
		"oci://r.example:5000/app/":      "r.example:5000/app",
		"r.example/app":                  "must start with oci://",
		"oci://u:S3CRET@r.example/app":   "credentials belong in the Secret",
		"oci://r.example":                "names no repository",
		"oci://r.example/app:v1":         "names a tag or digest",
		"oci://r.example/app@sha256:abc": "names a tag or digest",
		"oci://r.example/App":            "not a valid registry repository",
	} {
		repo, err := ParseURL(url, false)
		got := repo.String()
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, want) || strings.Contains(got, "S3CRET") {
			t.Errorf("ParseURL(%q) = %q, want %q", url, got, want)
		}
	}
}

func TestHTTPSOnly(t *testing.T) {
	c := Client{}
	rt, err := c.Transport()
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://127.0.0.1:1/v2/", nil)
	if _, err := rt.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "plain HTTP to 127.0.0.1:1 refused") {
		t.Errorf("plain HTTP: %v", err)
	}
	c.Insecure = true
	if rt, _ = c.Transport(); rt == nil {
		t.Fatal("no transport")
	}
	if _, ok := rt.(HTTPSOnly); ok {
		t.Error("Insecure still refuses plain HTTP")
	}
}

func TestAuthenticator(t *testing.T) {
	docker := `{"auths": {"https://r.example": {"auth": "dTpw"}}}` // u:p
	tests := []struct {
		name  string
		c     Client
		host  string
		want  authn.AuthConfig
		anony bool
	}{
		{"basic", Client{Auth: source.Credentials{Username: "u", Password: "p"}}, "r.example", authn.AuthConfig{Username: "u", Password: "p"}, false},
		{"token", Client{Auth: source.Credentials{BearerToken: "tok"}}, "r.example", authn.AuthConfig{RegistryToken: "tok"}, false},
		{"docker config", Client{Auth: source.Credentials{DockerConfigJSON: []byte(docker)}}, "r.example", authn.AuthConfig{Username: "u", Password: "p"}, false},
		{"docker config, other host", Client{Auth: source.Credentials{DockerConfigJSON: []byte(docker)}}, "other.example", authn.AuthConfig{}, true},
		{"keychain when no login", Client{Keychain: authn.NewMultiKeychain()}, "r.example", authn.AuthConfig{}, true},
		{"anonymous", Client{}, "r.example", authn.AuthConfig{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := tt.c.Authenticator(tt.host)
			if err != nil {
				t.Fatal(err)
			}
			if tt.anony {
				if a != authn.Anonymous {
					t.Errorf("got %v, want anonymous", a)
				}
				return
			}
			got, err := a.Authorization()
			if err != nil {
				t.Fatal(err)
			}
			if *got != tt.want {
				t.Errorf("got %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestError(t *testing.T) {
	for code, auth := range map[int]bool{401: true, 403: true, 404: false, 500: false} {
		err := Error(&transport.Error{StatusCode: code})
		if errors.Is(err, source.ErrAuthentication) != auth {
			t.Errorf("%d: %v", code, err)
		}
		if IsNotFound(err) != (code == 404) {
			t.Errorf("%d: IsNotFound %v", code, IsNotFound(err))
		}
	}
}
