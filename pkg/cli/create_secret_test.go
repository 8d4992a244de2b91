package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	"github.com/gitsync/gitsync/tests/gitserver"
)

const secretData = "testdata/create-secret/"

// runCLISplit runs `kubectl-gitsync args...` and returns stdout and stderr
// apart.
func runCLISplit(ctx context.Context, args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	cmd := NewRootCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

func TestCreateSecretExportGolden(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"git-basic", []string{"git", "web", "--url", "https://git.example.com/web.git", "-u", "bot", "-p", "s3cret", "--ca-file", secretData + "ca.crt"}},
		{"git-bearer", []string{"git", "web", "--url", "https://git.example.com/web.git", "--bearer-token", "t0ken"}},
		{"git-ssh", []string{"git", "web", "--url", "ssh://git@git.example.com:2222/web.git",
			"--private-key-file", secretData + "id_ed25519", "--known-hosts-file", secretData + "known_hosts"}},
		{"helm", []string{"helm", "charts", "-u", "bot", "-p", "s3cret", "--ca-file", secretData + "ca.crt",
			"--cert-file", secretData + "client.crt", "--key-file", secretData + "client.key"}},
		{"oci", []string{"oci", "ghcr", "--url", "oci://ghcr.io/example/app", "-u", "bot", "-p", "s3cret"}},
		{"sops", []string{"sops", "sops-age", "--age-key-file", secretData + "age.agekey",
			"--age-recipients", "age1pvaxtj4mhrum20xe92k6js44jvggfv7rw0v560nms5ycq0m7hv5qqtj9ek"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"create", "secret"}, tt.args...)
			out, errOut, err := runCLISplit(t.Context(), append(args, "--export", "--kubeconfig", offline)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, errOut)
			}
			golden(t, filepath.Join(secretData, tt.name+".yaml"), out)
			golden(t, filepath.Join(secretData, tt.name+".stderr"), errOut)
		})
	}
}

func TestCreateSecretErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"git", "web", "-u", "bot", "-p", "s3cret"}, "--url: required"},
		{[]string{"git", "web", "--url", "https://git.example.com/web.git", "-u", "bot", "-p", "s3cret", "--bearer-token", "t0ken"},
			"--bearer-token: cannot be combined with username/password"},
		{[]string{"git", "web", "--url", "https://git.example.com/web.git", "-u", "bot"}, "--password: required with username"},
		{[]string{"git", "web", "--url", "https://git.example.com/web.git", "--private-key-file", secretData + "id_ed25519"},
			"--private-key-file: does not apply to a git secret over HTTP(S)"},
		{[]string{"git", "web", "--url", "ssh://git@other.example.com/web.git", "--private-key-file", secretData + "id_ed25519",
			"--known-hosts-file", secretData + "known_hosts"}, "--known-hosts-file: host key verification failed: known_hosts has no key for other.example.com:22"},
		{[]string{"git", "web", "--url", "ssh://git@git.example.com:2222/web.git", "--private-key-file", secretData + "ca.crt",
			"--known-hosts-file", secretData + "known_hosts"}, "--private-key-file: ssh: "},
		{[]string{"git", "web", "--url", "ssh://git@git.example.com:2222/web.git", "--ssh-key-algorithm", "rsa", "--ssh-rsa-bits", "1024",
			"--known-hosts-file", secretData + "known_hosts"}, "--ssh-rsa-bits: must be between 2048 and 16384, not 1024"},
		{[]string{"helm", "charts", "--cert-file", secretData + "client.crt", "--key-file", secretData + "id_ed25519"}, "--cert-file/key-file: "},
		{[]string{"helm", "charts", "--cert-file", secretData + "client.crt"}, "--key-file: required with cert-file"},
		{[]string{"oci", "ghcr", "--url", "ghcr.io", "-u", "bot"}, "username and password: required"},
		{[]string{"sops", "age", "--age-key-file", secretData + "ca.crt"}, "--age-key-file: "},
		{[]string{"sops", "age", "--age-key-file", secretData + "age.agekey", "--age-recipients", "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq"},
			"--age-recipients: age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq is not the recipient of any identity"},
		{[]string{"git", "Web", "--url", "https://git.example.com/web.git"}, `NAME "Web": not a valid Secret name`},
		{[]string{"oci", "ghcr", "--url", "ghcr.io", "-u", "bot", "-p", "s3cret", "-o", "json"}, "--output: only with --export"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args[:2], "-"), func(t *testing.T) {
			args := append([]string{"create", "secret"}, tt.args...)
			if !strings.HasPrefix(tt.want, "--output") {
				args = append(args, "--export")
			}
			out, errOut, err := runCLISplit(t.Context(), append(args, "--kubeconfig", offline)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
			for _, s := range []string{"s3cret", "t0ken", "PRIVATE KEY"} {
				if strings.Contains(err.Error()+out+errOut, s) {
					t.Errorf("a secret value (%s) was printed: %v\n%s%s", s, err, out, errOut)
				}
			}
		})
	}
}

// TestCreateSecretGeneratedKey generates each kind of SSH key and checks that
// the Secret's identity is a key of that kind whose public half is the one
// printed, and that the private key is printed only in the Secret.
func TestCreateSecretGeneratedKey(t *testing.T) {
	for _, algo := range []struct {
		args    []string
		keyType string
	}{
		{nil, ssh.KeyAlgoED25519},
		{[]string{"--ssh-key-algorithm", "ecdsa", "--ssh-ecdsa-curve", "p256"}, ssh.KeyAlgoECDSA256},
		{[]string{"--ssh-key-algorithm", "rsa", "--ssh-rsa-bits", "2048"}, ssh.KeyAlgoRSA},
	} {
		t.Run(algo.keyType, func(t *testing.T) {
			args := append([]string{"create", "secret", "git", "web", "--url", "ssh://git@git.example.com:2222/web.git",
				"--known-hosts-file", secretData + "known_hosts", "--export", "--kubeconfig", offline}, algo.args...)
			out, errOut, err := runCLISplit(t.Context(), args...)
			if err != nil {
				t.Fatal(err)
			}
			var s corev1.Secret
			if err := yaml.Unmarshal([]byte(out), &s); err != nil {
				t.Fatal(err)
			}
			signer, err := ssh.ParsePrivateKey(s.Data["identity"])
			if err != nil {
				t.Fatal(err)
			}
			if got := signer.PublicKey().Type(); got != algo.keyType {
				t.Errorf("key type %s, want %s", got, algo.keyType)
			}
			pub := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
			if !strings.Contains(errOut, pub) || string(s.Data["identity.pub"]) != pub {
				t.Errorf("public key %s not printed (%q) or not in identity.pub (%q)", pub, errOut, s.Data["identity.pub"])
			}
			if strings.Contains(errOut, "PRIVATE KEY") {
				t.Errorf("private key printed outside the Secret: %s", errOut)
			}
		})
	}
}

// TestCreateSecretSSHApply creates a deploy key Secret for the real SSH
// server, with its host keys scanned, applies it to the real cluster, and
// checks that the scanned known_hosts holds the server's key.
func TestCreateSecretSSHApply(t *testing.T) {
	ctx := t.Context()
	srv := gitserver.StartTest(t, gitserver.Options{})
	ns := env.NewNamespace(t)
	keyFile := filepath.Join(t.TempDir(), "id")
	if err := os.WriteFile(keyFile, srv.ClientKey(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(ctx, "", "create", "secret", "git", "repo", "-n", ns, "--kubeconfig", env.KubeconfigPath(),
		"--url", srv.SSHURL("app.git"), "--private-key-file", keyFile)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "Secret/"+ns+"/repo applied") || strings.Contains(out, "PRIVATE KEY") {
		t.Errorf("output:\n%s", out)
	}
	s, err := env.Client().CoreV1().Secrets(ns).Get(ctx, "repo", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.Data["identity"], srv.ClientKey()) {
		t.Error("identity is not the key given")
	}
	hostKey := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(srv.HostKey())))
	if !strings.Contains(string(s.Data["known_hosts"]), hostKey) {
		t.Errorf("known_hosts %q lacks the server's key %s", s.Data["known_hosts"], hostKey)
	}
	if !strings.Contains(out, "known_hosts scanned from") {
		t.Errorf("the scan was not reported:\n%s", out)
	}
}
