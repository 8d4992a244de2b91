package helm

import (
	"errors"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/gitsync/gitsync/pkg/redact"
	"github.com/gitsync/gitsync/pkg/render"
	"github.com/gitsync/gitsync/pkg/sops"
	"github.com/gitsync/gitsync/pkg/sops/sopstest"
)

// TestRenderSOPSValuesFiles renders a chart whose values file is
// SOPS-encrypted: decrypted with the keys, refused without, and with the
// wrong keys. TestMain renders each case in process and in sync-job-helm,
// which gets the keys on its stdin.
func TestRenderSOPSValuesFiles(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	other, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	const secret = "s3cr3t-value-4711"
	enc, err := sopstest.YAML([]byte("password: "+secret+"\n"), sopstest.Options{Age: []*age.X25519Recipient{id.Recipient()}})
	if err != nil {
		t.Fatal(err)
	}
	c := simpleChart("enc", "0.1.0")
	c.Values = "password: none\n"
	c.Files = map[string]string{"secret-values.yaml": string(enc)}
	c.Templates["s.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: s\ndata:\n  password: {{ .Values.password | quote }}\n"
	p := packaged(t, c)
	keys := func(id *age.X25519Identity) *sops.Keys {
		k, err := sops.ParseKeys(map[string][]byte{"k.agekey": []byte(id.String() + "\n")})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	opts := RenderOptions{ChartPath: p, ReleaseName: "rel", ValuesFiles: []string{"values.yaml", "secret-values.yaml"}}

	opts.Decryption = keys(id)
	out, err := Render(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := data(t, out.Objects, "ConfigMap", "s")["password"]; got != secret {
		t.Errorf("password %v, want the decrypted value", got)
	}

	opts.Decryption = nil
	_, err = Render(t.Context(), opts)
	if !errors.Is(err, render.ErrDecryptionRequired) || !strings.Contains(err.Error(), "enc 0.1.0: valuesFiles[1] secret-values.yaml: decryption required") {
		t.Errorf("without keys: %v, want ErrDecryptionRequired naming the file", err)
	}

	opts.Decryption = keys(other)
	_, err = Render(t.Context(), opts)
	if err == nil || !strings.Contains(err.Error(), "valuesFiles[1] secret-values.yaml: SOPS decryption failed: no decryption key matches") {
		t.Errorf("wrong keys: %v, want a decryption failure naming the file", err)
	}
	for _, s := range []string{secret, strings.TrimPrefix(other.String(), "AGE-SECRET-KEY-1")} {
		if err != nil && strings.Contains(err.Error(), s) {
			t.Errorf("the error holds secret material: %v", err)
		}
	}
}

// TestRenderSOPSValuesMasked: what SOPS decrypted from a values file is
// masked in the chart stage's own errors (a template that quotes it) and
// handed to RenderOptions.Secrets for the caller's messages, in process
// and through sync-job-helm alike.
func TestRenderSOPSValuesMasked(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	const secret = "s3cr3t-value-0815"
	enc, err := sopstest.YAML([]byte("password: "+secret+"\nport: 8080\n"), sopstest.Options{Age: []*age.X25519Recipient{id.Recipient()}})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := sops.ParseKeys(map[string][]byte{"k.agekey": []byte(id.String() + "\n")})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, template string
		fails          bool
	}{
		{"rendered", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: s\ndata:\n  password: {{ .Values.password | quote }}\n", false},
		{"template error quoting the value", "{{ fail (printf \"refused password %q\" .Values.password) }}\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := simpleChart("enc", "0.1.0")
			c.Files = map[string]string{"secret-values.yaml": string(enc)}
			c.Templates["s.yaml"] = tc.template
			var secrets redact.Secrets
			_, err := Render(t.Context(), RenderOptions{ChartPath: packaged(t, c), ReleaseName: "rel",
				ValuesFiles: []string{"secret-values.yaml"}, Decryption: keys, Secrets: &secrets})
			switch {
			case tc.fails && err == nil:
				t.Fatal("the render succeeded, want the template's failure")
			case tc.fails && !strings.Contains(err.Error(), "refused password \""+redact.Mask+"\""):
				t.Errorf("error %q, want the decrypted value masked", err)
			case tc.fails && strings.Contains(err.Error(), secret):
				t.Errorf("the error holds the decrypted value: %v", err)
			case !tc.fails && err != nil:
				t.Fatal(err)
			case !tc.fails && secrets.Text("x "+secret+" y") != "x "+redact.Mask+" y":
				t.Errorf("RenderOptions.Secrets does not mask the decrypted value: %q", secrets.Text("x "+secret+" y"))
			}
		})
	}
}
