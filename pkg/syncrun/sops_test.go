package syncrun

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/ProtonMail/go-crypto/openpgp"
	pgparmor "github.com/ProtonMail/go-crypto/openpgp/armor"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gitsync/gitsync/pkg/lockdown"
	"github.com/gitsync/gitsync/pkg/sops/sopstest"
	"github.com/gitsync/gitsync/tests/gitserver"
)

// sopsKeys are an age identity and an OpenPGP key, stored as a decryption
// Secret would hold them.
type sopsKeys struct {
	id  *age.X25519Identity
	pgp *openpgp.Entity
	// data is the Secret's data: age.agekey and pgp.asc.
	data map[string][]byte
}

func newSOPSKeys(t *testing.T) *sopsKeys {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	ent, err := openpgp.NewEntity("gitsync test", "", "sops@example.invalid", nil)
	if err != nil {
		t.Fatal(err)
	}
	var asc strings.Builder
	w, err := pgparmor.Encode(&asc, openpgp.PrivateKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ent.SerializePrivate(w, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return &sopsKeys{id: id, pgp: ent, data: map[string][]byte{
		"age.agekey": []byte("# test key\n" + id.String() + "\n"),
		"pgp.asc":    []byte(asc.String()),
	}}
}

func (k *sopsKeys) ageOpts() sopstest.Options {
	return sopstest.Options{Age: []*age.X25519Recipient{k.id.Recipient()}}
}

func encYAML(t *testing.T, plain string, o sopstest.Options) string {
	t.Helper()
	out, err := sopstest.YAML([]byte(plain), o)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func createSecret(t *testing.T, ns, name string, data map[string][]byte) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Data: data}
	if _, err := env.Client().CoreV1().Secrets(ns).Create(t.Context(), s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

const sopsDecryption = "  decryption: {provider: sops, secretRef: {name: sops-keys}}\n"

// Plaintexts of the encrypted files: none may appear in anything the run
// writes other than the applied objects themselves.
var sopsPlaintexts = []string{"AGE-PLAINTEXT-7f3a", "PGP-PLAINTEXT-91bc", "CM-PLAINTEXT-22de", "ENV-PLAINTEXT-5e10"}

// writings returns everything a run wrote besides the applied objects
// (the ConfigMaps named in applied): its log, result, record and history
// ConfigMaps and Events.
func writings(t *testing.T, f *fixture, log *lockedBuffer, res *Result, applied ...string) []string {
	t.Helper()
	out := []string{"log: " + log.String(), "message: " + res.Message}
	if res.Err != nil {
		out = append(out, "error: "+res.Err.Error())
	}
	cms, err := env.Client().CoreV1().ConfigMaps(f.ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	records := 0
	for _, c := range cms.Items {
		if slices.Contains(applied, c.Name) {
			continue
		}
		if strings.HasPrefix(c.Name, "gitsync-") {
			records++
		}
		out = append(out, fmt.Sprintf("ConfigMap %s: %v %v %v", c.Name, c.Data, c.BinaryData, c.Annotations))
	}
	if records < 2 {
		t.Errorf("found %d gitsync ConfigMaps: the record was not written, nothing was checked", records)
	}
	events, err := env.Client().CoreV1().Events(f.ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events.Items {
		out = append(out, fmt.Sprintf("Event %s: %s", e.Reason, e.Message))
	}
	return out
}

func checkNoPlaintext(t *testing.T, written []string) {
	t.Helper()
	for _, w := range written {
		for _, p := range sopsPlaintexts {
			if strings.Contains(w, p) {
				t.Errorf("plaintext %s leaks: %.300s", p, w)
			}
		}
	}
}

func (f *fixture) runLogged() (*Result, *lockedBuffer) {
	f.t.Helper()
	var log lockedBuffer
	res := f.runWith(Options{Logger: slog.New(slog.NewJSONHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	return res, &log
}

// TestSOPSDecryption: age- and PGP-encrypted Secrets, a ConfigMap
// encrypted with encrypted_regex and an encrypted secretGenerator env file
// are applied decrypted; the plaintext appears nowhere else.
func TestSOPSDecryption(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	k := newSOPSKeys(t)
	createSecret(t, f.ns, "sops-keys", k.data)
	envFile, err := sopstest.Dotenv([]byte("TOKEN="+sopsPlaintexts[3]+"\n"), k.ageOpts())
	if err != nil {
		t.Fatal(err)
	}
	f.commit(map[string]string{
		"deploy/kustomization.yaml": "resources: [age.yaml, pgp.yaml, cm.yaml]\n" +
			"secretGenerator:\n- name: generated\n  envs: [app.env]\n  options: {disableNameSuffixHash: true}\n",
		"deploy/age.yaml": encYAML(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: by-age}\nstringData:\n  password: "+sopsPlaintexts[0]+"\n", k.ageOpts()),
		"deploy/pgp.yaml": encYAML(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: by-pgp}\nstringData:\n  password: "+sopsPlaintexts[1]+"\n",
			sopstest.Options{PGP: openpgp.EntityList{k.pgp}}),
		"deploy/cm.yaml": encYAML(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata:\n  secret: "+sopsPlaintexts[2]+"\n",
			sopstest.Options{Age: k.ageOpts().Age, EncryptedRegex: "^(data|stringData)$"}),
		"deploy/app.env": string(envFile),
	})
	f.install(f.git.HTTPURL("app"), "", sopsDecryption)
	res, log := f.runLogged()
	f.mustSucceed(res)

	secrets := secretsIn(t, f.ns)
	for name, want := range map[string]string{"by-age": sopsPlaintexts[0], "by-pgp": sopsPlaintexts[1]} {
		if got := string(secrets[name].Data["password"]); got != want {
			t.Errorf("Secret %s password = %q, want %q", name, got, want)
		}
	}
	if got := string(secrets["generated"].Data["TOKEN"]); got != sopsPlaintexts[3] {
		t.Errorf("generated Secret TOKEN = %q", got)
	}
	c, err := f.configMap("settings")
	if err != nil || c.Data["secret"] != sopsPlaintexts[2] {
		t.Errorf("ConfigMap settings: %v, %v", c, err)
	}
	if _, ok := c.Annotations["sops"]; ok || strings.Contains(fmt.Sprint(c.Data), "ENC[") {
		t.Errorf("ConfigMap still encrypted: %v", c.Data)
	}
	checkNoPlaintext(t, writings(t, f, log, res, "settings"))
}

// secretsIn returns the Secrets of ns by name.
func secretsIn(t *testing.T, ns string) map[string]corev1.Secret {
	t.Helper()
	list, err := env.Client().CoreV1().Secrets(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]corev1.Secret{}
	for _, s := range list.Items {
		out[s.Name] = s
	}
	return out
}

// TestSOPSFailuresApplyNothing: without decryption, with a wrong key, or
// with tampered ciphertext the run fails, names the file, applies none of
// the commit's objects and writes no plaintext.
func TestSOPSFailuresApplyNothing(t *testing.T) {
	k := newSOPSKeys(t)
	other := newSOPSKeys(t)
	secret := encYAML(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData:\n  password: "+sopsPlaintexts[0]+"\n  user_unencrypted: admin\n", k.ageOpts())
	tampered := strings.Replace(secret, "user_unencrypted: admin", "user_unencrypted: root", 1)
	if tampered == secret {
		t.Fatal("nothing tampered")
	}
	for _, tc := range []struct {
		name       string
		file       string
		decryption string
		keys       map[string][]byte
		want       []string
	}{
		{"no decryption configured", secret, "", nil,
			[]string{"deploy/secret.yaml", "decryption required"}},
		{"wrong key", secret, sopsDecryption, other.data,
			[]string{"deploy/secret.yaml", "no decryption key matches", "age " + k.id.Recipient().String()}},
		{"tampered", tampered, sopsDecryption, k.data,
			[]string{"deploy/secret.yaml", "MAC mismatch"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, gitserver.Options{})
			if tc.keys != nil {
				createSecret(t, f.ns, "sops-keys", tc.keys)
			}
			f.commit(map[string]string{"deploy/secret.yaml": tc.file, "deploy/ok.yaml": cm("ok", "1")})
			f.install(f.git.HTTPURL("app"), "", tc.decryption)
			res, log := f.runLogged()
			if res.Outcome != Failed {
				t.Fatalf("outcome %s, want Failed", res.Outcome)
			}
			for _, w := range tc.want {
				if !strings.Contains(res.Err.Error(), w) {
					t.Errorf("error %q does not say %q", res.Err, w)
				}
			}
			t.Logf("the run said: %v", res.Err)
			f.mustNotHave("ok")
			if _, err := env.Client().CoreV1().Secrets(f.ns).Get(t.Context(), "db", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("Secret db: %v, want NotFound", err)
			}
			checkNoPlaintext(t, writings(t, f, log, res))
		})
	}
}

// TestSOPSHelmValues: encrypted values from a Git values file and from a
// valuesFrom Secret render the chart.
func TestSOPSHelmValues(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	k := newSOPSKeys(t)
	createSecret(t, f.ns, "sops-keys", k.data)
	createSecret(t, f.ns, "helm-values", map[string][]byte{
		"values.yaml": []byte(encYAML(t, "fromSecret: "+sopsPlaintexts[1]+"\n", k.ageOpts())),
	})
	f.commit(map[string]string{
		"chart/Chart.yaml":         "apiVersion: v2\nname: app\nversion: 0.1.0\n",
		"chart/values.yaml":        "fromFile: default\nfromSecret: default\n",
		"chart/secret-values.yaml": encYAML(t, "fromFile: "+sopsPlaintexts[0]+"\n", k.ageOpts()),
		"chart/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\n" +
			"data:\n  fromFile: {{ .Values.fromFile | quote }}\n  fromSecret: {{ .Values.fromSecret | quote }}\n",
	})
	f.writeSpec(fmt.Sprintf(`apiVersion: gitsync.io/v1alpha1
kind: Sync
metadata: {name: app, namespace: %s}
spec:
  source:
    git: {url: %s, insecure: true, ref: {branch: main}}
  path: ./chart
  helm:
    releaseName: rel
    valuesFiles: [values.yaml, secret-values.yaml]
    valuesFrom: [{kind: Secret, name: helm-values}]
%s`, f.ns, f.git.HTTPURL("app"), sopsDecryption))
	res, log := f.runLogged()
	f.mustSucceed(res)
	c, err := f.configMap("rel-config")
	if err != nil {
		t.Fatal(err)
	}
	if c.Data["fromFile"] != sopsPlaintexts[0] || c.Data["fromSecret"] != sopsPlaintexts[1] {
		t.Errorf("rel-config data = %v", c.Data)
	}
	// The applied ConfigMap holds the values by design; nothing else may.
	checkNoPlaintext(t, writings(t, f, log, res, "rel-config"))
}

// TestSOPSFluxKustomization: a Flux Kustomization unit with decryption
// applies its encrypted Secret decrypted; a sibling unit without
// decryption that reads an encrypted file fails and applies nothing, and
// the other unit is not held up by it.
func TestSOPSFluxKustomization(t *testing.T) {
	k := newSOPSKeys(t)
	secret := encYAML(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: unit-secret}\nstringData:\n  password: "+sopsPlaintexts[0]+"\n", k.ageOpts())
	f := newFluxSync(t, map[string]string{
		"clusters/test/flux-system/gotk-sync.yaml": ownRepository,
		"clusters/test/units.yaml": kustomization("secrets", "./secrets",
			"  decryption:\n    provider: sops\n    secretRef: {name: sops-keys}\n") +
			kustomization("nokeys", "./nokeys", ""),
		"nokeys/cm.yaml": cm("nokeys", "1"),
	})
	// Committed apart: newFluxSync replaces "NS" in its files, which
	// would change the ciphertext.
	f.commit(map[string]string{"secrets/secret.yaml": secret, "nokeys/secret.yaml": secret})
	createSecret(t, f.ns, "sops-keys", k.data)
	res, log := f.runLogged()
	got := units(res)
	ks := func(name string) string { return "Kustomization/" + f.ns + "/" + name }
	if u := got[ks("secrets")]; u.Outcome != Succeeded {
		t.Errorf("secrets: %s (%s)", u.Outcome, u.Message)
	}
	if u := got[ks("nokeys")]; u.Outcome != Failed || !strings.Contains(u.Message, "nokeys/secret.yaml: decryption required") {
		t.Errorf("nokeys: %s (%s)", u.Outcome, u.Message)
	}
	s, err := env.Client().CoreV1().Secrets(f.ns).Get(t.Context(), "unit-secret", metav1.GetOptions{})
	if err != nil || string(s.Data["password"]) != sopsPlaintexts[0] {
		t.Errorf("unit-secret: %v, %v", s, err)
	}
	f.mustNotHave("nokeys")
	checkNoPlaintext(t, writings(t, f, log, res))
}

// unitSyncKeys is a unit's decryption without a secretRef: Flux's
// controller-level keys, which gitsync takes from the sync.
const unitSyncKeys = "  decryption:\n    provider: sops\n"

// syncKeysHint is what a unit falling back to a sync without decryption
// says to configure.
const syncKeysHint = "give the Kustomization a decryption.secretRef, or the sync a spec.decryption"

// TestSOPSFluxKustomizationSyncKeys: a Flux Kustomization whose decryption
// has no secretRef decrypts with the keys of the sync's spec.decryption,
// as kustomize-controller does with its controller-level keys, and new
// keys make it render again.
func TestSOPSFluxKustomizationSyncKeys(t *testing.T) {
	k := newSOPSKeys(t)
	f := newFluxSync(t, map[string]string{
		"clusters/test/flux-system/gotk-sync.yaml": ownRepository,
		"clusters/test/units.yaml":                 kustomization("fallback", "./fallback", unitSyncKeys),
	})
	f.commit(map[string]string{"fallback/secret.yaml": encYAML(t,
		"apiVersion: v1\nkind: Secret\nmetadata: {name: unit-secret}\nstringData:\n  password: "+sopsPlaintexts[0]+"\n", k.ageOpts())})
	createSecret(t, f.ns, "sops-keys", k.data)
	f.writeSpec(fluxSyncDoc(f, sopsDecryption))
	unit := "Kustomization/" + f.ns + "/fallback"

	res, log := f.runLogged()
	mustUnitsSucceed(t, res)
	if u := units(res)[unit]; u.Outcome != Succeeded || !u.Rendered {
		t.Fatalf("fallback: %s, rendered %t (%s)", u.Outcome, u.Rendered, u.Message)
	}
	s, err := env.Client().CoreV1().Secrets(f.ns).Get(t.Context(), "unit-secret", metav1.GetOptions{})
	if err != nil || string(s.Data["password"]) != sopsPlaintexts[0] {
		t.Fatalf("unit-secret: %v, %v; want it applied decrypted", s, err)
	}
	checkNoPlaintext(t, writings(t, f, log, res))

	if u := units(f.run())[unit]; u.Outcome != Succeeded || u.Rendered {
		t.Errorf("nothing changed: %s, rendered %t (%s); want it up to date", u.Outcome, u.Rendered, u.Message)
	}
	// Another key in the sync's Secret: the unit's inputs changed.
	more := newSOPSKeys(t)
	if _, err := env.Client().CoreV1().Secrets(f.ns).Patch(t.Context(), "sops-keys", types.MergePatchType,
		[]byte(fmt.Sprintf(`{"stringData":{"more.agekey":%q}}`, more.id.String())), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if u := units(f.run())[unit]; u.Outcome != Succeeded || !u.Rendered {
		t.Errorf("new keys: %s, rendered %t (%s); want it rendered again", u.Outcome, u.Rendered, u.Message)
	}
}

// TestSOPSFluxKustomizationNoSyncKeys: a Kustomization whose decryption
// has no secretRef, in a sync without decryption, has no keys: its
// encrypted file fails the render, naming the file and what to configure;
// a unit without decryption at all fails as it always did.
func TestSOPSFluxKustomizationNoSyncKeys(t *testing.T) {
	k := newSOPSKeys(t)
	secret := encYAML(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: unit-secret}\nstringData:\n  password: "+sopsPlaintexts[0]+"\n", k.ageOpts())
	f := newFluxSync(t, map[string]string{
		"clusters/test/flux-system/gotk-sync.yaml": ownRepository,
		"clusters/test/units.yaml": kustomization("fallback", "./fallback", unitSyncKeys) +
			kustomization("nodecryption", "./nodecryption", ""),
	})
	f.commit(map[string]string{"fallback/secret.yaml": secret, "nodecryption/secret.yaml": secret})
	res, log := f.runLogged()
	if res.Outcome != Failed {
		t.Fatalf("run %s, want Failed", res.Outcome)
	}
	got := units(res)
	u := got["Kustomization/"+f.ns+"/fallback"]
	for _, w := range []string{"fallback/secret.yaml: decryption required", "no secretRef", syncKeysHint} {
		if u.Outcome != Failed || !strings.Contains(u.Message, w) {
			t.Errorf("fallback: %s %q; want Failed, saying %q", u.Outcome, u.Message, w)
		}
	}
	t.Logf("the unit said: %s", u.Message)
	u = got["Kustomization/"+f.ns+"/nodecryption"]
	if u.Outcome != Failed || !strings.Contains(u.Message, "nodecryption/secret.yaml: decryption required") ||
		strings.Contains(u.Message, "secretRef") {
		t.Errorf("nodecryption: %s %q; want Failed, naming the file and no secretRef", u.Outcome, u.Message)
	}
	if _, err := env.Client().CoreV1().Secrets(f.ns).Get(t.Context(), "unit-secret", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Secret unit-secret: %v, want NotFound", err)
	}
	checkNoPlaintext(t, writings(t, f, log, res))
}

// TestSOPSFluxKustomizationSyncKeysLockdown: in a namespace locked down
// against cross-namespace references, a Kustomization of another
// namespace may not fall back to the sync's keys (they would decrypt for
// that namespace); one of the sync's namespace still does. Without the
// lockdown both decrypt.
func TestSOPSFluxKustomizationSyncKeysLockdown(t *testing.T) {
	k := newSOPSKeys(t)
	other := env.NewNamespace(t)
	secret := func(name string) string {
		return encYAML(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: "+name+"}\nstringData:\n  password: "+sopsPlaintexts[0]+"\n", k.ageOpts())
	}
	f := newFluxSync(t, map[string]string{
		"clusters/test/flux-system/gotk-sync.yaml": ownRepository,
		"clusters/test/units.yaml":                 kustomization("local", "./local", unitSyncKeys),
	})
	// The other namespace's unit reads a GitRepository of its own
	// namespace, so that only its decryption crosses namespaces.
	f.commit(map[string]string{
		"local/secret.yaml":  secret("local-secret"),
		"remote/secret.yaml": secret("remote-secret"),
		"clusters/test/remote.yaml": fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: fleet, namespace: %[1]s}
spec:
  interval: 1m
  url: %[2]s
  ref: {branch: main}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: remote, namespace: %[1]s}
spec:
  interval: 10m
  path: ./remote
  prune: true
  targetNamespace: %[1]s
  sourceRef: {kind: GitRepository, name: fleet}
%[3]s`, other, f.git.HTTPURL("app"), unitSyncKeys),
	})
	createSecret(t, f.ns, "sops-keys", k.data)
	f.writeSpec(fluxSyncDoc(f, sopsDecryption))
	lock := func(p lockdown.Policy) {
		t.Helper()
		patch, err := p.MergePatch()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.Client().CoreV1().Namespaces().Patch(t.Context(), f.ns, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	local, remote := "Kustomization/"+f.ns+"/local", "Kustomization/"+other+"/remote"

	lock(lockdown.Policy{NoCrossNamespaceRefs: true})
	res, log := f.runLogged()
	got := units(res)
	if u := got[local]; u.Outcome != Succeeded {
		t.Errorf("local: %s (%s); want Succeeded", u.Outcome, u.Message)
	}
	u := got[remote]
	for _, w := range []string{remote, "spec.decryption (no secretRef: the sync's spec.decryption): refused",
		"namespace " + other, lockdown.AnnotationNoCrossNamespaceRefs, "decryption.secretRef"} {
		if u.Outcome != Failed || !strings.Contains(u.Message, w) {
			t.Errorf("remote: %s %q; want Failed, saying %q", u.Outcome, u.Message, w)
		}
	}
	t.Logf("the unit said: %s", u.Message)
	if _, err := env.Client().CoreV1().Secrets(other).Get(t.Context(), "remote-secret", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Secret remote-secret: %v, want NotFound", err)
	}
	checkNoPlaintext(t, writings(t, f, log, res, "local-secret"))

	lock(lockdown.Policy{})
	got = units(f.run())
	for _, id := range []string{local, remote} {
		if u := got[id]; u.Outcome != Succeeded {
			t.Errorf("without the lockdown, %s: %s (%s); want Succeeded", id, u.Outcome, u.Message)
		}
	}
	s, err := env.Client().CoreV1().Secrets(other).Get(t.Context(), "remote-secret", metav1.GetOptions{})
	if err != nil || string(s.Data["password"]) != sopsPlaintexts[0] {
		t.Errorf("without the lockdown, remote-secret: %v, %v; want it applied decrypted", s, err)
	}
}
