package syncrun

import (
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/tests/githubapi"
	"github.com/gitsync/gitsync/tests/gitserver"
)

// TestFluxGitRepositoryGitHubApp: a GitRepository with provider github is
// read as a GitHub App installation: the run reads the App's Secret, asks
// the API for an installation token (finding the installation by its
// account) and fetches over HTTPS with it; the token reaches no record.
func TestFluxGitRepositoryGitHubApp(t *testing.T) {
	const token = "ghs_unit_installation_token_42"
	appsGit, appsRepo := gitserver.StartTestRepo(t, gitserver.Options{Username: "x-access-token", Password: token}, "apps")
	if _, err := appsRepo.Commit(t.Context(), "apps", map[string]string{"cm.yaml": cm("from-app-repo", "1")}); err != nil {
		t.Fatal(err)
	}
	key, keyPEM := githubapi.NewKey(t)
	api := githubapi.Start(t, "3001", &key.PublicKey, token)
	f := newFluxSync(t, map[string]string{
		"clusters/test/flux-system/gotk-sync.yaml": ownRepository,
		"clusters/test/apps.yaml": fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: apps, namespace: NS}
spec:
  interval: 5m
  url: %s
  provider: github
  secretRef: {name: github-app}
  ref: {branch: main}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: NS}
spec:
  interval: 10m
  path: ./
  prune: true
  sourceRef: {kind: GitRepository, name: apps}
`, appsGit.HTTPSURL("apps")),
	})
	f.secret("github-app", map[string][]byte{
		"githubAppID":                []byte("3001"),
		"githubAppInstallationOwner": []byte("fleet-org"),
		"githubAppPrivateKey":        keyPEM,
		"githubAppBaseURL":           []byte(api.URL),
		"ca.crt":                     append(appsGit.CACert(), api.CAPEM()...),
	})
	res := f.run()
	mustUnitsSucceed(t, res)
	if _, err := f.configMap("from-app-repo"); err != nil {
		t.Fatalf("the App's repository was not applied: %v", err)
	}
	if api.Tokens.Load() != 1 || api.Lists.Load() != 1 {
		t.Errorf("%d token requests, %d installation listings; want 1 and 1", api.Tokens.Load(), api.Lists.Load())
	}
	// Records are ConfigMaps, messages also Events.
	var written strings.Builder
	cms, err := env.Client().CoreV1().ConfigMaps(f.ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cms.Items {
		fmt.Fprint(&written, c.Data, c.BinaryData)
	}
	evs, err := env.Client().CoreV1().Events(f.ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs.Items {
		written.WriteString(e.Message)
	}
	if written.Len() == 0 || strings.Contains(written.String()+res.Message, token) {
		t.Errorf("the installation token reached the run's message, records or Events (%d bytes read)", written.Len())
	}
}
