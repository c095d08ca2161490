// Package sandbox runs cabpk0s on an embedded management plane with no
// Docker and no cloud: real kube-apiservers and etcds (management and
// workload), Cluster API's core controllers and cabpk0s in one process, and
// simulations — each clearly named — of the parts that need real machines:
// the k0s control plane, the AWS infrastructure and the machines' boot.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/controllers/clustercache"
	"sigs.k8s.io/cluster-api/util/kubeconfig"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cabpk0s/cabpk0s/internal/fixtures"
	"github.com/cabpk0s/cabpk0s/internal/manager"
	"github.com/cabpk0s/cabpk0s/internal/simulation"
	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

// The Cluster the seed's manifests name; the sandbox always provides it.
const (
	SeedNamespace = "default"
	SeedCluster   = "cp-test"
)

// Options configure Start.
type Options struct {
	// StateDir receives management.kubeconfig, workload.kubeconfig and,
	// once everything is up, an empty "ready" file.
	StateDir string
	// Empty applies none of the sample Machines and MachineDeployments.
	Empty bool
	// Logger receives the controllers' logs.
	Logger logr.Logger
	// Out receives progress messages for a person.
	Out io.Writer
	// BootstrapTokenTTL is cabpk0s's --bootstrap-token-ttl.
	BootstrapTokenTTL time.Duration
	// ControlPlaneMachines, when positive, also creates Cluster
	// MachinesCluster, whose control plane is a K0sControlPlane of that
	// many controller Machines bootstrapped by cabpk0s's
	// K0sControllerConfigs.
	ControlPlaneMachines int
}

// MachinesCluster is the Cluster with a machine-based control plane the
// sandbox creates with Options.ControlPlaneMachines.
const MachinesCluster = "cp-machines"

// MachinesVersion is the k0s version of its controllers.
const MachinesVersion = "v1.33.4+k0s.0"

// Sandbox is a running embedded management plane.
type Sandbox struct {
	Management *testenv.Management
	Workload   *testenv.Workload
	opts       Options
}

// Start brings everything up and returns once the ready file is written.
func Start(ctx context.Context, opts Options) (*Sandbox, error) {
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.BootstrapTokenTTL == 0 {
		opts.BootstrapTokenTTL = manager.DefaultBootstrapTokenTTL
	}
	if err := os.MkdirAll(opts.StateDir, 0o750); err != nil {
		return nil, err
	}
	_ = os.Remove(filepath.Join(opts.StateDir, "ready"))

	s := &Sandbox{opts: opts}
	fmt.Fprintln(opts.Out, "starting the workload cluster (no k0s: kube-apiserver and kube-controller-manager with k0s's worker RBAC)")
	var err error
	if s.Workload, err = testenv.StartWorkload(ctx); err != nil {
		return nil, err
	}
	fmt.Fprintln(opts.Out, "starting the management cluster: API server, Cluster API, cabpk0s and the simulations")
	reconcilers := &manager.Options{Concurrency: 10, BootstrapTokenTTL: opts.BootstrapTokenTTL}
	s.Management, err = testenv.StartManagement(ctx, testenv.ManagementOptions{
		Logger:            opts.Logger,
		CAPIControllers:   true,
		ControllerManager: true,
		Setup: func(ctx context.Context, mgr ctrl.Manager, clusterCache clustercache.ClusterCache) error {
			c := mgr.GetClient()
			for _, setup := range []func(ctrl.Manager) error{
				(&simulation.ControlPlaneSimulator{Client: c, Workload: s.Workload}).SetupWithManager,
				(&simulation.K0sControlPlaneSimulator{Client: c, Workload: s.Workload}).SetupWithManager,
				(&simulation.InfrastructureSimulator{Client: c}).SetupWithManager,
				(&simulation.BootSimulator{
					Client: c, Workload: s.Workload, Recorder: mgr.GetEventRecorder("simulated-machine-boot"),
					ValidateCloudConfig: cloudConfigValidator(),
					StateDir:            filepath.Join(opts.StateDir, "machines"),
				}).SetupWithManager,
			} {
				if err := setup(mgr); err != nil {
					return err
				}
			}
			// cabpk0s runs in this process, with the same wiring as its
			// binary, so one command starts the product and one Ctrl-C
			// stops all of it; the webhooks are served by the harness.
			return reconcilers.SetupReconcilers(ctx, mgr, clusterCache)
		},
	})
	if err != nil {
		return nil, errors.Join(err, s.Workload.Stop())
	}

	if err := s.createSeedCluster(ctx); err != nil {
		return nil, errors.Join(err, s.Stop())
	}
	if !opts.Empty {
		if err := s.applySamples(ctx); err != nil {
			return nil, errors.Join(err, s.Stop())
		}
	}
	if opts.ControlPlaneMachines > 0 {
		host, port, err := s.Workload.Endpoint()
		if err != nil {
			return nil, errors.Join(err, s.Stop())
		}
		endpoint := clusterv1.APIEndpoint{Host: host, Port: port}
		if err := CreateK0sControlPlaneCluster(ctx, s.Management.Client, SeedNamespace, MachinesCluster, opts.ControlPlaneMachines, MachinesVersion, endpoint); err != nil {
			return nil, errors.Join(err, s.Stop())
		}
		fmt.Fprintf(opts.Out, "created Cluster %s/%s: a K0sControlPlane of %d controller Machines (K0sControllerConfigs by cabpk0s)\n", SeedNamespace, MachinesCluster, opts.ControlPlaneMachines)
	}
	for name, cfg := range map[string]*rest.Config{"management": s.Management.Config, "workload": s.Workload.Config} {
		if err := writeKubeconfig(filepath.Join(opts.StateDir, name+".kubeconfig"), name, cfg); err != nil {
			return nil, errors.Join(err, s.Stop())
		}
	}
	if err := os.WriteFile(filepath.Join(opts.StateDir, "ready"), nil, 0o600); err != nil {
		return nil, errors.Join(err, s.Stop())
	}
	return s, nil
}

// createSeedCluster creates the Cluster the seed names.
func (s *Sandbox) createSeedCluster(ctx context.Context) error {
	if err := CreateSeedCluster(ctx, s.Management.Client, SeedNamespace); err != nil {
		return err
	}
	fmt.Fprintf(s.opts.Out, "created Cluster %s/%s (K0smotronControlPlane and AWSCluster simulated)\n", SeedNamespace, SeedCluster)
	return nil
}

// CreateSeedCluster creates the Cluster the seed's manifests name in
// namespace, as a platform team would with k0smotron: a
// K0smotronControlPlane and an AWSCluster, which the simulations provision.
func CreateSeedCluster(ctx context.Context, c client.Client, namespace string) error {
	awsCluster := &unstructured.Unstructured{}
	awsCluster.SetGroupVersionKind(testenv.AWSClusterGVK)
	awsCluster.SetNamespace(namespace)
	awsCluster.SetName(SeedCluster)
	awsCluster.Object["spec"] = map[string]any{"region": "us-east-1"}

	cp := &unstructured.Unstructured{}
	cp.SetGroupVersionKind(testenv.K0smotronControlPlaneGVK)
	cp.SetNamespace(namespace)
	cp.SetName(SeedCluster)
	cp.Object["spec"] = map[string]any{"version": "v1.27.2-k0s.0"}

	cluster := &clusterv1.Cluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: SeedCluster},
		Spec: clusterv1.ClusterSpec{
			InfrastructureRef: clusterv1.ContractVersionedObjectReference{APIGroup: testenv.AWSClusterGVK.Group, Kind: testenv.AWSClusterGVK.Kind, Name: SeedCluster},
			ControlPlaneRef:   clusterv1.ContractVersionedObjectReference{APIGroup: testenv.K0smotronControlPlaneGVK.Group, Kind: testenv.K0smotronControlPlaneGVK.Kind, Name: SeedCluster},
		},
	}
	for _, obj := range []client.Object{awsCluster, cp, cluster} {
		if err := c.Create(ctx, obj); err != nil {
			return fmt.Errorf("creating the seed Cluster's %s: %w", obj.GetObjectKind().GroupVersionKind().Kind, err)
		}
	}
	return nil
}

// CreateK0sControlPlaneCluster creates a Cluster whose control plane is a
// K0sControlPlane (k0smotron's machine-based control plane, simulated) of
// replicas controllers of version, as a platform team would write it. The
// endpoint is the AWSCluster's, as CAPA's load balancer would be: Cluster
// API takes a control plane's own endpoint only once it is initialized,
// and machine-based controllers need it before.
func CreateK0sControlPlaneCluster(ctx context.Context, c client.Client, namespace, name string, replicas int, version string, endpoint clusterv1.APIEndpoint) error {
	awsCluster := &unstructured.Unstructured{}
	awsCluster.SetGroupVersionKind(testenv.AWSClusterGVK)
	awsCluster.SetNamespace(namespace)
	awsCluster.SetName(name)
	awsCluster.Object["spec"] = map[string]any{
		"region":               "us-east-1",
		"controlPlaneEndpoint": map[string]any{"host": endpoint.Host, "port": int64(endpoint.Port)},
	}

	cp := &unstructured.Unstructured{}
	cp.SetGroupVersionKind(testenv.K0sControlPlaneGVK)
	cp.SetNamespace(namespace)
	cp.SetName(name)
	cp.Object["spec"] = map[string]any{
		"replicas": int64(replicas),
		"version":  version,
		"k0sConfigSpec": map[string]any{
			"args": []any{"--debug"},
			"k0s":  map[string]any{"spec": map[string]any{"api": map[string]any{"sans": []any{name + ".example.com"}}}},
		},
	}

	cluster := &clusterv1.Cluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: clusterv1.ClusterSpec{
			ClusterNetwork: clusterv1.ClusterNetwork{
				Pods:     clusterv1.NetworkRanges{CIDRBlocks: []string{"10.244.0.0/16"}},
				Services: clusterv1.NetworkRanges{CIDRBlocks: []string{"10.96.0.0/12"}},
			},
			InfrastructureRef: clusterv1.ContractVersionedObjectReference{APIGroup: testenv.AWSClusterGVK.Group, Kind: testenv.AWSClusterGVK.Kind, Name: name},
			ControlPlaneRef:   clusterv1.ContractVersionedObjectReference{APIGroup: testenv.K0sControlPlaneGVK.Group, Kind: testenv.K0sControlPlaneGVK.Kind, Name: name},
		},
	}
	for _, obj := range []client.Object{awsCluster, cp, cluster} {
		if err := c.Create(ctx, obj); err != nil {
			return fmt.Errorf("creating Cluster %s's %s: %w", name, obj.GetObjectKind().GroupVersionKind().Kind, err)
		}
	}
	return nil
}

// cloudConfigValidator checks single-part cloud-config with cloud-init,
// when it is installed.
func cloudConfigValidator() func([]byte) error {
	if _, err := exec.LookPath("cloud-init"); err != nil {
		return nil
	}
	return fixtures.ValidateCloudConfig
}

func writeKubeconfig(path, name string, cfg *rest.Config) error {
	data := kubeconfig.FromEnvTestConfig(cfg, &clusterv1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: name}})
	return os.WriteFile(path, data, 0o600)
}

// Stop stops everything within a few seconds.
func (s *Sandbox) Stop() error {
	errs := make(chan error, 2)
	go func() { errs <- s.Management.Stop() }()
	go func() { errs <- s.Workload.Stop() }()
	return errors.Join(<-errs, <-errs)
}
