package cli

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/gitsync/gitsync/pkg/spec"
)

const serviceAccountUsage = "ServiceAccount of the sync's namespace that applies, prunes and checks the sync's objects " +
	"(spec.serviceAccountName, impersonated); the sync's own ServiceAccount then only reads its spec and Secrets, " +
	"writes its state and may impersonate this one. It is not created: its rights are its administrator's"

// setServiceAccount sets spec.serviceAccountName from --service-account,
// from flags or over a Sync document that names the same one.
func (o *installOptions) setServiceAccount(s *spec.Sync) error {
	sa := o.ServiceAccount
	if sa == "" {
		return nil
	}
	if msgs := validation.IsDNS1123Subdomain(sa); len(msgs) > 0 {
		return fmt.Errorf("--service-account %q: %s", sa, strings.Join(msgs, "; "))
	}
	if cur := s.Spec.ServiceAccountName; cur != "" && cur != sa {
		return fmt.Errorf("--service-account %s: %s sets spec.serviceAccountName to %s", sa, o.Filename, cur)
	}
	s.Spec.ServiceAccountName = sa
	return nil
}
