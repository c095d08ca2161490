package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

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

// ReadCRD reads a CRD from a YAML file and adds labels: CRD bases in a
// provider's module lack the contract labels its kustomization adds (for
// example cluster.x-k8s.io/v1beta2: v1beta2).
func ReadCRD(path string, labels map[string]string) (*apiextensionsv1.CustomResourceDefinition, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading CRD: %w", err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict(data, crd); err != nil {
		return nil, fmt.Errorf("parsing CRD %s: %w", filepath.Base(path), err)
	}
	if crd.Labels == nil {
		crd.Labels = map[string]string{}
	}
	for k, v := range labels {
		crd.Labels[k] = v
	}
	return crd, nil
}

// InstallCRDs installs CRDs and waits until they are served.
func (m *Management) InstallCRDs(crds ...*apiextensionsv1.CustomResourceDefinition) error {
	if _, err := envtest.InstallCRDs(m.Config, envtest.CRDInstallOptions{CRDs: crds, MaxTime: time.Minute, PollInterval: 100 * time.Millisecond}); err != nil {
		return fmt.Errorf("installing CRDs: %w", err)
	}
	return nil
}
