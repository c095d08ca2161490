package testenv

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"sigs.k8s.io/cluster-api/controllers/clustercache"
	"sigs.k8s.io/cluster-api/core/reconcilers/cluster"
	"sigs.k8s.io/cluster-api/core/reconcilers/machine"
	"sigs.k8s.io/cluster-api/core/reconcilers/machinedeployment"
	"sigs.k8s.io/cluster-api/core/reconcilers/machinepool"
	"sigs.k8s.io/cluster-api/core/reconcilers/machineset"
	coresetup "sigs.k8s.io/cluster-api/core/setup"
	coreadmission "sigs.k8s.io/cluster-api/core/webhooks/admission"
	"sigs.k8s.io/cluster-api/util/index"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
)

// Cluster API's core, run in a manager of this process: by StartManagement,
// and by a simulated Pod of Cluster API's provider (internal/simulation).
// Cluster API's main package cannot be imported, so this is its wiring.

// SetupCAPIWebhooks registers every webhook named in Cluster API's core
// webhook configuration, including the conversions of its CRDs.
func SetupCAPIWebhooks(mgr ctrl.Manager) error {
	c := mgr.GetClient()
	for _, setup := range []func(ctrl.Manager) error{
		(&coreadmission.Cluster{Client: c}).SetupWebhookWithManager,
		(&coreadmission.ClusterClass{Client: c}).SetupWebhookWithManager,
		(&coreadmission.Machine{}).SetupWebhookWithManager,
		(&coreadmission.MachineSet{}).SetupWebhookWithManager,
		(&coreadmission.MachineDeployment{}).SetupWebhookWithManager,
		(&coreadmission.MachineHealthCheck{}).SetupWebhookWithManager,
		(&coreadmission.MachineDrainRule{}).SetupWebhookWithManager,
		(&coreadmission.MachinePool{}).SetupWebhookWithManager,
		(&coreadmission.ClusterResourceSet{}).SetupWebhookWithManager,
		(&coreadmission.ClusterResourceSetBinding{}).SetupWebhookWithManager,
		(&coreadmission.ExtensionConfig{}).SetupWebhookWithManager,
		(&coreadmission.IPAddress{}).SetupWebhookWithManager,
		(&coreadmission.IPAddressClaim{}).SetupWebhookWithManager,
	} {
		if err := setup(mgr); err != nil {
			return fmt.Errorf("registering Cluster API webhooks: %w", err)
		}
	}
	return nil
}

// CAPIClusterCacheOptions are Cluster API's own ClusterCache settings.
func CAPIClusterCacheOptions(secretClient client.Client) clustercache.Options {
	return clustercache.Options{
		SecretClient: secretClient,
		Cache:        coresetup.ClusterCacheCacheOptions(),
		Client:       coresetup.ClusterCacheClientOptions("testenv", 100, 200),
	}
}

// SetupCAPIControllers runs Cluster API's core reconcilers (Cluster,
// Machine, MachineSet, MachineDeployment, MachinePool) in the manager, with
// the ClusterCache they share with the controllers under test, set up by
// cacheOptions (CAPIClusterCacheOptions for Cluster API alone).
func SetupCAPIControllers(ctx context.Context, mgr ctrl.Manager, cacheOptions func(secretClient client.Client) clustercache.Options) (clustercache.ClusterCache, error) {
	// The field indexes Cluster API's controllers look objects up by (for
	// example a Machine by the provider ID of a Node that just registered).
	if err := index.AddDefaultIndexes(ctx, mgr); err != nil {
		return nil, fmt.Errorf("adding Cluster API's indexes: %w", err)
	}
	secretClient, err := coresetup.CreateSecretCachingClient(mgr)
	if err != nil {
		return nil, err
	}
	clusterCache, err := clustercache.SetupWithManager(ctx, mgr, cacheOptions(secretClient), controller.Options{MaxConcurrentReconciles: 10})
	if err != nil {
		return nil, fmt.Errorf("setting up the ClusterCache: %w", err)
	}
	c, apiReader := mgr.GetClient(), mgr.GetAPIReader()
	opts := controller.Options{MaxConcurrentReconciles: 10}
	for name, setup := range map[string]func() error{
		"Cluster": func() error {
			return (&cluster.Reconciler{Client: c, APIReader: apiReader, ClusterCache: clusterCache, RemoteConnectionGracePeriod: 50 * time.Second}).SetupWithManager(ctx, mgr, opts)
		},
		"Machine": func() error {
			return (&machine.Reconciler{Client: c, APIReader: apiReader, ClusterCache: clusterCache, RemoteConditionsGracePeriod: 5 * time.Minute}).SetupWithManager(ctx, mgr, opts)
		},
		"MachineSet": func() error {
			return (&machineset.Reconciler{Client: c, APIReader: apiReader, ClusterCache: clusterCache}).SetupWithManager(ctx, mgr, opts)
		},
		"MachineDeployment": func() error {
			return (&machinedeployment.Reconciler{Client: c, APIReader: apiReader}).SetupWithManager(ctx, mgr, opts)
		},
		"MachinePool": func() error {
			return (&machinepool.Reconciler{Client: c, APIReader: apiReader, ClusterCache: clusterCache}).SetupWithManager(ctx, mgr, opts)
		},
	} {
		if err := setup(); err != nil {
			return nil, fmt.Errorf("setting up Cluster API's %s controller: %w", name, err)
		}
	}
	return clusterCache, nil
}

// managers counts the managers started in this process, to name their
// informers.
var managers atomic.Int64

// InformerName names a manager's informers uniquely: client-go refuses a
// name twice in one process, and Cluster API never releases its own.
func InformerName(name string) string {
	return fmt.Sprintf("%s-%d", name, managers.Add(1))
}
