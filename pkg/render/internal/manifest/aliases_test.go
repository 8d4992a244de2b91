package manifest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// bomb returns a YAML document whose anchors nest levels deep, each
// referring width times to the one before ("billion laughs").
func bomb(levels, width int) string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\nx:\n")
	b.WriteString("  l0: &l0 [" + strings.TrimSuffix(strings.Repeat(`"lol",`, width), ",") + "]\n")
	for i := 1; i < levels; i++ {
		refs := strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d,", i-1), width), ",")
		fmt.Fprintf(&b, "  l%d: &l%d [%s]\n", i, i, refs)
	}
	return b.String()
}

func TestCheckAliases(t *testing.T) {
	tests := []struct {
		name string
		data string
		bomb bool
	}{
		{name: "no aliases", data: "a: 1\nb: '*&'\n"},
		{name: "not YAML", data: "a: &x [\n*x"},
		{name: "ordinary anchors and merge keys", data: "base: &b {a: 1, b: 2}\none: {<<: *b, c: 3}\ntwo: {<<: *b}\n"},
		{name: "nine laughs nine deep", data: bomb(9, 9), bomb: true},
		{name: "sixty deep, counts saturate", data: bomb(60, 9), bomb: true},
		{name: "a bomb in the second document", data: "a: 1\n---\n" + bomb(8, 9), bomb: true},
		{name: "small expansion allowed", data: bomb(4, 9)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := CheckAliases([]byte(tc.data))
			if got := errors.Is(err, ErrAliasBomb); got != tc.bomb {
				t.Fatalf("CheckAliases: %v, want bomb=%v", err, tc.bomb)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}
