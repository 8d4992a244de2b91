package names

import (
	"strings"
	"testing"
)

func TestNames(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{Spec("web"), "gitsync-web"},
		{CronJob("web"), "gitsync-web"},
		{ServiceAccount("web"), "gitsync-web"},
		{OwnRole("web"), "gitsync-web"},
		{Lease("web"), "gitsync-web"},
		{Inventory("web"), "gitsync-web-inventory"},
		{History("web", 12), "gitsync-web-rev-12"},
		{Applier("team-a", "web"), "gitsync:team-a:web"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	if MaxSyncName+len(CronJob("")) != MaxCronJobName {
		t.Errorf("MaxSyncName %d does not fill a CronJob name of %d", MaxSyncName, MaxCronJobName)
	}
	for name, want := range map[string]string{"gitsync-web": "web", "gitsync-": "", "other": ""} {
		got, ok := SyncOfSpec(name)
		if got != want || ok != (want != "") {
			t.Errorf("SyncOfSpec(%q) = %q, %v", name, got, ok)
		}
	}
}

func TestValidate(t *testing.T) {
	for name, ok := range map[string]bool{
		"web": true, "web-2": true, "": false, "Web": false, "a/b": false, "web.prod": false,
		strings.Repeat("a", 44): true, strings.Repeat("a", 45): false,
	} {
		if err := Validate(name); (err == nil) != ok {
			t.Errorf("Validate(%q) = %v, want ok %v", name, err, ok)
		}
	}
}
