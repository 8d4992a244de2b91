package cluster

import (
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNamespaceName(t *testing.T) {
	valid := regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	tests := []struct {
		testName, wantPrefix string
	}{
		{"TestApply", "testapply-"},
		{"TestApply/sub_test#01", "testapply-sub-test-01-"},
		{"Test--Odd  NAME/", "test-odd-name-"},
		{"////", "test-"},
		{"TestAVeryLongNameThatGoesOnAndOnAndOnAndOnAndOnAndOnAndOn/x", "testaverylongnamethatgoesonandonandonandonandonand-"},
	}
	for _, tt := range tests {
		t.Run(tt.testName, func(t *testing.T) {
			got := namespaceName(tt.testName)
			if !valid.MatchString(got) || len(got) > 63 {
				t.Errorf("namespaceName(%q) = %q: not a valid namespace name", tt.testName, got)
			}
			if len(got) != len(tt.wantPrefix)+6 || got[:len(tt.wantPrefix)] != tt.wantPrefix {
				t.Errorf("namespaceName(%q) = %q, want %q and 6 random characters", tt.testName, got, tt.wantPrefix)
			}
		})
	}
	if a, b := namespaceName("T"), namespaceName("T"); a == b {
		t.Errorf("two calls gave the same name %q", a)
	}
}

func TestSplitRule(t *testing.T) {
	tests := []struct {
		line string
		want []string
	}{
		{`-N KUBE-SERVICES`, []string{"-N", "KUBE-SERVICES"}},
		{`-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`,
			[]string{"-A", "OUTPUT", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"}},
		{`-A X -m comment --comment "say \"hi\"" -j ACCEPT`, []string{"-A", "X", "-m", "comment", "--comment", `say "hi"`, "-j", "ACCEPT"}},
		{`-A X -m comment --comment "" -j ACCEPT`, []string{"-A", "X", "-m", "comment", "--comment", "", "-j", "ACCEPT"}},
		{``, nil},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, splitRule(tt.line)); diff != "" {
			t.Errorf("splitRule(%q) (-want +got):\n%s", tt.line, diff)
		}
	}
}

func TestHexIPv4(t *testing.T) {
	tests := map[string]string{
		"0002000A": "10.0.2.0",
		"0100007F": "127.0.0.1",
		"00FFFFFF": "255.255.255.0",
	}
	for in, want := range tests {
		got, err := hexIPv4(in)
		if err != nil || got != netip.MustParseAddr(want) {
			t.Errorf("hexIPv4(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
}

func TestKubernetesVersion(t *testing.T) {
	tests := []struct {
		gomod, want string
	}{
		{"module x\n\nrequire (\n\tgo.etcd.io/etcd/server/v3 v3.7.0\n\tk8s.io/kubernetes v1.37.2\n)\n", "v1.37.2"},
		{"module x\nrequire k8s.io/kubernetes v1.36.0\n", "v1.36.0"},
		{"module x\n", ""},
	}
	for _, tt := range tests {
		root := t.TempDir()
		if err := os.MkdirAll(filepath.Join(root, "tests", "testbin"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "tests", "testbin", "go.mod"), []byte(tt.gomod), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := KubernetesVersion(root)
		if (err != nil) != (tt.want == "") || got != tt.want {
			t.Errorf("KubernetesVersion(%q) = %q, %v; want %q", tt.gomod, got, err, tt.want)
		}
	}
}

func TestFirstServiceIP(t *testing.T) {
	got, err := firstServiceIP("10.217.43.0/24")
	if err != nil || got.String() != "10.217.43.1" {
		t.Errorf("firstServiceIP = %v, %v; want 10.217.43.1", got, err)
	}
	if _, err := firstServiceIP("nonsense"); err == nil {
		t.Error("firstServiceIP(nonsense): no error")
	}
}
