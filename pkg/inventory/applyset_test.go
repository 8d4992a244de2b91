package inventory

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/gitsync/gitsync/pkg/object"
)

func TestApplySetID(t *testing.T) {
	tests := []struct {
		name, namespace string
		// want was computed outside Go, with Python's hashlib and
		// base64.urlsafe_b64encode, from "<name>.<namespace>.ConfigMap."
		// with the "=" padding stripped (KEP-3659: base64url of the sha256
		// of name.namespace.kind.group, group empty for ConfigMap).
		want string
	}{
		{"gitsync-web-inventory", "apps", "applyset--CzF-evMWHTmV8cyuWmOFxleE22By0OAtH6YePnYEMg-v1"},
		{"gitsync-infra-inventory", "flux-system", "applyset-wbYWdeduPkkC6LhRco9UPHIXYYvD-uSmlAv7QK2gRY0-v1"},
		{"my-set", "default", "applyset-DaObTxGT41gT7jz9wyulA3kuIrhUKfuOcjAfLI6wcmQ-v1"},
		{"e", "f", "applyset-2t3nOhpAzhVpA_RZF-GIivSCFE12wjKFoR9Qc5wA2Fs-v1"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"."+tt.namespace, func(t *testing.T) {
			got := ApplySetID(tt.name, tt.namespace)
			if got != tt.want {
				t.Errorf("ApplySetID(%q, %q) = %q, want %q", tt.name, tt.namespace, got, tt.want)
			}
			// Derive it a second way: standard base64 with the URL-safe
			// substitutions and the padding removed by hand.
			sum := sha256.Sum256([]byte(strings.Join([]string{tt.name, tt.namespace, "ConfigMap", ""}, ".")))
			std := base64.StdEncoding.EncodeToString(sum[:])
			manual := "applyset-" + strings.NewReplacer("+", "-", "/", "_", "=", "").Replace(std) + "-v1"
			if got != manual {
				t.Errorf("ApplySetID = %q, derived by hand %q (sha256 %s)", got, manual, hex.EncodeToString(sum[:]))
			}
			if len(got) > 63 {
				t.Errorf("ApplySetID is %d characters, longer than a label value may be", len(got))
			}
		})
	}
}

func TestApplySetAnnotations(t *testing.T) {
	e := func(group, kind, ns, name string) Entry {
		return Entry{ID: object.ID{Group: group, Kind: kind, Namespace: ns, Name: name}}
	}
	tests := []struct {
		name       string
		entries    []Entry
		wantGKs    string
		wantExtraN string
	}{
		{name: "empty"},
		{
			name: "mixed",
			entries: []Entry{
				e("apps", "Deployment", "web", "a"),
				e("", "ConfigMap", "web", "b"),
				e("", "Service", "db", "c"),
				e("apps", "Deployment", "db", "d"),
				e("cert-manager.io", "Certificate", "web", "e"),
				e("rbac.authorization.k8s.io", "ClusterRole", "", "f"),
				e("", "Namespace", "", "db"),
				e("", "ConfigMap", "apps", "g"),
			},
			// Sorted as strings, as kubectl does: upper-case kinds, the
			// core group without a suffix.
			wantGKs:    "Certificate.cert-manager.io,ClusterRole.rbac.authorization.k8s.io,ConfigMap,Deployment.apps,Namespace,Service",
			wantExtraN: "db,web",
		},
		{
			name:    "only the parent's namespace",
			entries: []Entry{e("", "ConfigMap", "apps", "a"), e("", "Secret", "apps", "b")},
			wantGKs: "ConfigMap,Secret",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := GroupKinds(tt.entries); got != tt.wantGKs {
				t.Errorf("GroupKinds = %q, want %q", got, tt.wantGKs)
			}
			if got := AdditionalNamespaces(tt.entries, "apps"); got != tt.wantExtraN {
				t.Errorf("AdditionalNamespaces = %q, want %q", got, tt.wantExtraN)
			}
		})
	}
}
