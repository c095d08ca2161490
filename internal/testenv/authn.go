package testenv

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// clusterCAAuthn is envtest's client-certificate authentication with the
// workload cluster's own CA instead of a CA of envtest's: every client
// certificate the API server accepts, those it hands out to users here
// and those the controller manager signs for kubelets, chains to the CA
// the <cluster>-ca Secret publishes.
type clusterCAAuthn struct {
	ca     *clusterCA
	caFile string
}

var _ envtest.Authn = &clusterCAAuthn{}

func (a *clusterCAAuthn) Configure(workDir string, args *envtest.Arguments) error {
	a.caFile = filepath.Join(workDir, "client-ca.crt")
	args.Set("client-ca-file", a.caFile)
	return nil
}

func (a *clusterCAAuthn) Start() error {
	return os.WriteFile(a.caFile, a.ca.CertPEM, 0o600)
}

func (a *clusterCAAuthn) AddUser(user envtest.User, baseCfg *rest.Config) (*rest.Config, error) {
	certPEM, keyPEM, err := a.ca.issue(user.Name, user.Groups, nil)
	if err != nil {
		return nil, fmt.Errorf("issuing a client certificate for %s: %w", user.Name, err)
	}
	cfg := rest.CopyConfig(baseCfg)
	cfg.CertData, cfg.KeyData = certPEM, keyPEM
	return cfg, nil
}

func (a *clusterCAAuthn) Stop() error { return nil }
