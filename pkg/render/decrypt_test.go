package render

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/gitsync/gitsync/pkg/sops"
	"github.com/gitsync/gitsync/pkg/sops/sopstest"
)

const encSecret = `apiVersion: v1
kind: Secret
metadata:
  name: db
stringData:
  password: hunter2-plaintext
`

// writeEncrypted writes a tree holding an encrypted Secret, an encrypted
// env file used by a secretGenerator, and a plain ConfigMap.
func writeEncrypted(t *testing.T, withKustomization bool) (string, *sops.Keys) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := sops.ParseKeys(map[string][]byte{"k.agekey": []byte(id.String())})
	if err != nil {
		t.Fatal(err)
	}
	opts := sopstest.Options{Age: []*age.X25519Recipient{id.Recipient()}}
	secret, err := sopstest.YAML([]byte(encSecret), opts)
	if err != nil {
		t.Fatal(err)
	}
	env, err := sopstest.Dotenv([]byte("TOKEN=env-plaintext\n"), opts)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string]string{
		"secret.yaml": string(secret),
		"cm.yaml":     "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\ndata:\n  a: b\n",
	}
	if withKustomization {
		files["app.env"] = string(env)
		files["kustomization.yaml"] = "resources: [secret.yaml, cm.yaml]\n" +
			"secretGenerator:\n- name: gen\n  envs: [app.env]\n  options: {disableNameSuffixHash: true}\n"
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, keys
}

func TestRenderDecrypts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		kust  bool
		force buildPath
		want  buildPath
		opts  Options
	}{
		{"direct", false, pathAuto, pathDirect, Options{}},
		{"linear", false, pathAuto, pathLinear, Options{TargetNamespace: "app"}},
		{"kustomize with secretGenerator", true, pathKustomize, pathKustomize, Options{TargetNamespace: "app"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, keys := writeEncrypted(t, tc.kust)
			opts := tc.opts
			opts.Root, opts.Decryption = dir, keys
			res, path, err := render(context.Background(), opts, tc.force)
			if err != nil {
				t.Fatal(err)
			}
			if path != tc.want {
				t.Errorf("built by %s, want %s", path, tc.want)
			}
			got := map[string]any{}
			for _, o := range res.Objects {
				if _, ok := o.Object["sops"]; ok {
					t.Errorf("%s kept its sops metadata", o.GetName())
				}
				got[o.GetName()] = o.Object
			}
			sd, _ := got["db"].(map[string]any)["stringData"].(map[string]any)
			if sd["password"] != "hunter2-plaintext" {
				t.Errorf("db stringData = %v", sd)
			}
			if tc.kust {
				data, _ := got["gen"].(map[string]any)["data"].(map[string]any)
				// base64 of env-plaintext
				if data["TOKEN"] != "ZW52LXBsYWludGV4dA==" {
					t.Errorf("gen data = %v", data)
				}
			}

			// Without keys: nothing is rendered, and the error names the
			// file without quoting it.
			opts.Decryption = nil
			res, _, err = render(context.Background(), opts, tc.force)
			if !errors.Is(err, ErrDecryptionRequired) || res != nil {
				t.Fatalf("without keys: %v, %v", res, err)
			}
			if !strings.Contains(err.Error(), ".yaml") && !strings.Contains(err.Error(), ".env") {
				t.Errorf("error does not name the file: %v", err)
			}

			// A wrong key fails naming the recipient.
			_, other := writeEncrypted(t, false)
			opts.Decryption = other
			if _, _, err = render(context.Background(), opts, tc.force); err == nil ||
				!strings.Contains(err.Error(), "no decryption key matches any recipient of the file: age age1") {
				t.Errorf("wrong key: %v", err)
			}
		})
	}
}

// BenchmarkRenderEncrypted renders 200 Secrets, age-encrypted or plain
// (-bench RenderEncrypted -benchtime 3x): the cost of decryption per file.
func BenchmarkRenderEncrypted(b *testing.B) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		b.Fatal(err)
	}
	keys, err := sops.ParseKeys(map[string][]byte{"k.agekey": []byte(id.String())})
	if err != nil {
		b.Fatal(err)
	}
	for _, encrypted := range []bool{false, true} {
		dir := b.TempDir()
		for i := range 200 {
			plain := strings.Replace(encSecret, "name: db", "name: db-"+strconv.Itoa(i), 1)
			data := []byte(plain)
			if encrypted {
				if data, err = sopstest.YAML(data, sopstest.Options{Age: []*age.X25519Recipient{id.Recipient()}}); err != nil {
					b.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(dir, "s"+strconv.Itoa(i)+".yaml"), data, 0o644); err != nil {
				b.Fatal(err)
			}
		}
		b.Run("encrypted="+strconv.FormatBool(encrypted), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				res, err := Render(context.Background(), Options{Root: dir, Decryption: keys})
				if err != nil || len(res.Objects) != 200 {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestDecryptionRequiredNamesObjects: without keys, the error names the
// objects of the encrypted file whose kind and name are in clear.
func TestDecryptionRequiredNamesObjects(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	enc, err := sopstest.YAML([]byte(strings.Replace(encSecret, "name: db", "name: db\n  namespace: app", 1)),
		sopstest.Options{Age: []*age.X25519Recipient{id.Recipient()}, EncryptedRegex: "^(data|stringData)$"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secret.yaml"), enc, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Render(context.Background(), Options{Root: dir})
	want := "secret.yaml: decryption required: SOPS-encrypted, and no decryption is configured (for Secret/app/db)"
	if !errors.Is(err, ErrDecryptionRequired) || !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want %q", err, want)
	}
}
