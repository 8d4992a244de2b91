package cli

import (
	"regexp"
	"strings"
	"testing"
)

// install --flux-secret writes spec.flux.readSecrets and grants get on the
// Secret by name in the job's own Role; a bad name is refused with its flag.
func TestInstallFluxSecret(t *testing.T) {
	out, err := runCLI(t.Context(), "", "install", "web", "-n", "team-a", "--url", "https://git.example.com/team-a/web.git",
		"--service-account", "deployer", "--flux-secret", "cluster-vars", "--image", testImage, "--export", "--kubeconfig", offline)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`readSecrets:\n\s*- cluster-vars\n`).MatchString(out) {
		t.Errorf("spec lacks flux.readSecrets:\n%s", out)
	}
	if !strings.Contains(out, "resourceNames:\n  - cluster-vars\n  resources:\n  - secrets") {
		t.Errorf("the job's Role does not grant get on Secret cluster-vars:\n%s", out)
	}
	if _, err := runCLI(t.Context(), "", "install", "web", "-n", "team-a", "--url", "https://git.example.com/team-a/web.git",
		"--flux-secret", "Bad_Name", "--export", "--kubeconfig", offline); err == nil || !strings.Contains(err.Error(), "--flux-secret") {
		t.Errorf("a bad --flux-secret: %v; want an error naming the flag", err)
	}
}
