package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	clusterctlv1 "sigs.k8s.io/cluster-api/cmd/clusterctl/api/v1alpha3"
	"sigs.k8s.io/cluster-api/util/kubeconfig"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// BareManagementOptions configure StartBareManagement.
type BareManagementOptions struct {
	// Name names the cluster in its kubeconfig and logs.
	Name string
	// StateDir receives the kubeconfig and the providers' certificates.
	StateDir string
	// Providers are the in-process implementations of the providers that
	// may be installed, by cluster.x-k8s.io/provider label.
	Providers map[string]Provider
	// Logger receives the logs of the simulations and the providers.
	Logger logr.Logger
}

// BareManagement is a management cluster with nothing of Cluster API
// installed: a kube-apiserver and etcd, plus what a real cluster has and
// this one lacks, each a named simulation — cert-manager
// (SimulatedCertManager), and the kubelet with the EndpointSlice controller
// (SimulatedKubelet), which runs installed providers in-process. Providers
// are installed the way users install them: clusterctl init.
type BareManagement struct {
	// Config reaches the API server as an administrator.
	Config *rest.Config
	// Client is an uncached administrator client.
	Client client.Client
	// Kubeconfig is the path of a kubeconfig file for Config (clusterctl
	// reads one).
	Kubeconfig string

	env      *envtest.Environment
	kubelet  *SimulatedKubelet
	cancel   context.CancelFunc
	finished chan error
}

// StartBareManagement starts a bare management cluster and its simulations.
func StartBareManagement(ctx context.Context, opts BareManagementOptions) (*BareManagement, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	hostIP, err := HostIP()
	if err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger.GetSink() == nil {
		logger = logr.Discard()
	}
	logger = logger.WithValues("managementCluster", opts.Name)

	env := &envtest.Environment{
		BinaryAssetsDirectory:   assets,
		ControlPlaneStopTimeout: stopTimeout,
		// The simulated cert-manager's API, present before clusterctl init
		// looks for it.
		CRDs: simulatedCertManagerCRDs(),
	}
	// Webhook and conversion calls to a Service go to an endpoint of its
	// EndpointSlices rather than its cluster IP, which nothing here routes.
	env.ControlPlane.GetAPIServer().Configure().Set("enable-aggregator-routing", "true")
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting the %s management API server: %w", opts.Name, err)
	}
	b := &BareManagement{Config: cfg, env: env}
	if err := b.start(ctx, opts, hostIP, logger); err != nil {
		return nil, errors.Join(err, b.Stop())
	}
	return b, nil
}

func (b *BareManagement) start(ctx context.Context, opts BareManagementOptions, hostIP string, logger logr.Logger) error {
	// The client also reads clusterctl's inventory.
	scheme := NewManagementScheme()
	if err := clusterctlv1.AddToScheme(scheme); err != nil {
		return err
	}
	var err error
	if b.Client, err = client.New(b.Config, client.Options{Scheme: scheme}); err != nil {
		return err
	}
	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		return err
	}
	b.Kubeconfig = filepath.Join(opts.StateDir, "kubeconfig")
	data := kubeconfig.FromEnvTestConfig(b.Config, &clusterv1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: opts.Name}})
	if err := os.WriteFile(b.Kubeconfig, data, 0o600); err != nil {
		return err
	}

	mgr, err := ctrl.NewManager(b.Config, ctrl.Options{
		Scheme:                 NewManagementScheme(),
		Logger:                 logger,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return err
	}
	if err := (&SimulatedCertManager{Client: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
		return err
	}
	b.kubelet = &SimulatedKubelet{
		Client: mgr.GetClient(), Config: b.Config, Providers: opts.Providers,
		HostIP: hostIP, StateDir: filepath.Join(opts.StateDir, "pods"), Logger: logger.WithName("simulated-kubelet"),
	}
	if err := b.kubelet.SetupWithManager(mgr); err != nil {
		return err
	}

	ctx, b.cancel = context.WithCancel(ctx)
	b.finished = make(chan error, 1)
	go func() { b.finished <- mgr.Start(ctx) }()
	select {
	case <-mgr.Elected():
		return nil
	case err := <-b.finished:
		b.cancel = nil
		return fmt.Errorf("the simulations stopped before they started: %w", err)
	case <-time.After(time.Minute):
		return errors.New("the simulations did not start within a minute")
	}
}

// Stop stops the providers, the simulations, then the API server and etcd.
func (b *BareManagement) Stop() error {
	var errs []error
	if b.kubelet != nil {
		b.kubelet.Stop()
	}
	if b.cancel != nil {
		b.cancel()
		if err := <-b.finished; err != nil {
			errs = append(errs, err)
		}
	}
	if err := stopEnvironment(b.env); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
