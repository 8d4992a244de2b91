package syncrun

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/tests/gitserver"
)

// TestDriftFromStoredRender checks that a drift correction applies the last
// render from the stored render Secret without fetching the source, and
// that an entry that does not hash to the last applied render is not
// trusted: the run renders instead, and applies Git's objects.
func TestDriftFromStoredRender(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	svc := "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 8080\n    targetPort: 80\n"
	secret := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  password: hunter2-stored\n"
	f.commit(map[string]string{"deploy/a.yaml": cm("a", "git"), "deploy/b.yaml": cm("b", "git"), "deploy/svc.yaml": svc, "deploy/secret.yaml": secret})
	f.install(f.git.HTTPURL("app"), "", "")
	f.mustSucceed(f.run())

	secrets := env.Client().CoreV1().Secrets(f.ns)
	stored, err := secrets.Get(t.Context(), names.Render(f.name), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the first run stored no render: %v", err)
	}
	if stored.Labels[inventory.LabelSync] != f.name || stored.Labels[inventory.LabelKind] != kindRender || stored.Type != corev1.SecretTypeOpaque {
		t.Errorf("stored render Secret: labels %v, type %s", stored.Labels, stored.Type)
	}
	if _, ok := stored.Data[f.name]; !ok || len(stored.Data) != 1 {
		t.Fatalf("stored render keys: %v, want only %q", keys(stored.Data), f.name)
	}

	drift := func() {
		t.Helper()
		cms := env.Client().CoreV1().ConfigMaps(f.ns)
		a, err := f.configMap("a")
		if err != nil {
			t.Fatal(err)
		}
		a.Data["value"] = "edited"
		if _, err := cms.Update(t.Context(), a, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
			t.Fatal(err)
		}
		if err := cms.Delete(t.Context(), "b", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		s, err := env.Client().CoreV1().Services(f.ns).Get(t.Context(), "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s.Spec.Ports[0].TargetPort = intstr.FromInt32(81)
		if _, err := env.Client().CoreV1().Services(f.ns).Update(t.Context(), s, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
			t.Fatal(err)
		}
		for _, r := range []string{"configmaps", "services"} {
			if err := env.WatchCacheCaughtUp(t.Context(), schema.GroupVersionResource{Version: "v1", Resource: r}, f.ns); err != nil {
				t.Fatal(err)
			}
		}
	}
	corrected := func(res *Result) {
		t.Helper()
		f.mustSucceed(res)
		if len(res.Drifted) != 3 || !res.Rendered {
			t.Errorf("drifted %v, rendered %v; want a, b and the Service, rendered", res.Drifted, res.Rendered)
		}
		if v := f.configMapData("a")["value"]; v != "git" {
			t.Errorf("a = %q, want Git's value", v)
		}
		f.mustHave("b")
		s, err := env.Client().CoreV1().Services(f.ns).Get(t.Context(), "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p := s.Spec.Ports; len(p) != 1 || p[0].Port != 8080 || p[0].TargetPort.IntValue() != 80 {
			t.Errorf("Service ports %+v, want Git's 8080 → 80", p)
		}
		if strings.Contains(res.Message, "hunter2-stored") {
			t.Errorf("the message reveals the stored Secret's value: %s", res.Message)
		}
	}

	// The correction comes from the stored render: no upload-pack.
	drift()
	before := f.git.Stats().HTTPUploadPacks
	res := f.run()
	corrected(res)
	if !res.RenderStored {
		t.Error("the drift correction did not use the stored render")
	}
	if n := f.git.Stats().HTTPUploadPacks - before; n != 0 {
		t.Errorf("the drift correction fetched the source (%d upload-packs)", n)
	}
	// It wrote nothing to the stored render.
	again, err := secrets.Get(t.Context(), names.Render(f.name), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again.ResourceVersion != stored.ResourceVersion {
		t.Error("a correction from the stored render rewrote it")
	}

	// An altered entry: a's value changed in the stored objects. Its lines
	// no longer hash to the last applied render, so the run renders from
	// Git, and applies Git's value.
	raw, err := gunzip(again.Data[f.name])
	if err != nil {
		t.Fatal(err)
	}
	altered := bytes.Replace(raw, []byte(`"value":"git"`), []byte(`"value":"stored"`), 1)
	if bytes.Equal(altered, raw) {
		t.Fatalf("the stored objects do not hold a's value: %s", raw)
	}
	zipped, err := gzipBytes(altered)
	if err != nil {
		t.Fatal(err)
	}
	again.Data[f.name] = zipped
	if _, err := secrets.Update(t.Context(), again, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	drift()
	before = f.git.Stats().HTTPUploadPacks
	res = f.run()
	corrected(res)
	if res.RenderStored {
		t.Error("an altered stored render was used")
	}
	if f.git.Stats().HTTPUploadPacks == before {
		t.Error("the run did not fetch the source")
	}

	// A new commit stores its render: the next correction uses it.
	f.commit(map[string]string{"deploy/c.yaml": cm("c", "git")})
	f.mustSucceed(f.run())
	drift()
	res = f.run()
	corrected(res)
	if !res.RenderStored {
		t.Error("the correction after a new commit did not use its stored render")
	}
	f.mustHave("c")
}

// TestStoredRenderEntry checks an entry's encoding: what it decodes to, and
// the entries it refuses.
func TestStoredRenderEntry(t *testing.T) {
	objs := [][]byte{
		[]byte(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"web"},"spec":{"ports":[{"port":8080}]}}` + "\n"),
		[]byte(`{"apiVersion":"v1","data":{"k":"v"},"kind":"ConfigMap","metadata":{"name":"a"}}` + "\n"),
	}
	digest := digestOf(objs)
	h := storedRenderHeader{SetDigest: digest, Objects: 2, Sources: []string{"svc.yaml", "a.yaml"}, Inputs: []string{"."}, InputsDigest: "sha256:1"}
	raw, err := encodeStoredRender(h, objs)
	if err != nil {
		t.Fatal(err)
	}
	rnd, err := decodeStoredRender(raw, digest)
	if err != nil {
		t.Fatal(err)
	}
	if len(rnd.objects) != 2 || rnd.objects[1].GetName() != "a" || rnd.digest != digest || rnd.sources[0] != "svc.yaml" || rnd.inputsDigest != "sha256:1" {
		t.Errorf("decoded %+v", rnd)
	}
	// Integers stay integers, as the API machinery decodes them.
	ports := rnd.objects[0].Object["spec"].(map[string]any)["ports"].([]any)
	if p, ok := ports[0].(map[string]any)["port"].(int64); !ok || p != 8080 {
		t.Errorf("port decoded as %T %v", ports[0].(map[string]any)["port"], ports[0].(map[string]any)["port"])
	}

	for name, tc := range map[string]struct {
		raw  func() []byte
		want string
	}{
		"another render": {func() []byte { return raw }, "not the last applied"},
		"objects changed": {func() []byte {
			b, _ := encodeStoredRender(storedRenderHeader{SetDigest: "sha256:other", Objects: 2}, objs)
			return b
		}, "hash to"},
		"an object left out": {func() []byte {
			b, _ := encodeStoredRender(storedRenderHeader{SetDigest: digestOf(objs[:1]), Objects: 2}, objs[:1])
			return b
		}, "the header says 2"},
		"not gzip": {func() []byte { return []byte("{}") }, "inflate"},
	} {
		want := "sha256:other"
		if name == "an object left out" {
			want = digestOf(objs[:1])
		}
		_, err := decodeStoredRender(tc.raw(), want)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, tc.want)
		}
	}
}

func digestOf(objs [][]byte) string {
	sum := sha256.Sum256(bytes.Join(objs, nil))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestStoredRenderWithInstallRights runs a namespace-mode sync as the
// ServiceAccount install creates, applying to another namespace: the run
// stores its render with the own Role's rights (a create by name, through
// server-side apply), which grant no other Secret.
func TestStoredRenderWithInstallRights(t *testing.T) {
	ns, target := env.NewNamespace(t), env.NewNamespace(t)
	git, _ := appRepo(t, map[string]string{"deploy/a.yaml": cm("a", "git")})
	cfg := installSync(t, env, syncDoc(ns, git.HTTPURL("app"), "  targetNamespace: "+target+"\n"))
	run := func() *Result {
		t.Helper()
		res, err := Run(t.Context(), Options{Name: "app", Namespace: ns, Config: cfg, NamespaceScoped: true,
			Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if res.Outcome != Succeeded {
			t.Fatalf("run %s: %v", res.Outcome, res.Err)
		}
		return res
	}
	run()
	if _, err := env.Client().CoreV1().Secrets(ns).Get(t.Context(), names.Render("app"), metav1.GetOptions{}); err != nil {
		t.Fatalf("the run stored no render: %v", err)
	}
	cms := env.Client().CoreV1().ConfigMaps(target)
	if err := cms.Delete(t.Context(), "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := env.WatchCacheCaughtUp(t.Context(), schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, target); err != nil {
		t.Fatal(err)
	}
	if res := run(); !res.RenderStored || len(res.Drifted) != 1 {
		t.Errorf("drifted %v, from the stored render %v; want a, from it", res.Drifted, res.RenderStored)
	}
	if _, err := cms.Get(t.Context(), "a", metav1.GetOptions{}); err != nil {
		t.Errorf("a not restored: %v", err)
	}

	// The job's identity creates no other Secret, by name or not.
	as, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	other := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: names.Render("other")}}
	if _, err := as.CoreV1().Secrets(ns).Create(t.Context(), other, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("create of Secret %s as the job: %v, want Forbidden", other.Name, err)
	}
	body := []byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"` + other.Name + `"}}`)
	if _, err := as.CoreV1().Secrets(ns).Patch(t.Context(), other.Name, types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: "x"}); !apierrors.IsForbidden(err) {
		t.Errorf("apply of Secret %s as the job: %v, want Forbidden", other.Name, err)
	}
}
