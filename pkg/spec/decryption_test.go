package spec

import (
	"slices"
	"strings"
	"testing"
)

func TestDecryption(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []string // nil: valid
	}{
		{"valid", "decryption: {provider: sops, secretRef: {name: sops-keys}}", nil},
		{"no provider", "decryption: {secretRef: {name: k}}", []string{
			`spec.decryption.provider: Required value: must be sops`}},
		{"other provider", "decryption: {provider: vault, secretRef: {name: k}}", []string{
			`spec.decryption.provider: Unsupported value: "vault": supported values: "sops"`}},
		{"no secretRef", "decryption: {provider: sops}", []string{
			`spec.decryption.secretRef: Required value: the Secret holding the age (*.agekey) or OpenPGP (*.asc) private keys`}},
		{"bad secret name", "decryption: {provider: sops, secretRef: {name: Keys!}}", []string{
			`spec.decryption.secretRef.name: Invalid value: "Keys!"`}},
		{"flux serviceAccountName", "decryption: {provider: sops, secretRef: {name: k}, serviceAccountName: kms}", []string{
			`spec.decryption.serviceAccountName: Forbidden: unknown field (cloud key services are not supported`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse([]byte(syncDoc(okSource + tc.body)))
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if d := s.Spec.Decryption; d == nil || d.Provider != "sops" || d.SecretRef.Name != "sops-keys" {
					t.Errorf("Decryption = %+v", d)
				}
				// The generated RBAC lets the job read the keys.
				if names := s.SecretNames(); !slices.Contains(names, "sops-keys") {
					t.Errorf("SecretNames = %v, want sops-keys", names)
				}
				return
			}
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
