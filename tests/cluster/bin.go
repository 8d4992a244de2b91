package cluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gitsync/gitsync/tests/internal/gomod"
)

// modulePath is the module whose go.mod marks the repository root.
const modulePath = "github.com/gitsync/gitsync"

// TestbinEnv names the environment variable that, when set, is the directory
// holding the test cluster's binaries, instead of
// <repo>/.cache/testbin/<kubernetes version>.
const TestbinEnv = "GITSYNC_TESTBIN"

// RepoRoot walks up from the working directory to the directory whose go.mod
// declares module github.com/gitsync/gitsync.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if declaresModule(filepath.Join(dir, "go.mod"), modulePath) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod declaring module %s above the working directory", modulePath)
		}
		dir = parent
	}
}

func declaresModule(gomod, module string) bool {
	b, err := os.ReadFile(gomod)
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(b)) {
		fields := strings.Fields(line)
		if len(fields) == 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == module
		}
	}
	return false
}

// KubernetesVersion reads the k8s.io/kubernetes version pinned in
// tests/testbin/go.mod under the repository root.
func KubernetesVersion(root string) (string, error) {
	return gomod.Required(filepath.Join(root, "tests", "testbin", "go.mod"), "k8s.io/kubernetes")
}

// TestbinDir returns the directory of the cluster's binaries: $GITSYNC_TESTBIN
// if set, else <repo>/.cache/testbin/<kubernetes version>.
func TestbinDir() (string, error) {
	if dir := os.Getenv(TestbinEnv); dir != "" {
		return filepath.Abs(dir)
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	version, err := KubernetesVersion(root)
	if err != nil {
		return "", err
	}
	return filepath.Join(root, ".cache", "testbin", version), nil
}

// findBinaries resolves each name to an executable in the testbin directory.
func findBinaries(names ...string) (map[string]string, error) {
	dir, err := TestbinDir()
	if err != nil {
		return nil, fmt.Errorf("locating test binaries: %w (run `make testbin`, or set %s)", err, TestbinEnv)
	}
	paths := make(map[string]string, len(names))
	var missing []string
	for _, name := range names {
		p := filepath.Join(dir, name)
		st, err := os.Stat(p)
		if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			missing = append(missing, name)
			continue
		}
		paths[name] = p
	}
	if len(missing) > 0 {
		return nil, errors.New(dir + ": missing " + strings.Join(missing, ", ") +
			": run `make testbin` to build the test cluster's binaries (or set " + TestbinEnv + " to a directory holding them)")
	}
	return paths, nil
}
