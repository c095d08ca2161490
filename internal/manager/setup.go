package manager

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/controllers/clustercache"
	coresetup "sigs.k8s.io/cluster-api/core/setup"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"

	"github.com/cabpk0s/cabpk0s/controllers"
	"github.com/cabpk0s/cabpk0s/internal/jointoken"
	"github.com/cabpk0s/cabpk0s/internal/webhooks"
)

// Setup registers the webhooks, a ClusterCache for workload clusters, and
// the K0sWorkerConfig controller with mgr.
func (o *Options) Setup(ctx context.Context, mgr ctrl.Manager) error {
	if err := webhooks.Setup(mgr, webhooks.Scope{Namespace: o.WatchNamespace, WatchFilterValue: o.WatchFilterValue}); err != nil {
		return fmt.Errorf("registering webhooks: %w", err)
	}
	secretClient, err := coresetup.CreateSecretCachingClient(mgr)
	if err != nil {
		return err
	}
	cacheOptions := ClusterCacheOptions(secretClient, controllerName, o.ClusterCacheClientQPS, o.ClusterCacheClientBurst)
	cacheOptions.WatchFilterValue = o.WatchFilterValue
	clusterCache, err := clustercache.SetupWithManager(ctx, mgr, cacheOptions, controller.Options{MaxConcurrentReconciles: o.Concurrency})
	if err != nil {
		return fmt.Errorf("setting up the ClusterCache: %w", err)
	}
	return o.SetupReconcilers(ctx, mgr, clusterCache)
}

// ClusterCacheOptions are Cluster API's ClusterCache settings but for one
// thing: a workload cluster's bootstrap tokens are cached (only those, and
// only their ID and expiration; see jointoken.CacheByObject), so looking
// after a pending Machine's token is a read from memory, also right after
// a restart. Every other Secret stays uncached, as in Cluster API.
func ClusterCacheOptions(secretClient client.Client, userAgent string, qps float32, burst int) clustercache.Options {
	cacheOptions := coresetup.ClusterCacheCacheOptions()
	cacheOptions.ByObject = map[client.Object]cache.ByObject{&corev1.Secret{}: jointoken.CacheByObject()}
	clientOptions := coresetup.ClusterCacheClientOptions(userAgent, qps, burst)
	clientOptions.Cache.DisableFor = slices.DeleteFunc(slices.Clone(clientOptions.Cache.DisableFor), func(o client.Object) bool {
		_, secret := o.(*corev1.Secret)
		return secret
	})
	return clustercache.Options{SecretClient: secretClient, Cache: cacheOptions, Client: clientOptions}
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
	err = controllers.NewK0sWorkerConfigReconciler(controllers.ReconcilerOptions{
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
	err = controllers.NewK0sControllerConfigReconciler(controllers.ReconcilerOptions{
		Client:              mgr.GetClient(),
		SecretCachingClient: secretClient,
		SourceCache:         sourceCache,
		ClusterCache:        clusterCache,
		Recorder:            mgr.GetEventRecorder("k0scontrollerconfig-controller"),
		WatchFilterValue:    o.WatchFilterValue,
		TokenTTL:            o.BootstrapTokenTTL,
	}, controllers.ControllerOptions{FrpcImage: o.FrpcImage}).SetupWithManager(ctx, mgr, controller.Options{MaxConcurrentReconciles: o.Concurrency})
	if err != nil {
		return fmt.Errorf("setting up the K0sControllerConfig controller: %w", err)
	}
	return nil
}

// sourceCache is a cache of its own, run by mgr, for the metadata of the
// Secrets and ConfigMaps configs read content from that the manager's
// cache does not keep: it has the Secrets with a cluster label (every data
// Secret among them), and no ConfigMaps.
func (o *Options) sourceCache(mgr ctrl.Manager) (cache.Cache, error) {
	req, err := labels.NewRequirement(clusterv1.ClusterNameLabel, selection.DoesNotExist, nil)
	if err != nil {
		return nil, err
	}
	opts := cache.Options{
		HTTPClient: mgr.GetHTTPClient(), Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(), SyncPeriod: &o.SyncPeriod,
		ByObject: map[client.Object]cache.ByObject{&metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}}: {
			Label: labels.NewSelector().Add(*req),
		}},
		// Only a source's name matters: annotations (kubectl's
		// last-applied-configuration holds a Secret's data), labels, owner
		// references and managed fields are dropped before they reach
		// memory.
		DefaultTransform: func(in any) (any, error) {
			if obj, ok := in.(metav1.Object); ok {
				obj.SetAnnotations(nil)
				obj.SetLabels(nil)
				obj.SetOwnerReferences(nil)
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
