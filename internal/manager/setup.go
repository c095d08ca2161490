package manager

import (
	"context"
	"fmt"

	"sigs.k8s.io/cluster-api/controllers/clustercache"
	coresetup "sigs.k8s.io/cluster-api/core/setup"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller"

	"github.com/cabpk0s/cabpk0s/controllers"
	"github.com/cabpk0s/cabpk0s/internal/webhooks"
)

// Setup registers the webhooks, a ClusterCache for workload clusters, and
// the K0sWorkerConfig controller with mgr.
func (o *Options) Setup(ctx context.Context, mgr ctrl.Manager) error {
	if err := webhooks.Setup(mgr); err != nil {
		return fmt.Errorf("registering webhooks: %w", err)
	}
	secretClient, err := coresetup.CreateSecretCachingClient(mgr)
	if err != nil {
		return err
	}
	clusterCache, err := clustercache.SetupWithManager(ctx, mgr, clustercache.Options{
		SecretClient:     secretClient,
		Cache:            coresetup.ClusterCacheCacheOptions(),
		Client:           coresetup.ClusterCacheClientOptions(controllerName, o.ClusterCacheClientQPS, o.ClusterCacheClientBurst),
		WatchFilterValue: o.WatchFilterValue,
	}, controller.Options{MaxConcurrentReconciles: o.Concurrency})
	if err != nil {
		return fmt.Errorf("setting up the ClusterCache: %w", err)
	}
	return o.SetupReconcilers(ctx, mgr, clusterCache)
}

// SetupReconcilers registers cabpk0s's controllers using clusterCache.
func (o *Options) SetupReconcilers(ctx context.Context, mgr ctrl.Manager, clusterCache clustercache.ClusterCache) error {
	secretClient, err := coresetup.CreateSecretCachingClient(mgr)
	if err != nil {
		return err
	}
	err = (&controllers.K0sWorkerConfigReconciler{
		Client:              mgr.GetClient(),
		SecretCachingClient: secretClient,
		ClusterCache:        clusterCache,
		Recorder:            mgr.GetEventRecorder("k0sworkerconfig-controller"),
		WatchFilterValue:    o.WatchFilterValue,
		TokenTTL:            o.BootstrapTokenTTL,
	}).SetupWithManager(ctx, mgr, controller.Options{MaxConcurrentReconciles: o.Concurrency})
	if err != nil {
		return fmt.Errorf("setting up the K0sWorkerConfig controller: %w", err)
	}
	return nil
}
