package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/source/oci"
	"github.com/gitsync/gitsync/tests/helmrepo"
)

func TestPushAndTagArtifact(t *testing.T) {
	reg, err := helmrepo.StartRegistry(t.Context(), helmrepo.RegistryOptions{Username: "ci", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	tmp := t.TempDir()
	caFile := filepath.Join(tmp, "ca.pem")
	if err := os.WriteFile(caFile, reg.CA().CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tmp, "deploy")
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for p, body := range map[string]string{"a.yaml": "a: 1\n", "sub/b.yaml": "b: 2\n", "secret.env": "X=1\n"} {
		if err := os.WriteFile(filepath.Join(dir, p), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ns := env.NewNamespace(t)
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "registry", Namespace: ns},
		StringData: map[string]string{"username": "ci", "password": "pw", "ca.crt": string(reg.CA().CertPEM)}}
	if _, err := env.Client().CoreV1().Secrets(ns).Create(t.Context(), sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		cmd := NewRootCommand(genericiooptions.IOStreams{In: &bytes.Buffer{}, Out: &out, ErrOut: &out})
		cmd.SetArgs(args)
		cmd.SetContext(t.Context())
		err := cmd.ExecuteContext(t.Context())
		return out.String(), err
	}
	url := reg.URL("team/app")

	out, err := run("push", "artifact", url+":v1", "--path", dir, "--source", "https://git.example/app.git",
		"--revision", "main@sha1:0123", "--creds", "ci:pw", "--ca-file", caFile, "--ignore-paths", "*.env", "-a", "team=blue")
	if err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	if !strings.HasPrefix(out, "pushed "+reg.Host()+"/team/app@sha256:") || !strings.Contains(out, "to tag v1") {
		t.Errorf("push printed %q", out)
	}

	// Tag it with the login of a Secret of the cluster.
	out, err = run("tag", "artifact", url+":v1", "--tag", "production", "--secret", "registry", "-n", ns, "--kubeconfig", env.KubeconfigPath())
	if err != nil {
		t.Fatalf("tag: %v\n%s", err, out)
	}
	if !strings.Contains(out, "as "+reg.Host()+"/team/app:production") {
		t.Errorf("tag printed %q", out)
	}

	// What was pushed and tagged is what a sync following production gets.
	creds := source.Credentials{Username: "ci", Password: "pw", CAPEM: reg.CA().CertPEM}
	o := oci.Options{URL: url, Ref: oci.Ref{Tag: "production"}, Auth: creds}
	res, err := oci.Resolve(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, res.Digest) {
		t.Errorf("tag printed %q, production is %s", out, res.Digest)
	}
	art := filepath.Join(tmp, "pulled")
	if err := os.Mkdir(art, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := oci.Fetch(t.Context(), o, res.Revision, art); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"a.yaml": "a: 1\n", "sub/b.yaml": "b: 2\n"} {
		if b, err := os.ReadFile(filepath.Join(art, p)); err != nil || string(b) != want {
			t.Errorf("%s: %q, %v", p, b, err)
		}
	}
	if _, err := os.Stat(filepath.Join(art, "secret.env")); !os.IsNotExist(err) {
		t.Errorf("an ignored file was pushed: %v", err)
	}

	// -o digest prints the reference alone.
	out, err = run("push", "artifact", url+":v2", "--path", dir, "--source", "s", "--revision", "r", "--creds", "ci:pw", "--ca-file", caFile, "-o", "digest")
	if err != nil || !strings.HasPrefix(out, reg.Host()+"/team/app@sha256:") || strings.Count(out, "\n") != 1 {
		t.Errorf("-o digest: %q, %v", out, err)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"push", "artifact", url, "--path", dir, "--source", "s", "--revision", "r"}, "not oci://host[:port]/path:tag"},
		{[]string{"push", "artifact", url + ":v1", "--source", "s", "--revision", "r"}, "--path is required"},
		{[]string{"push", "artifact", url + ":v1", "--path", dir, "--revision", "r"}, "--source is required"},
		{[]string{"push", "artifact", url + ":v1", "--path", dir, "--source", "s", "--revision", "r", "--creds", "nocolon"}, "--creds: must be user:password"},
		{[]string{"push", "artifact", url + ":v1", "--path", dir, "--source", "s", "--revision", "r", "--creds", "a:b", "--secret", "x"}, "use one"},
		{[]string{"push", "artifact", "oci://u:S3CRET@" + reg.Host() + "/app:v1", "--path", dir, "--source", "s", "--revision", "r"}, "credentials belong"},
		{[]string{"push", "artifact", url + ":v3", "--path", dir, "--source", "s", "--revision", "r", "--creds", "ci:WRONG", "--ca-file", caFile}, "authentication failed"},
		{[]string{"push", "artifact", url + ":v3", "--path", dir, "--source", "s", "--revision", "r", "--creds", "ci:pw"}, "certificate"},
		{[]string{"tag", "artifact", url + ":v1"}, "--tag is required"},
	} {
		out, err := run(tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v (%s), want %q", tc.args, err, out, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), "S3CRET") || strings.Contains(err.Error(), "WRONG")) {
			t.Errorf("%v: the error shows the password: %v", tc.args, err)
		}
	}
}
