package cli

import (
	"bytes"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// TestHelp checks that every command of this package's operations reads
// well in `kubectl gitsync --help`: a short line without a final period, an
// example in kubectl's style, and a Long text for the non-obvious ones.
func TestHelp(t *testing.T) {
	root := NewRootCommand(genericiooptions.IOStreams{In: &bytes.Buffer{}, Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}})
	mine := map[string]bool{"status": true, "history": true, "tree": true, "trace": true, "suspend": true,
		"resume": true, "uninstall": true, "check": true, "logs": true, "images": true}
	found := map[string]bool{}
	for _, cmd := range root.Commands() {
		if !mine[cmd.Name()] {
			continue
		}
		found[cmd.Name()] = true
		t.Run(cmd.Name(), func(t *testing.T) {
			if cmd.Short == "" || strings.HasSuffix(cmd.Short, ".") || cmd.Short[0] < 'A' || cmd.Short[0] > 'Z' {
				t.Errorf("Short %q", cmd.Short)
			}
			if cmd.Long == "" {
				t.Error("no Long")
			}
			if !strings.HasPrefix(cmd.Example, "  # ") || !strings.Contains(cmd.Example, "\n  kubectl gitsync "+cmd.Name()) {
				t.Errorf("Example not in kubectl's style:\n%s", cmd.Example)
			}
			if strings.Contains(cmd.Use, "NAME") && cmd.ValidArgsFunction == nil && cmd.Name() != "trace" {
				t.Error("takes NAME but does not complete it")
			}
			var out bytes.Buffer
			cmd.SetOut(&out)
			if err := cmd.Help(); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), "kubectl gitsync "+cmd.Name()) {
				t.Errorf("help does not show the command as a kubectl plugin:\n%s", out.String())
			}
		})
	}
	if len(found) != len(mine) {
		t.Errorf("commands registered: %v, want %v", found, mine)
	}
}
