package sops_test

import (
	"maps"
	"testing"

	"filippo.io/age"

	"github.com/gitsync/gitsync/pkg/sops"
)

// TestKeysData: Data hands back what ParseKeys parsed (a copy: changing
// the Secret's map later does not change the Keys), so a child process can
// parse the same keys; Keys not made by ParseKeys have none.
func TestKeysData(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	in := map[string][]byte{"k.agekey": []byte(id.String() + "\n"), "other.txt": []byte("ignored")}
	k, err := sops.ParseKeys(in)
	if err != nil {
		t.Fatal(err)
	}
	want := maps.Clone(in)
	in["k.agekey"] = []byte("changed")
	got := k.Data()
	if len(got) != len(want) || string(got["k.agekey"]) != string(want["k.agekey"]) || string(got["other.txt"]) != "ignored" {
		t.Errorf("Data() = %d entries, k.agekey changed: %v", len(got), string(got["k.agekey"]) != string(want["k.agekey"]))
	}
	again, err := sops.ParseKeys(got)
	if err != nil || again.Empty() {
		t.Errorf("parsing Data() again: %v, empty %v", err, again.Empty())
	}
	var none *sops.Keys
	if none.Data() != nil || (&sops.Keys{}).Data() != nil {
		t.Error("Keys not made by ParseKeys have Data")
	}
}
