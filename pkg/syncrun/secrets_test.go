package syncrun

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gitsync/gitsync/pkg/redact"
	"github.com/gitsync/gitsync/tests/gitserver"
)

// TestSecretValuesAreMasked makes secret values reach error messages the
// way real runs do — the API server's validation error quotes a value
// substituted from a Secret, or decrypted by SOPS; a chart's template
// fails quoting a value from a valuesFrom Secret — and checks that the
// run reports the failure with the value masked, and that nothing it
// wrote (log, result, record, history, Events) holds the value. Without
// the mask each of them leaked the value into all of these.
func TestSecretValuesAreMasked(t *testing.T) {
	const (
		substituted = "Subst Secret!Value-31"
		decrypted   = "SOPS Type-Plain77"
		helmValue   = "Helm Pass-Plain88"
	)
	tests := []struct {
		name   string
		secret string                         // the value that must not leak
		setup  func(t *testing.T, f *fixture) // commits and writes the spec
		want   string                         // in the masked message
	}{
		{
			name: "substituted into a label", secret: substituted, want: `Invalid value: "xxxxx"`,
			setup: func(t *testing.T, f *fixture) {
				createSecret(t, f.ns, "vars", map[string][]byte{"token": []byte(substituted)})
				f.commit(map[string]string{"deploy/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: labelled\n" +
					"  labels: {team: \"${token}\"}\ndata: {a: b}\n"})
				f.install(f.git.HTTPURL("app"), "", "  postBuild:\n    substituteFrom: [{kind: Secret, name: vars}]\n")
			},
		},
		{
			name: "decrypted by SOPS", secret: decrypted, want: `"xxxxx"`,
			setup: func(t *testing.T, f *fixture) {
				k := newSOPSKeys(t)
				createSecret(t, f.ns, "sops-keys", k.data)
				f.commit(map[string]string{"deploy/svc.yaml": encYAML(t, "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc\n"+
					"spec:\n  type: "+decrypted+"\n  ports: [{port: 80}]\n", k.ageOpts())})
				f.install(f.git.HTTPURL("app"), "", sopsDecryption)
			},
		},
		{
			name: "valuesFrom Secret quoted by a template", secret: helmValue, want: "xxxxx",
			setup: func(t *testing.T, f *fixture) {
				createSecret(t, f.ns, "helm-values", map[string][]byte{"values.yaml": []byte("password: " + helmValue + "\n")})
				f.commit(map[string]string{
					"chart/Chart.yaml":        "apiVersion: v2\nname: app\nversion: 0.1.0\n",
					"chart/templates/cm.yaml": "{{ fail (printf \"password %s is weak\" .Values.password) }}\n",
				})
				f.writeSpec(fmt.Sprintf("apiVersion: gitsync.io/v1alpha1\nkind: Sync\nmetadata: {name: app, namespace: %s}\nspec:\n"+
					"  source:\n    git: {url: %s, insecure: true, ref: {branch: main}}\n  path: ./chart\n"+
					"  helm:\n    valuesFrom: [{kind: Secret, name: helm-values}]\n", f.ns, f.git.HTTPURL("app")))
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, gitserver.Options{})
			tc.setup(t, f)
			res, log := f.runLogged()
			if res.Outcome != Failed {
				t.Fatalf("run %s (%s), want Failed", res.Outcome, res.Message)
			}
			if !strings.Contains(res.Message, tc.want) || !strings.Contains(res.Message, redact.Mask) {
				t.Errorf("message %q: want %q in it (the failure quoting the masked value)", res.Message, tc.want)
			}
			n := 0
			for _, w := range writings(t, f, log, res) {
				n++
				if strings.Contains(w, tc.secret) {
					t.Errorf("%q leaks: %.400s", tc.secret, w)
				}
			}
			t.Logf("checked %d writings; the run said: %s", n, res.Message)
		})
	}
}
