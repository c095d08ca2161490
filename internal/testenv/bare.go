package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
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
	// StateDir receives the kubeconfig (and whatever Setup keeps there).
	StateDir string
	// Logger receives the logs of what Setup runs.
	Logger logr.Logger
	// CRDs are served from the start, before anything looks for them.
	CRDs []*apiextensionsv1.CustomResourceDefinition
	// ControllerManager runs a real kube-controller-manager with the
	// garbage collector and the namespace controller.
	ControllerManager bool
	// Setup registers what runs beside the API server, as an
	// administrator, with a manager that stops with the cluster. A bare
	// cluster runs no kubelet, scheduler or cert-manager; the tests
	// simulate those here (internal/simulation.WithClusterServices).
	Setup func(ctx context.Context, mgr ctrl.Manager) error
}

// BareManagement is a management cluster with nothing of Cluster API
// installed: a kube-apiserver and etcd, and a manager running what
// BareManagementOptions.Setup registered. Providers are installed the way
// users install them: clusterctl init.
type BareManagement struct {
	// Config reaches the API server as an administrator.
	Config *rest.Config
	// Client is an uncached administrator client that also reads
	// clusterctl's inventory.
	Client client.Client
	// Kubeconfig is the path of a kubeconfig file for Config (clusterctl
	// reads one).
	Kubeconfig string

	env               *envtest.Environment
	background        *running
	controllerManager *ControllerManager
}

// StartBareManagement starts a bare management cluster and what
// opts.Setup registers.
func StartBareManagement(ctx context.Context, opts BareManagementOptions) (*BareManagement, error) {
	assets, err := AssetsDir()
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
		CRDs:                    opts.CRDs,
	}
	// Webhook and conversion calls to a Service go to an endpoint of its
	// EndpointSlices rather than its cluster IP, which nothing here routes.
	env.ControlPlane.GetAPIServer().Configure().Set("enable-aggregator-routing", "true")
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting the %s management API server: %w", opts.Name, err)
	}
	b := &BareManagement{Config: cfg, env: env}
	if err := b.start(ctx, opts, logger); err != nil {
		return nil, errors.Join(err, b.Stop())
	}
	if opts.ControllerManager {
		if b.controllerManager, err = startManagementControllerManager(ctx, env, cfg); err != nil {
			return nil, errors.Join(err, b.Stop())
		}
	}
	return b, nil
}

func (b *BareManagement) start(ctx context.Context, opts BareManagementOptions, logger logr.Logger) error {
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
	if opts.Setup == nil {
		return nil
	}

	mgr, err := ctrl.NewManager(b.Config, ctrl.Options{
		Scheme:                 NewManagementScheme(),
		Logger:                 logger,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
		// Stopping waits for every provider process the simulated kubelet
		// runs, each with its own graceful shutdown (webhook servers wait
		// up to a minute for open requests): longer than the default 30 s
		// on a loaded machine, and not a failure of the test.
		GracefulShutdownTimeout: ptr.To(3 * time.Minute),
	})
	if err != nil {
		return err
	}
	if err := opts.Setup(ctx, mgr); err != nil {
		return err
	}
	if b.background, err = runInBackground(ctx, mgr); err != nil {
		return fmt.Errorf("what runs beside the %s API server: %w", opts.Name, err)
	}
	return nil
}

// Stop stops what Setup registered, then the API server and etcd.
func (b *BareManagement) Stop() error {
	var errs []error
	if err := b.controllerManager.Stop(); err != nil {
		errs = append(errs, fmt.Errorf("stopping the kube-controller-manager: %w", err))
	}
	if err := b.background.stop(); err != nil {
		errs = append(errs, fmt.Errorf("stopping what runs beside the API server: %w", err))
	}
	if err := stopEnvironment(b.env); err != nil {
		errs = append(errs, fmt.Errorf("stopping the API server and etcd: %w", err))
	}
	return errors.Join(errs...)
}
