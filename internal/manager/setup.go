package manager

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"sigs.k8s.io/cluster-api/controllers/clustercache"
	coresetup "sigs.k8s.io/cluster-api/core/setup"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
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
	sourceCache, err := o.sourceCache(mgr)
	if err != nil {
		return err
	}
	err = (&controllers.K0sWorkerConfigReconciler{
		Client:              mgr.GetClient(),
		SecretCachingClient: secretClient,
		SourceCache:         sourceCache,
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

// sourceCache is a cache of its own, run by mgr, for the metadata of the
// Secrets and ConfigMaps configs read content from: the manager's cache
// keeps only Secrets with a cluster label, and no ConfigMaps.
func (o *Options) sourceCache(mgr ctrl.Manager) (cache.Cache, error) {
	opts := cache.Options{
		HTTPClient: mgr.GetHTTPClient(), Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(), SyncPeriod: &o.SyncPeriod,
		// Only a source's name matters: annotations (kubectl's
		// last-applied-configuration holds a Secret's data), labels and
		// managed fields are dropped before they reach memory.
		DefaultTransform: func(in any) (any, error) {
			if obj, ok := in.(metav1.Object); ok {
				obj.SetAnnotations(nil)
				obj.SetLabels(nil)
				obj.SetManagedFields(nil)
			}
			return in, nil
		},
	}
	if o.WatchNamespace != "" {
		opts.DefaultNamespaces = map[string]cache.Config{o.WatchNamespace: {}}
	}
	c, err := cache.New(mgr.GetConfig(), opts)
	if err != nil {
		return nil, fmt.Errorf("creating the content source cache: %w", err)
	}
	if err := mgr.Add(c); err != nil {
		return nil, err
	}
	return c, nil
}
