package simulation

import (
	"context"
	"path/filepath"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

// WithClusterServices adds to a bare management cluster what a real one
// runs and it lacks, simulated: cert-manager (its CRDs from the start, and
// SimulatedCertManager), and the kubelet with the EndpointSlice controller
// (SimulatedKubelet), which runs the installed providers' managers from
// providers in this process, keeping their certificates under
// opts.StateDir/pods.
func WithClusterServices(opts testenv.BareManagementOptions, providers map[string]Provider) testenv.BareManagementOptions {
	opts.CRDs = append(opts.CRDs, CertManagerCRDs()...)
	setup := opts.Setup
	opts.Setup = func(ctx context.Context, mgr ctrl.Manager) error {
		if setup != nil {
			if err := setup(ctx, mgr); err != nil {
				return err
			}
		}
		hostIP, err := HostIP()
		if err != nil {
			return err
		}
		if err := (&SimulatedCertManager{Client: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
			return err
		}
		return (&SimulatedKubelet{
			Client: mgr.GetClient(), Config: mgr.GetConfig(), Providers: providers,
			HostIP: hostIP, StateDir: filepath.Join(opts.StateDir, "pods"), Logger: mgr.GetLogger().WithName("simulated-kubelet"),
		}).SetupWithManager(mgr)
	}
	return opts
}
