package cli

import (
	"testing"
)

func TestTreeGolden(t *testing.T) {
	ns, stable := seedGolden(t)
	ctx := t.Context()
	tests := []struct {
		name, golden string
		args         []string
	}{
		{"objects in several namespaces", "testdata/tree/web.txt", []string{"tree", "web"}},
		{"objects in the sync's namespace", "testdata/tree/api.txt", []string{"tree", "api"}},
		{"never ran", "testdata/tree/new.txt", []string{"tree", "new"}},
		{"json", "testdata/tree/web.json", []string{"tree", "web", "-o", "json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := gitsyncCLI(ctx, append(tt.args, "--kubeconfig", env.KubeconfigPath(), "-n", ns)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, errOut)
			}
			golden(t, tt.golden, stable(out))
		})
	}
}
