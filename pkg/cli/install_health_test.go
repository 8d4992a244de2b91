package cli

import (
	"strings"
	"testing"
)

// TestInstallHealthCheckExprs: install keeps a Sync's healthCheckExprs,
// and refuses a wrong expression before reaching the cluster, naming the
// file and the field path.
func TestInstallHealthCheckExprs(t *testing.T) {
	out, err := runCLI(t.Context(), "", "install", "-f", "testdata/install/health-exprs.yaml", "--export", "--kubeconfig", offline)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"healthCheckExprs:", "kind: Certificate",
		"current: status.conditions.filter(e, e.type == 'Ready')", "failed: status.conditions.filter(e, e.type == 'Ready')", "inProgress: status.conditions.filter(e, e.type == 'Issuing')"} {
		if !strings.Contains(out, want) {
			t.Errorf("exported Sync lacks %q:\n%s", want, out)
		}
	}

	_, err = runCLI(t.Context(), "", "install", "-f", "testdata/install/health-exprs-invalid.yaml",
		"--kubeconfig", offline, "--request-timeout", "1s")
	if err == nil {
		t.Fatal("a wrong expression was installed")
	}
	for _, want := range []string{
		"invalid Sync (2 errors):",
		"testdata/install/health-exprs-invalid.yaml: spec.healthCheckExprs[0].current: Invalid value: " +
			`"status.conditions.exist(e, e.type == 'Ready' && e.status == 'True')": ERROR: <input>:1:24: undeclared reference to 'exist'`,
		"testdata/install/health-exprs-invalid.yaml: spec.healthCheckExprs[1].failed: Invalid value: " +
			`"size(status.conditions)": the result is int, not a bool`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nwant it to contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("the server was contacted: %v", err)
	}
	if ExitCode(err) != ExitError {
		t.Errorf("exit code %d, want %d", ExitCode(err), ExitError)
	}
}
