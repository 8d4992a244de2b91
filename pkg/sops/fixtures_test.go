package sops

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The files under testdata/getsops were written by the real sops CLI and
// are copied from github.com/getsops/sops (MPL-2.0) at commit
// 15e36f97a8641769712da76b64aec4ea566be81e: example.*, functional-tests/res/*
// and the functional tests' OpenPGP key pgp/sops_functional_tests_key.asc.
// They prove that this package reads what SOPS writes, including the MAC.
func sopsTestKeys(t *testing.T) *Keys {
	t.Helper()
	asc, err := os.ReadFile("testdata/getsops/sops_functional_tests_key.asc")
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseKeys(map[string][]byte{"sops.asc": asc})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSOPSFixtures(t *testing.T) {
	keys := sopsTestKeys(t)
	for _, tc := range []struct {
		file string
		want []string // substrings of the plaintext
	}{
		{"example.yaml", []string{"myapp1: t00m4nys3cr3tzupdated", "user: eve", "password: c4r1b0u",
			"- true\n", "- false\n", "# private key for secret operations in app2", "number: 1.234568e+09",
			"all: going to remain in clear text"}},
		{"example.json", []string{`"firstName": "John"`, `"age": 25.4`, `"number": "646 555-4567"`, `"anEmptyValue": ""`}},
		{"example.txt", nil},
		{"format.enc.yaml", []string{"foo: "}},
		{"format.enc.json", []string{`"foo"`}},
		{"format.enc.env", []string{"foo ="}},
		{"comments.enc.yaml", []string{"lorem: ", "dolor: "}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata/getsops", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			f := FormatFor(tc.file)
			if !IsEncrypted(f, data) {
				t.Fatalf("IsEncrypted(%s) = false", f)
			}
			out, err := Decrypt(f, data, keys)
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("plaintext lacks %q", w)
				}
			}
			if strings.Contains(string(out), "ENC[") || strings.Contains(string(out), "lastmodified") {
				t.Errorf("plaintext still holds ciphertext or metadata")
			}
		})
	}
}
