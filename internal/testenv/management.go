package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
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
	coresetup "sigs.k8s.io/cluster-api/core/setup"
	"sigs.k8s.io/cluster-api/util/test/builder"
	utilyaml "sigs.k8s.io/cluster-api/util/yaml"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/yaml"

	cabpk0sconfig "github.com/cabpk0s/cabpk0s/config"
	"github.com/cabpk0s/cabpk0s/internal/manager"
	"github.com/cabpk0s/cabpk0s/internal/webhooks"
)

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

	// ControllerManager runs a real kube-controller-manager with the
	// garbage collector and the namespace controller, as a management
	// cluster has: objects go with their owners.
	ControllerManager bool

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

	env               *envtest.Environment
	certDir           string
	background        *running
	controllerManager *ControllerManager
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
// answer. Call Stop when done. Every manifest it installs is embedded (see
// manifests.go): only the binaries (kube-apiserver, etcd, kube-controller-manager) come from AssetsDir.
func StartManagement(ctx context.Context, opts ManagementOptions) (*Management, error) {
	if err := checkThirdPartyVersion(); err != nil {
		return nil, err
	}
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}

	webhookOptions := envtest.WebhookInstallOptions{
		// CAPI's types convert through controller-runtime's converter
		// registry rather than the Convertible interface, so the scheme
		// cannot tell envtest which CRDs convert; without this envtest
		// silently drops the conversion webhooks and v1beta1 Machines are
		// stored with empty apiGroups in their references.
		IgnoreSchemeConvertible: true,
		LocalServingHost:        "127.0.0.1",
	}
	capiWebhooks, err := capiWebhookManifest()
	if err != nil {
		return nil, err
	}
	for name, manifest := range map[string][]byte{"capi": capiWebhooks, "cabpk0s": cabpk0sconfig.WebhookManifest} {
		if err := addWebhookConfigurations(&webhookOptions, manifest, name); err != nil {
			return nil, err
		}
	}
	if err := addMatchConditions(webhookOptions.ValidatingWebhooks, cabpk0sconfig.WebhookMatchConditions); err != nil {
		return nil, err
	}
	capi, err := capiCRDs()
	if err != nil {
		return nil, err
	}
	cabpk0s, err := cabpk0sCRDs()
	if err != nil {
		return nil, err
	}

	scheme := NewManagementScheme()
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		ErrorIfCRDPathMissing: true,
		// Watches held open by clients keep kube-apiserver from exiting
		// promptly; nothing here needs a graceful shutdown.
		ControlPlaneStopTimeout: stopTimeout,
		CRDDirectoryPaths:       opts.ExtraCRDPaths,
		CRDs: slices.Concat(capi, cabpk0s, []*apiextensionsv1.CustomResourceDefinition{
			// Stand-in control plane kinds carrying the v1beta2 contract
			// label: a generic one, and k0smotron's two.
			builder.GenericControlPlaneCRD.DeepCopy(), K0smotronControlPlaneCRD(), K0sControlPlaneCRD(),
			// A machine pool infrastructure kind; CAPA's AWSMachinePool is not needed.
			builder.GenericInfrastructureMachinePoolCRD.DeepCopy(),
		}),
		Scheme:                scheme,
		WebhookInstallOptions: webhookOptions,
	}
	for name, value := range opts.APIServerArgs {
		env.ControlPlane.GetAPIServer().Configure().Set(name, value)
	}
	// A directory of our own for the API server's certificates: one
	// envtest makes is removed on a stop, and a restart would serve a
	// new CA no client trusts.
	certDir, err := os.MkdirTemp("", "cabpk0s-management-")
	if err != nil {
		return nil, err
	}
	env.ControlPlane.GetAPIServer().CertDir = certDir
	cfg, err := env.Start()
	if err != nil {
		return nil, errors.Join(fmt.Errorf("starting the management API server: %w", err), os.RemoveAll(certDir))
	}
	m := &Management{Config: cfg, Scheme: scheme, env: env, certDir: certDir}

	// Installed after the start, so envtest does not point their
	// conversion at webhooks nobody serves (CAPA's are not): they keep
	// conversion "None".
	capa, err := CAPACRDs(CAPAKinds...)
	if err == nil {
		err = m.InstallCRDs(capa...)
	}
	if err != nil {
		return nil, errors.Join(err, m.Stop())
	}
	if err := m.startManager(ctx, opts); err != nil {
		return nil, errors.Join(err, m.Stop())
	}
	if opts.ControllerManager {
		if m.controllerManager, err = startManagementControllerManager(ctx, env, cfg); err != nil {
			return nil, errors.Join(err, m.Stop())
		}
	}
	return m, nil
}

func (m *Management) startManager(ctx context.Context, opts ManagementOptions) error {
	logger := opts.Logger
	if logger.GetSink() == nil {
		logger = logr.Discard()
	}
	ctrl.SetLogger(logger)

	wh := m.env.WebhookInstallOptions
	// As in Cluster API's and cabpk0s's managers: Secrets and ConfigMaps
	// are read live, only cluster Secrets are cached. Managed fields and
	// whole Machines stay: Cluster API's controllers share this cache.
	cacheOptions := manager.SharedCacheOptions(m.Scheme, InformerName("testenv"), "", 10*time.Minute)
	mgr, err := ctrl.NewManager(m.Config, ctrl.Options{
		Scheme:                 m.Scheme,
		Logger:                 logger,
		Cache:                  cacheOptions,
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

	m.unregisterAPIVersionReader = RegisterAPIVersionReader(mgr.GetAPIReader())
	if err := SetupCAPIWebhooks(mgr); err != nil {
		return err
	}
	if err := webhooks.Setup(mgr, webhooks.Scope{}); err != nil {
		return fmt.Errorf("registering cabpk0s webhooks: %w", err)
	}
	if opts.CAPIControllers {
		// One ClusterCache for Cluster API's controllers and cabpk0s's
		// (opts.Setup), with cabpk0s's settings: its bootstrap tokens are
		// cached, and Cluster API's controllers read no workload Secret.
		sharedCache := func(secretClient client.Client) clustercache.Options {
			return manager.ClusterCacheOptions(secretClient, "testenv", 100, 200)
		}
		if m.ClusterCache, err = SetupCAPIControllers(ctx, mgr, sharedCache); err != nil {
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

	if m.background, err = runInBackground(ctx, mgr); err != nil {
		return err
	}
	return WaitForTLS(ctx, net.JoinHostPort(wh.LocalServingHost, strconv.Itoa(wh.LocalServingPort)), "", wh.LocalServingCAData)
}

// addWebhookConfigurations reads a controller-gen webhook manifest. Every
// provider's manifest names its configurations the same, so each is renamed
// after its source, as kustomize's namePrefix would in a real deployment.
func addWebhookConfigurations(opts *envtest.WebhookInstallOptions, manifest []byte, suffix string) error {
	objs, err := utilyaml.ToUnstructured(manifest)
	if err != nil {
		return fmt.Errorf("parsing the %s webhook configuration: %w", suffix, err)
	}
	for _, o := range objs {
		o.SetName(o.GetName() + "-" + suffix)
		raw, err := o.MarshalJSON()
		if err != nil {
			return err
		}
		var cfg client.Object
		switch o.GetKind() {
		case "ValidatingWebhookConfiguration":
			validating := &admissionv1.ValidatingWebhookConfiguration{}
			opts.ValidatingWebhooks, cfg = append(opts.ValidatingWebhooks, validating), validating
		case "MutatingWebhookConfiguration":
			mutating := &admissionv1.MutatingWebhookConfiguration{}
			opts.MutatingWebhooks, cfg = append(opts.MutatingWebhooks, mutating), mutating
		default:
			continue
		}
		if err := yaml.Unmarshal(raw, cfg); err != nil {
			return err
		}
	}
	return nil
}

// addMatchConditions applies the kustomize patch that gives cabpk0s's
// validating webhooks their matchConditions, as kustomize does for a
// release: each webhook the patch names, wherever it is configured, gets
// the patch's conditions.
func addMatchConditions(configs []*admissionv1.ValidatingWebhookConfiguration, patch []byte) error {
	p := &admissionv1.ValidatingWebhookConfiguration{}
	if err := yaml.Unmarshal(patch, p); err != nil {
		return fmt.Errorf("parsing the webhook matchConditions patch: %w", err)
	}
	for _, want := range p.Webhooks {
		found := false
		for _, cfg := range configs {
			for i := range cfg.Webhooks {
				if cfg.Webhooks[i].Name == want.Name {
					cfg.Webhooks[i].MatchConditions, found = want.MatchConditions, true
				}
			}
		}
		if !found {
			return fmt.Errorf("the webhook matchConditions patch names %s, which no webhook configuration has", want.Name)
		}
	}
	return nil
}

// Stop stops the manager, then the API server and etcd.
func (m *Management) Stop() error {
	errs := []error{m.controllerManager.Stop()}
	if err := m.background.stop(); err != nil {
		errs = append(errs, err)
	}
	if m.unregisterAPIVersionReader != nil {
		m.unregisterAPIVersionReader()
	}
	if err := stopEnvironment(m.env); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(append(errs, os.RemoveAll(m.certDir))...)
}

// StopAPIServer stops the API server alone, as an outage or an upgrade of
// the management cluster's control plane does: etcd keeps the state, and
// StartAPIServer brings it back on its address with its certificates.
// Clients, the in-process manager's included, see it go and come back.
func (m *Management) StopAPIServer() error {
	return ignoreStopTimeout(m.env.ControlPlane.APIServer.Stop())
}

// StartAPIServer starts the API server StopAPIServer stopped.
func (m *Management) StartAPIServer() error {
	return m.env.ControlPlane.APIServer.Start()
}
