package sops

import (
	"slices"
	"testing"
)

// TestRevealed checks what decryption reveals per format: the decrypted
// scalars the encrypted file does not hold in clear, but for the names of
// the object; sorted and each once, whatever the order of the map.
func TestRevealed(t *testing.T) {
	for _, tc := range []struct {
		name             string
		format           Format
		encrypted, plain string
		want             []string
	}{
		{"yaml", YAML,
			"apiVersion: v1\nkind: Secret\nmetadata: {name: 'ENC[x]'}\nstringData: {b: 'ENC[1]', a: 'ENC[2]', c: 'ENC[3]', d: in-clear, e: 'ENC[4]'}\n",
			"apiVersion: v1\nkind: Secret\nmetadata: {name: web}\nstringData: {b: zulu, a: alpha, c: mike, d: in-clear, e: alpha}\n",
			[]string{"alpha", "mike", "zulu"}},
		{"json", JSON, `{"x": "ENC[1]", "y": "ENC[2]"}`, `{"x": "pw", "y": 8080}`, []string{"8080", "pw"}},
		{"dotenv", Dotenv, "", "B=two\nA=one\n", []string{"one\n", "two\n"}},
		{"binary", Binary, "", "blob", []string{"blob"}},
	} {
		for range 20 { // map order varies between runs
			if got := Revealed(tc.format, []byte(tc.encrypted), []byte(tc.plain)); !slices.Equal(got, tc.want) {
				t.Fatalf("%s: Revealed = %q, want %q", tc.name, got, tc.want)
			}
		}
	}
}
