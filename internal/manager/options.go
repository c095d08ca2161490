// Package manager holds the cabpk0s manager's command-line options and turns
// them into controller-runtime options, so the binary, the sandbox and the
// tests build the manager the same way.
package manager

import (
	"strings"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	coresetup "sigs.k8s.io/cluster-api/core/setup"
	"sigs.k8s.io/cluster-api/util/flags"
	"sigs.k8s.io/cluster-api/util/secret"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	bootstrapv1beta1 "github.com/cabpk0s/cabpk0s/api/v1beta1"
	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/controllers"
	"github.com/cabpk0s/cabpk0s/internal/bootstrapinput"
)

// DefaultBootstrapTokenTTL is how long a join token lives without a refresh.
// Short, because the token is a credential sitting in user data; the
// controller keeps extending it while the machine has not joined.
const DefaultBootstrapTokenTTL = 15 * time.Minute

// controllerName identifies cabpk0s in user agents and informer metrics.
const controllerName = "cabpk0s-manager"

// Options are the manager's settings, one per command-line flag.
type Options struct {
	LeaderElect                 bool
	LeaderElectionLeaseDuration time.Duration
	LeaderElectionRenewDeadline time.Duration
	LeaderElectionRetryPeriod   time.Duration
	LeaderElectionNamespace     string

	WatchNamespace   string
	WatchFilterValue string

	HealthAddr      string
	ProfilerAddress string

	WebhookPort     int
	WebhookCertDir  string
	WebhookCertName string
	WebhookKeyName  string

	Concurrency       int
	BootstrapTokenTTL time.Duration
	FrpcImage         string
	SyncPeriod        time.Duration

	KubeAPIQPS   float32
	KubeAPIBurst int

	ClusterCacheClientQPS   float32
	ClusterCacheClientBurst int

	// Diagnostics holds the metrics/diagnostics endpoint and TLS flags shared
	// by every Cluster API provider.
	Diagnostics flags.ManagerOptions

	// InformerName names the manager's informers in logs and metrics
	// (not a flag). Empty means cabpk0s-manager. Informer names must be
	// unique within a process, so managers sharing one (tests running
	// several management clusters) set their own.
	InformerName string
}

// AddFlags registers every option on fs with its default.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.LeaderElect, "leader-elect", false,
		"Enable leader election, so that only one manager replica reconciles at a time.")
	fs.DurationVar(&o.LeaderElectionLeaseDuration, "leader-elect-lease-duration", 15*time.Second,
		"How long non-leaders wait before forcing a new leader election.")
	fs.DurationVar(&o.LeaderElectionRenewDeadline, "leader-elect-renew-deadline", 10*time.Second,
		"How long the leader retries renewing its lease before giving up leadership.")
	fs.DurationVar(&o.LeaderElectionRetryPeriod, "leader-elect-retry-period", 2*time.Second,
		"How long leader-election clients wait between attempts.")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-elect-namespace", "",
		"Namespace of the leader-election Lease. Empty means the namespace the manager's Pod runs in (required when it runs outside a cluster).")

	fs.StringVar(&o.WatchNamespace, "namespace", "",
		"Reconcile only objects in this namespace. Empty means every namespace.")
	fs.StringVar(&o.WatchFilterValue, "watch-filter", "",
		"Reconcile only objects whose "+clusterv1.WatchLabel+" label has this value. Empty means every object.")

	fs.StringVar(&o.HealthAddr, "health-addr", ":9440",
		"Address the liveness (/healthz) and readiness (/readyz) probes are served on.")
	fs.StringVar(&o.ProfilerAddress, "profiler-address", "",
		"Address to serve pprof on (for example localhost:6060). Empty disables it.")

	fs.IntVar(&o.WebhookPort, "webhook-port", 9443,
		"Port the admission and conversion webhooks are served on.")
	fs.StringVar(&o.WebhookCertDir, "webhook-cert-dir", "/tmp/k8s-webhook-server/serving-certs/",
		"Directory holding the webhook serving certificate and key.")
	fs.StringVar(&o.WebhookCertName, "webhook-cert-name", "tls.crt",
		"File name of the webhook serving certificate in --webhook-cert-dir.")
	fs.StringVar(&o.WebhookKeyName, "webhook-key-name", "tls.key",
		"File name of the webhook serving key in --webhook-cert-dir.")

	fs.IntVar(&o.Concurrency, "concurrency", 10,
		"Number of K0sWorkerConfigs, and of K0sControllerConfigs, reconciled in parallel.")
	fs.DurationVar(&o.BootstrapTokenTTL, "bootstrap-token-ttl", DefaultBootstrapTokenTTL,
		"Lifetime of a join token without a refresh. It is extended while the machine has not joined and deleted once it has.")
	fs.StringVar(&o.FrpcImage, "frpc-image", bootstrapinput.DefaultFrpcImage,
		"Container image of the frp client a K0sControllerConfig with spec.tunneling.enabled deploys into its workload cluster.")
	fs.DurationVar(&o.SyncPeriod, "sync-period", 10*time.Minute,
		"Minimum interval at which every watched object is reconciled again.")

	// Bootstrapping a machine takes three management writes (token ID,
	// data Secret, status); the saturation benchmark's API server takes
	// 50-70 machines per second from cabpk0s on two cores, so 100/s
	// (33 machines/s once the burst is spent) was the limit, not the
	// server. API Priority and Fairness protects a busy server either way.
	fs.Float32Var(&o.KubeAPIQPS, "kube-api-qps", 200,
		"Maximum queries per second to the management cluster's API server.")
	fs.IntVar(&o.KubeAPIBurst, "kube-api-burst", 400,
		"Maximum burst of queries to the management cluster's API server.")

	// Cluster API's default (20) caps a scale-up at 20 machines per second
	// per workload cluster: each needs one token created there, and the
	// saturation benchmark measured exactly that cap. Token traffic is one
	// create per machine, one extension per pending machine per TTL and
	// one delete per join: 100/s keeps up with what one management API
	// server lets cabpk0s bootstrap.
	fs.Float32Var(&o.ClusterCacheClientQPS, "clustercache-client-qps", 100,
		"Maximum queries per second to each workload cluster's API server.")
	fs.IntVar(&o.ClusterCacheClientBurst, "clustercache-client-burst", 200,
		"Maximum burst of queries to each workload cluster's API server.")

	flags.AddManagerOptions(fs, &o.Diagnostics)
}

// NewScheme returns a scheme with every type the manager reads or writes.
func NewScheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(apiextensionsv1.AddToScheme(scheme))
	utilruntime.Must(clusterv1.AddToScheme(scheme))
	utilruntime.Must(bootstrapv1beta1.AddToScheme(scheme))
	utilruntime.Must(bootstrapv1.AddToScheme(scheme))
	return scheme
}

// ControllerOptions turns the options into controller-runtime manager options.
func (o *Options) ControllerOptions(scheme *runtime.Scheme) (ctrl.Options, error) {
	tlsOptions, metricsOptions, err := flags.GetManagerOptions(o.Diagnostics)
	if err != nil {
		return ctrl.Options{}, err
	}

	return ctrl.Options{
		Scheme: scheme,
		Controller: config.Controller{
			// Large management clusters need more than the 2m default to sync.
			CacheSyncTimeout: 5 * time.Minute,
		},
		LeaderElection:             o.LeaderElect,
		LeaderElectionID:           "cabpk0s-manager-leader-election",
		LeaderElectionResourceLock: resourcelock.LeasesResourceLock,
		LeaderElectionNamespace:    o.LeaderElectionNamespace,
		LeaseDuration:              &o.LeaderElectionLeaseDuration,
		RenewDeadline:              &o.LeaderElectionRenewDeadline,
		RetryPeriod:                &o.LeaderElectionRetryPeriod,
		HealthProbeBindAddress:     o.HealthAddr,
		PprofBindAddress:           o.ProfilerAddress,
		Metrics:                    *metricsOptions,
		Cache:                      CacheOptions(scheme, o.informerName(), o.WatchNamespace, o.SyncPeriod),
		Client:                     coresetup.ManagerClientOptions(),
		WebhookServer: webhook.NewServer(webhook.Options{
			Port:     o.WebhookPort,
			CertDir:  o.WebhookCertDir,
			CertName: o.WebhookCertName,
			KeyName:  o.WebhookKeyName,
			TLSOpts:  tlsOptions,
		}),
	}, nil
}

func (o *Options) informerName() string {
	if o.InformerName != "" {
		return o.InformerName
	}
	return controllerName
}

// CacheOptions are Cluster API's cache choices (Secrets and ConfigMaps are
// read live by the manager's client; only Secrets labelled with a cluster
// name are cached, for the Secret caching client, and of those only the
// kubeconfigs keep their data) plus two: the certificate of a cluster's CA
// Secret is kept too, so rendering bootstrap data for a thousand machines
// does not read the same CA a thousand times (the CA's private key is
// dropped before it reaches the cache), and no cached object keeps its
// managed fields, which nothing here reads (CABPK drops them too): memory
// and garbage-collection work per config and Machine.
//
// Machines keep only what a config's reconcile reads (see
// machineForCache): a Machine's conditions, addresses and infrastructure
// details are most of its size, and cabpk0s caches every Machine of every
// cluster.
func CacheOptions(scheme *runtime.Scheme, controllerName, namespace string, syncPeriod time.Duration) cache.Options {
	opts := coresetup.ManagerCacheOptions(scheme, controllerName, namespace, syncPeriod)
	opts.DefaultTransform = cache.TransformStripManagedFields()
	if opts.ByObject == nil {
		opts.ByObject = map[client.Object]cache.ByObject{}
	}
	opts.ByObject[&clusterv1.Machine{}] = cache.ByObject{Transform: machineForCache}
	for obj, byObject := range opts.ByObject {
		if _, ok := obj.(*corev1.Secret); !ok {
			continue
		}
		capiTransform := byObject.Transform
		byObject.Transform = func(in any) (any, error) {
			s, ok := in.(*corev1.Secret)
			if ok && !secret.HasPurposeSuffix(s.Name) {
				return capiTransform(trimDataSecret(s))
			}
			if !ok || !strings.HasSuffix(s.Name, "-"+string(secret.ClusterCA)) {
				return capiTransform(in)
			}
			crt := s.Data[secret.TLSCrtDataName]
			out, err := capiTransform(in)
			if err != nil {
				return nil, err
			}
			if crt != nil {
				out.(*corev1.Secret).Data = map[string][]byte{secret.TLSCrtDataName: crt}
			}
			return out, nil
		}
		opts.ByObject[obj] = byObject
	}
	return opts
}

// SharedCacheOptions are CacheOptions for a manager whose cache Cluster
// API's own controllers share (the embedded management plane): they read
// managed fields for server-side apply and every field of a Machine, so
// nothing is stripped but what Cluster API strips itself.
func SharedCacheOptions(scheme *runtime.Scheme, controllerName, namespace string, syncPeriod time.Duration) cache.Options {
	opts := CacheOptions(scheme, controllerName, namespace, syncPeriod)
	opts.DefaultTransform = nil
	for obj := range opts.ByObject {
		if _, ok := obj.(*clusterv1.Machine); ok {
			delete(opts.ByObject, obj)
		}
	}
	return opts
}

// machineForCache keeps of a Machine what cabpk0s reads: its metadata
// (without managed fields), the Cluster it belongs to, its version and
// bootstrap reference, its node and whether its infrastructure is
// provisioned. cabpk0s never writes a Machine (its RBAC cannot), so
// nothing is written back from the trimmed copy.
func machineForCache(in any) (any, error) {
	m, ok := in.(*clusterv1.Machine)
	if !ok {
		return in, nil
	}
	m.ManagedFields = nil
	m.Spec = clusterv1.MachineSpec{ClusterName: m.Spec.ClusterName, Version: m.Spec.Version, Bootstrap: m.Spec.Bootstrap}
	m.Status = clusterv1.MachineStatus{NodeRef: m.Status.NodeRef, Initialization: m.Status.Initialization}
	return m, nil
}

// trimDataSecret keeps of a cluster Secret that is not one of Cluster API's
// (a data Secret, mostly) what cabpk0s reads from the cache: the cluster
// name and the token ID its data carries. Owner references and user
// metadata (spec.secretMetadata) are read live, where they matter.
func trimDataSecret(s *corev1.Secret) *corev1.Secret {
	s.OwnerReferences = nil
	s.Labels = keepOnly(s.Labels, clusterv1.ClusterNameLabel)
	s.Annotations = keepOnly(s.Annotations, controllers.TokenIDAnnotation)
	return s
}

func keepOnly(m map[string]string, key string) map[string]string {
	v, ok := m[key]
	if !ok {
		return nil
	}
	return map[string]string{key: v}
}
