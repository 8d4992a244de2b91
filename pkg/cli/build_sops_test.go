package cli

import (
	"strings"
	"testing"

	"filippo.io/age"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/sops/sopstest"
)

// TestBuildMasksDecryptedSecrets: build decrypts a SOPS-encrypted Secret
// as a run would, and prints its values only with --show-secrets.
func TestBuildMasksDecryptedSecrets(t *testing.T) {
	f := newPipelineFixture(t)
	id, err := age.GenerateX25519Identity()
	must(t, err)
	keys := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sops-keys", Namespace: f.ns},
		Data: map[string][]byte{"age.agekey": []byte(id.String())}}
	_, err = env.Client().CoreV1().Secrets(f.ns).Create(t.Context(), keys, metav1.CreateOptions{})
	must(t, err)
	enc, err := sopstest.YAML([]byte("apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData:\n  password: BUILD-PLAINTEXT-4c1d\n"),
		sopstest.Options{Age: []*age.X25519Recipient{id.Recipient()}})
	must(t, err)
	f.commit(map[string]string{"deploy/secret.yaml": string(enc), "deploy/a.yaml": configMapYAML("a", "1")})
	f.installSpec("  decryption: {provider: sops, secretRef: {name: sops-keys}}\n")

	out, _, err := f.cli(t.Context(), "build", "app")
	wantExit(t, err, ExitOK, "")
	if strings.Contains(out, "BUILD-PLAINTEXT") || !strings.Contains(out, "password: '***'") || strings.Contains(out, "ENC[") {
		t.Errorf("build without --show-secrets:\n%s", out)
	}
	if !strings.Contains(out, "name: a") {
		t.Errorf("build lost the ConfigMap:\n%s", out)
	}
	out, _, err = f.cli(t.Context(), "build", "app", "--show-secrets")
	wantExit(t, err, ExitOK, "")
	if !strings.Contains(out, "password: BUILD-PLAINTEXT-4c1d") {
		t.Errorf("build --show-secrets:\n%s", out)
	}
}
