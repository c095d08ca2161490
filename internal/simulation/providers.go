package simulation

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/utils/ptr"
	coresetup "sigs.k8s.io/cluster-api/core/setup"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/cabpk0s/cabpk0s/internal/manager"
	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

// The in-process providers a SimulatedKubelet runs, keyed by the
// cluster.x-k8s.io/provider label clusterctl gives their components.

// inProcess is a provider whose process is a manager with the options
// every in-process provider shares, set up by setup. Controller names
// repeat across the management clusters of one test process, so their
// uniqueness check is off; metrics and probes are not served (every
// process would want the same ports on one host).
func inProcess(name string, setup func(ctx context.Context, mgr ctrl.Manager) error) Provider {
	return Provider{Process: func(ctx context.Context, in ProviderProcessInput) (ctrl.Manager, error) {
		scheme := testenv.NewManagementScheme()
		mgr, err := ctrl.NewManager(in.Config, ctrl.Options{
			Scheme:                 scheme,
			Logger:                 in.Logger,
			Cache:                  coresetup.ManagerCacheOptions(scheme, testenv.InformerName(name), "", 10*time.Minute),
			Client:                 coresetup.ManagerClientOptions(),
			Metrics:                metricsserver.Options{BindAddress: "0"},
			HealthProbeBindAddress: "0",
			Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
			WebhookServer:          webhook.NewServer(in.Webhook),
		})
		if err != nil {
			return nil, err
		}
		return mgr, setup(ctx, mgr)
	}}
}

// CAPICoreProvider runs Cluster API's core webhooks and controllers, as
// the management clusters of testenv.StartManagement do. Cluster API's main
// package cannot be imported, so its flags are not read. It runs as an
// administrator: Cluster API's ClusterRole is aggregated from labelled
// roles, and aggregation is kube-controller-manager's work, which does not
// run here.
func CAPICoreProvider() Provider {
	return inProcess("capi-controller-manager", func(ctx context.Context, mgr ctrl.Manager) error {
		unregister := testenv.RegisterAPIVersionReader(mgr.GetAPIReader())
		go func() { <-ctx.Done(); unregister() }()
		if err := testenv.SetupCAPIWebhooks(mgr); err != nil {
			return err
		}
		_, err := testenv.SetupCAPIControllers(ctx, mgr, testenv.CAPIClusterCacheOptions)
		return err
	})
}

// Cabpk0sProvider runs cabpk0s with the wiring of its binary, configured by
// the container arguments of the installed release manifest, as the
// manifest's ServiceAccount: the manifest's RBAC is what it gets. Only
// addresses are overridden: the webhook port and certificate are the
// simulated kubelet's, metrics and probes are off.
func Cabpk0sProvider() Provider {
	return Provider{AsServiceAccount: true, Process: func(ctx context.Context, in ProviderProcessInput) (ctrl.Manager, error) {
		opts := &manager.Options{}
		fs := pflag.NewFlagSet("cabpk0s", pflag.ContinueOnError)
		// Logging flags (--v) belong to the binary, not the manager options.
		fs.ParseErrorsAllowlist.UnknownFlags = true
		opts.AddFlags(fs)
		if err := fs.Parse(in.Args); err != nil {
			return nil, fmt.Errorf("cabpk0s container arguments: %w", err)
		}
		opts.WebhookPort = in.Webhook.Port
		opts.WebhookCertDir = in.Webhook.CertDir
		opts.HealthAddr = "0"
		opts.Diagnostics.DiagnosticsAddress = "0"
		opts.InformerName = testenv.InformerName("cabpk0s-manager")

		ctrlOptions, err := opts.ControllerOptions(manager.NewScheme())
		if err != nil {
			return nil, err
		}
		ctrlOptions.Logger = in.Logger
		ctrlOptions.LeaderElectionNamespace = in.Namespace
		ctrlOptions.Controller.SkipNameValidation = ptr.To(true)
		ctrlOptions.WebhookServer = webhook.NewServer(webhook.Options{
			Host: in.Webhook.Host, Port: opts.WebhookPort, CertDir: opts.WebhookCertDir,
			CertName: opts.WebhookCertName, KeyName: opts.WebhookKeyName,
		})
		cfg := in.Config
		cfg.QPS, cfg.Burst, cfg.UserAgent = opts.KubeAPIQPS, opts.KubeAPIBurst, "cabpk0s-manager"
		mgr, err := ctrl.NewManager(cfg, ctrlOptions)
		if err != nil {
			return nil, err
		}
		return mgr, opts.Setup(ctx, mgr)
	}}
}

// SimulatedK0smotronProvider runs the ControlPlaneSimulator: the
// K0smotronControlPlane stand-in of a provider clearly named as simulated.
func SimulatedK0smotronProvider(w *testenv.Workload) Provider {
	return inProcess("simulated-k0smotron", func(_ context.Context, mgr ctrl.Manager) error {
		return (&ControlPlaneSimulator{Client: mgr.GetClient(), Workload: w}).SetupWithManager(mgr)
	})
}

// SimulatedAWSProvider runs the InfrastructureSimulator (AWSCluster,
// AWSMachine), the BootSimulator (the instances booting and joining) and
// the MachinePoolSimulator (AWSMachinePool).
func SimulatedAWSProvider(w *testenv.Workload) Provider {
	return inProcess("simulated-aws", func(_ context.Context, mgr ctrl.Manager) error {
		c := mgr.GetClient()
		if err := (&InfrastructureSimulator{Client: c}).SetupWithManager(mgr); err != nil {
			return err
		}
		boot := &BootSimulator{Client: c, Workload: w, Recorder: mgr.GetEventRecorder("simulated-machine-boot")}
		if err := boot.SetupWithManager(mgr); err != nil {
			return err
		}
		return (&MachinePoolSimulator{Boot: boot}).SetupWithManager(mgr)
	})
}

// SimulatedK0smotronBootstrapProvider runs the K0smotronBootstrapSimulator:
// k0smotron's bootstrap provider of the release that stores version
// (v1beta1: 1.x, v1beta2: 2.x), bootstrapping nothing while hold is true.
func SimulatedK0smotronBootstrapProvider(w *testenv.Workload, version string, hold *atomic.Bool) Provider {
	return inProcess("simulated-k0smotron-bootstrap", func(_ context.Context, mgr ctrl.Manager) error {
		return (&K0smotronBootstrapSimulator{Client: mgr.GetClient(), Workload: w, Version: version, Hold: hold}).SetupWithManager(mgr)
	})
}
