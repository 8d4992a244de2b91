package syncrun

import (
	"fmt"
	"testing"

	"github.com/gitsync/gitsync/tests/s3test"
)

// TestIgnoreRulesOCI: an extracted OCI artifact is filtered like a Git
// checkout: what its .sourceignore files and spec.source.oci.ignore
// exclude is left out before render.
func TestIgnoreRulesOCI(t *testing.T) {
	f := newOCIFixture(t, nil)
	f.secret("registry", map[string]string{".dockerconfigjson": f.dockerConfig(regUser, regPassword), "ca.crt": string(f.reg.CA().CertPEM)})
	f.push(map[string]string{
		"deploy/a.yaml":        cm("a", "1"),
		"deploy/skipped.yaml":  cm("skipped", "1"),
		"deploy/dropped.yaml":  cm("dropped", "1"),
		"deploy/.sourceignore": "skipped.yaml\n",
	})
	f.installOCI(`      ignore: "/deploy/dropped.yaml"`)
	res := f.run()
	f.mustSucceed(res)
	f.mustHave("a")
	f.mustNotHave("skipped", "dropped")

	// Without spec.ignore the .sourceignore file still applies.
	f.installOCI("")
	res = f.run()
	f.mustSucceed(res)
	f.mustHave("a", "dropped")
	f.mustNotHave("skipped")
}

// TestIgnoreRulesBucket: a bucket's tree is filtered like a Git checkout.
func TestIgnoreRulesBucket(t *testing.T) {
	s3 := s3test.StartTest(t, s3test.Options{TLS: true})
	f := newBucketFixture(t, s3, "ignore", map[string]string{
		"deploy/a.yaml":        cm("a", "1"),
		"deploy/skipped.yaml":  cm("skipped", "1"),
		"deploy/dropped.yaml":  cm("dropped", "1"),
		"deploy/.sourceignore": "skipped.yaml\n",
	})
	f.writeSpec(fmt.Sprintf(`apiVersion: gitsync.io/v1alpha1
kind: Sync
metadata: {name: %s, namespace: %s}
spec:
  source:
    bucket:
      endpoint: %s
      bucketName: %s
      secretRef: {name: s3-keys}
      ignore: "/deploy/dropped.yaml"
  path: ./deploy
`, f.name, f.ns, f.s3.Endpoint(), f.bucket))
	res := f.run()
	f.mustSucceed(res)
	f.mustHave("a")
	f.mustNotHave("skipped", "dropped")
}
