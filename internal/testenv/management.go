// Package testenv starts real Kubernetes API servers for integration tests
// and the sandbox: a management cluster serving Cluster API's CRDs and
// webhooks (from the cluster-api module), CAPA's CRDs (from the CAPA module)
// and cabpk0s's CRDs and webhooks, backed by a kube-apiserver and etcd built
// from their Go modules (see hack/envtest).
package testenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	addonsv1beta1 "sigs.k8s.io/cluster-api/api/addons/v1beta1"
	addonsv1 "sigs.k8s.io/cluster-api/api/addons/v1beta2"
	clusterv1beta1 "sigs.k8s.io/cluster-api/api/core/v1beta1"
	ipamv1alpha1 "sigs.k8s.io/cluster-api/api/ipam/v1alpha1"
	ipamv1beta1 "sigs.k8s.io/cluster-api/api/ipam/v1beta1"
	ipamv1 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
	runtimev1alpha1 "sigs.k8s.io/cluster-api/api/runtime/v1alpha1"
	runtimev1 "sigs.k8s.io/cluster-api/api/runtime/v1beta2"
	"sigs.k8s.io/cluster-api/controllers/clustercache"
	"sigs.k8s.io/cluster-api/core/reconcilers/cluster"
	"sigs.k8s.io/cluster-api/core/reconcilers/machine"
	"sigs.k8s.io/cluster-api/core/reconcilers/machinedeployment"
	"sigs.k8s.io/cluster-api/core/reconcilers/machinepool"
	"sigs.k8s.io/cluster-api/core/reconcilers/machineset"
	coresetup "sigs.k8s.io/cluster-api/core/setup"
	coreadmission "sigs.k8s.io/cluster-api/core/webhooks/admission"
	"sigs.k8s.io/cluster-api/util/index"
	"sigs.k8s.io/cluster-api/util/test/builder"
	utilyaml "sigs.k8s.io/cluster-api/util/yaml"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/yaml"

	"github.com/cabpk0s/cabpk0s/internal/manager"
	"github.com/cabpk0s/cabpk0s/internal/webhooks"
)

// capaCRDFiles are the CAPA kinds the seed and the tests use.
var capaCRDFiles = []string{
	"infrastructure.cluster.x-k8s.io_awsclusters.yaml",
	"infrastructure.cluster.x-k8s.io_awsclustertemplates.yaml",
	"infrastructure.cluster.x-k8s.io_awsmachines.yaml",
	"infrastructure.cluster.x-k8s.io_awsmachinetemplates.yaml",
}

// ManagementOptions configure StartManagement.
type ManagementOptions struct {
	// Logger receives the logs of the in-process manager. Zero means discard.
	Logger logr.Logger

	// ExtraCRDPaths are more CRD directories or files to install, for
	// example another provider's config/crd/bases.
	ExtraCRDPaths []string

	// CAPIControllers runs Cluster API's core controllers (Cluster, Machine,
	// MachineSet, MachineDeployment, MachinePool) and a ClusterCache in the
	// manager, so Machines behave as in a real management cluster.
	CAPIControllers bool

	// APIServerArgs are extra kube-apiserver flags (name without dashes).
	APIServerArgs map[string]string

	// Setup registers controllers with the manager before it starts.
	// clusterCache is nil unless CAPIControllers is set.
	Setup func(ctx context.Context, mgr ctrl.Manager, clusterCache clustercache.ClusterCache) error
}

// Management is a running management cluster: API server, etcd, and an
// in-process manager serving Cluster API's and cabpk0s's webhooks.
type Management struct {
	// Config reaches the API server as an administrator.
	Config *rest.Config
	// Client reads and writes straight to the API server (no cache), so
	// tests see their own writes at once.
	Client client.Client
	// Scheme knows every type the environment serves.
	Scheme *runtime.Scheme
	// Manager is the in-process manager; its webhooks are already serving.
	Manager ctrl.Manager
	// ClusterCache is shared by Cluster API's controllers and the tested
	// ones (nil unless CAPIControllers is set).
	ClusterCache clustercache.ClusterCache

	env      *envtest.Environment
	cancel   context.CancelFunc
	finished chan error
	// unregisterAPIVersionReader takes this cluster out of the getter
	// Cluster API's conversion webhooks use (see apiversion.go).
	unregisterAPIVersionReader func()
}

// NewManagementScheme returns the manager scheme plus every Cluster API
// group whose conversion webhooks the environment serves.
func NewManagementScheme() *runtime.Scheme {
	scheme := manager.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clusterv1beta1.AddToScheme,
		addonsv1beta1.AddToScheme, addonsv1.AddToScheme,
		ipamv1alpha1.AddToScheme, ipamv1beta1.AddToScheme, ipamv1.AddToScheme,
		runtimev1alpha1.AddToScheme, runtimev1.AddToScheme,
	} {
		utilruntime.Must(add(scheme))
	}
	return scheme
}

// StartManagement starts a management cluster and returns once its webhooks
// answer. Call Stop when done.
func StartManagement(ctx context.Context, opts ManagementOptions) (*Management, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	capiDir, err := CAPIModuleDir()
	if err != nil {
		return nil, err
	}
	capaDir, err := CAPAModuleDir()
	if err != nil {
		return nil, err
	}
	root := RepoRoot()

	webhookOptions := envtest.WebhookInstallOptions{
		// CAPI's types convert through controller-runtime's converter
		// registry rather than the Convertible interface, so the scheme
		// cannot tell envtest which CRDs convert; without this envtest
		// silently drops the conversion webhooks and v1beta1 Machines are
		// stored with empty apiGroups in their references.
		IgnoreSchemeConvertible: true,
		LocalServingHost:        "127.0.0.1",
	}
	for name, manifest := range map[string]string{
		"capi":    filepath.Join(capiDir, "core", "config", "webhook", "manifests.yaml"),
		"cabpk0s": filepath.Join(root, "config", "webhook", "manifests.yaml"),
	} {
		if err := addWebhookConfigurations(&webhookOptions, manifest, name); err != nil {
			return nil, err
		}
	}

	scheme := NewManagementScheme()
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		ErrorIfCRDPathMissing: true,
		// Watches held open by clients keep kube-apiserver from exiting
		// promptly; nothing here needs a graceful shutdown.
		ControlPlaneStopTimeout: stopTimeout,
		CRDDirectoryPaths: append([]string{
			filepath.Join(capiDir, "core", "config", "crd", "bases"),
			filepath.Join(root, "config", "crd", "bases"),
		}, opts.ExtraCRDPaths...),
		// Stand-in control plane kinds carrying the v1beta2 contract label:
		// a generic one, and k0smotron's.
		CRDs: []*apiextensionsv1.CustomResourceDefinition{
			builder.GenericControlPlaneCRD.DeepCopy(), K0smotronControlPlaneCRD(),
			// A machine pool infrastructure kind; CAPA's AWSMachinePool is not needed.
			builder.GenericInfrastructureMachinePoolCRD.DeepCopy(),
		},
		Scheme:                scheme,
		WebhookInstallOptions: webhookOptions,
	}
	for name, value := range opts.APIServerArgs {
		env.ControlPlane.GetAPIServer().Configure().Set(name, value)
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting the management API server: %w", err)
	}
	m := &Management{Config: cfg, Scheme: scheme, env: env}

	if err := m.installCAPACRDs(capaDir); err != nil {
		return nil, errors.Join(err, m.Stop())
	}
	if err := m.startManager(ctx, opts); err != nil {
		return nil, errors.Join(err, m.Stop())
	}
	return m, nil
}

// installCAPACRDs installs CAPA's CRDs with the contract label CAPA's own
// kustomization adds (CAPA v2.13 implements the v1beta1 contract). CAPA's
// conversion webhook is not served here, so they keep conversion "None".
func (m *Management) installCAPACRDs(capaDir string) error {
	crds := make([]*apiextensionsv1.CustomResourceDefinition, 0, len(capaCRDFiles))
	for _, name := range capaCRDFiles {
		crd, err := ReadCRD(filepath.Join(capaDir, "config", "crd", "bases", name), nil)
		if err != nil {
			return fmt.Errorf("CAPA: %w", err)
		}
		versions := make([]string, 0, len(crd.Spec.Versions))
		for _, v := range crd.Spec.Versions {
			if v.Served {
				versions = append(versions, v.Name)
			}
		}
		crd.Labels["cluster.x-k8s.io/v1beta1"] = strings.Join(versions, "_")
		crds = append(crds, crd)
	}
	return m.InstallCRDs(crds...)
}

func (m *Management) startManager(ctx context.Context, opts ManagementOptions) error {
	logger := opts.Logger
	if logger.GetSink() == nil {
		logger = logr.Discard()
	}
	ctrl.SetLogger(logger)

	wh := m.env.WebhookInstallOptions
	mgr, err := ctrl.NewManager(m.Config, ctrl.Options{
		Scheme: m.Scheme,
		Logger: logger,
		// As in Cluster API's and cabpk0s's managers: Secrets and ConfigMaps
		// are read live, only cluster Secrets are cached.
		Cache:                  manager.CacheOptions(m.Scheme, uniqueInformerName("testenv"), "", 10*time.Minute),
		Client:                 coresetup.ManagerClientOptions(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// Several management clusters may run in one process (the
		// benchmark's test, the clusterctl move scenario).
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
		WebhookServer: webhook.NewServer(webhook.Options{
			Host:    wh.LocalServingHost,
			Port:    wh.LocalServingPort,
			CertDir: wh.LocalServingCertDir,
		}),
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	m.Manager = mgr

	m.unregisterAPIVersionReader = registerAPIVersionReader(mgr.GetAPIReader())
	if err := setupCAPIWebhooks(mgr); err != nil {
		return err
	}
	if err := webhooks.Setup(mgr); err != nil {
		return fmt.Errorf("registering cabpk0s webhooks: %w", err)
	}
	if opts.CAPIControllers {
		if m.ClusterCache, err = setupCAPIControllers(ctx, mgr); err != nil {
			return err
		}
	}
	if opts.Setup != nil {
		if err := opts.Setup(ctx, mgr, m.ClusterCache); err != nil {
			return err
		}
	}

	m.Client, err = client.New(m.Config, client.Options{Scheme: m.Scheme})
	if err != nil {
		return err
	}

	ctx, m.cancel = context.WithCancel(ctx)
	m.finished = make(chan error, 1)
	go func() { m.finished <- mgr.Start(ctx) }()

	select {
	case <-mgr.Elected():
	case err := <-m.finished:
		return fmt.Errorf("manager stopped before it was elected: %w", err)
	case <-time.After(time.Minute):
		return errors.New("manager was not elected within a minute")
	}
	return waitForWebhookServer(ctx, net.JoinHostPort(wh.LocalServingHost, strconv.Itoa(wh.LocalServingPort)), wh.LocalServingCAData)
}

// setupCAPIWebhooks registers every webhook named in Cluster API's core
// webhook configuration, including the conversions of its CRDs.
func setupCAPIWebhooks(mgr ctrl.Manager) error {
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

// setupCAPIControllers runs Cluster API's core reconcilers in the manager,
// with the ClusterCache they share with the controllers under test.
func setupCAPIControllers(ctx context.Context, mgr ctrl.Manager) (clustercache.ClusterCache, error) {
	// The field indexes Cluster API's controllers look objects up by (for
	// example a Machine by the provider ID of a Node that just registered).
	if err := index.AddDefaultIndexes(ctx, mgr); err != nil {
		return nil, fmt.Errorf("adding Cluster API's indexes: %w", err)
	}
	secretClient, err := coresetup.CreateSecretCachingClient(mgr)
	if err != nil {
		return nil, err
	}
	clusterCache, err := clustercache.SetupWithManager(ctx, mgr, clustercache.Options{
		SecretClient: secretClient,
		Cache:        coresetup.ClusterCacheCacheOptions(),
		Client:       coresetup.ClusterCacheClientOptions("testenv", 100, 200),
	}, controller.Options{MaxConcurrentReconciles: 10})
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

// addWebhookConfigurations reads a controller-gen webhook manifest. Every
// provider's manifest names its configurations the same, so each is renamed
// after its source, as kustomize's namePrefix would in a real deployment.
func addWebhookConfigurations(opts *envtest.WebhookInstallOptions, manifest, suffix string) error {
	data, err := os.ReadFile(manifest)
	if err != nil {
		return fmt.Errorf("reading webhook configuration: %w", err)
	}
	objs, err := utilyaml.ToUnstructured(data)
	if err != nil {
		return fmt.Errorf("parsing %s: %w", manifest, err)
	}
	for _, o := range objs {
		raw, err := o.MarshalJSON()
		if err != nil {
			return err
		}
		switch o.GetKind() {
		case "ValidatingWebhookConfiguration":
			cfg := &admissionv1.ValidatingWebhookConfiguration{}
			if err := yaml.Unmarshal(raw, cfg); err != nil {
				return err
			}
			cfg.Name += "-" + suffix
			opts.ValidatingWebhooks = append(opts.ValidatingWebhooks, cfg)
		case "MutatingWebhookConfiguration":
			cfg := &admissionv1.MutatingWebhookConfiguration{}
			if err := yaml.Unmarshal(raw, cfg); err != nil {
				return err
			}
			cfg.Name += "-" + suffix
			opts.MutatingWebhooks = append(opts.MutatingWebhooks, cfg)
		}
	}
	return nil
}

// waitForWebhookServer waits until the webhook server completes a TLS
// handshake with the serving certificate the API server trusts.
func waitForWebhookServer(ctx context.Context, address string, caPEM []byte) error {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: time.Second}, Config: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
	deadline := time.Now().Add(time.Minute)
	for {
		conn, err := dialer.DialContext(ctx, "tcp", address)
		if err == nil {
			return conn.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("webhook server at %s did not answer within a minute: %w", address, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop stops the manager, then the API server and etcd.
func (m *Management) Stop() error {
	var errs []error
	if m.cancel != nil {
		m.cancel()
		if err := <-m.finished; err != nil {
			errs = append(errs, err)
		}
	}
	if m.unregisterAPIVersionReader != nil {
		m.unregisterAPIVersionReader()
	}
	if err := stopEnvironment(m.env); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
