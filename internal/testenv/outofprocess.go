package testenv

import (
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// What a provider running as its own process (the benchmark's) needs from
// a management cluster: an identity of its own, and a certificate to serve
// its webhooks with.

// AddAdmin creates a client certificate identity in system:masters and
// returns a kubeconfig for it, so that a separate process (a provider under
// measurement, for example) shows up in the API server's audit log under
// its own name.
func (m *Management) AddAdmin(name string) ([]byte, error) {
	user, err := m.env.AddUser(envtest.User{Name: name, Groups: []string{"system:masters"}}, m.Config)
	if err != nil {
		return nil, fmt.Errorf("adding user %s: %w", name, err)
	}
	return user.KubeConfig()
}

// WebhookCertDir holds a serving certificate (tls.crt, tls.key) that a
// provider process can serve its webhooks with.
func (m *Management) WebhookCertDir() string {
	return m.env.WebhookInstallOptions.LocalServingCertDir
}
