package faults

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/controllers/clustercache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/internal/fixtures"
	"github.com/cabpk0s/cabpk0s/internal/simulation"
	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

// The objects of a run.
const (
	namespace       = "faults"
	clusterName     = "faults"
	deploymentName  = "workers"
	k0sVersion      = "v1.34.1+k0s.0"
	machineVersion  = k0sVersion
	kubernetesMinor = "1.34"
	// providerUser is the managers' identity behind the fault proxy.
	providerUser = "cabpk0s-faults"
	// bootPercent of the MachineDeployment's Machines get an instance
	// that boots and joins; the others stay pending, as instances that
	// never come up, so their tokens are kept alive and refreshed.
	bootPercent = 25
)

// environment is a run's workload cluster (real API server and controller
// manager), management cluster (real API server, etcd and controller
// manager, Cluster API's controllers and the simulated infrastructure in
// this process) and the fault proxy the manager replicas reach it through.
type environment struct {
	dir        string
	seed       int64
	workload   *testenv.Workload
	management *testenv.Management
	proxy      *faultProxy
	// kubeconfig is the replicas' kubeconfig: the proxy, no credentials
	// (the proxy holds them).
	kubeconfig string
}

// shouldBoot picks, by the run's seed, the Machines whose instance boots:
// a replay boots the same ones.
func (e *environment) shouldBoot(m *clusterv1.Machine) bool {
	if strings.HasPrefix(m.Name, badInputPrefix) {
		return true
	}
	h := fnv.New32a()
	fmt.Fprintf(h, "%d/%s", e.seed, m.Name)
	return h.Sum32()%100 < bootPercent
}

func startEnvironment(t *testing.T, seed int64) *environment {
	t.Helper()
	ctx := t.Context()
	e := &environment{dir: t.TempDir(), seed: seed}
	var err error
	if e.workload, err = testenv.StartWorkload(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.workload.Stop(); err != nil {
			t.Error(err)
		}
	})
	if err := e.workload.PublishWorkerProfiles(ctx, kubernetesMinor, nil); err != nil {
		t.Fatal(err)
	}
	e.startManagement(t)
	if err := e.createCluster(ctx); err != nil {
		t.Fatal(err)
	}
	return e
}

// startManagement starts a management cluster for e's workload cluster,
// and the fault proxy in front of it.
func (e *environment) startManagement(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	var err error
	e.management, err = testenv.StartManagement(ctx, testenv.ManagementOptions{
		Logger:            logr.Discard(),
		CAPIControllers:   true,
		ControllerManager: true,
		Setup: func(_ context.Context, mgr ctrl.Manager, _ clustercache.ClusterCache) error {
			c := mgr.GetClient()
			return errors.Join(
				(&simulation.InfrastructureSimulator{Client: c}).SetupWithManager(mgr),
				(&simulation.BootSimulator{
					Client: c, Workload: e.workload, Recorder: mgr.GetEventRecorder("simulated-machine-boot"),
					StateDir: filepath.Join(e.dir, "machines"), ShouldBoot: e.shouldBoot,
				}).SetupWithManager(mgr),
			)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.management.Stop(); err != nil {
			t.Error(err)
		}
	})

	kubeconfig, err := e.management.AddAdmin(providerUser)
	if err != nil {
		t.Fatal(err)
	}
	upstream, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if e.proxy, err = startFaultProxy(upstream, e.seed); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.proxy.stop)
	e.kubeconfig = filepath.Join(e.dir, "replicas.kubeconfig")
	if err := os.WriteFile(e.kubeconfig, []byte(proxyKubeconfig(e.proxy.url())), 0o600); err != nil {
		t.Fatal(err)
	}
}

func proxyKubeconfig(server string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: management
  cluster:
    server: %s
contexts:
- name: replicas
  context:
    cluster: management
    user: replicas
users:
- name: replicas
  user: {}
current-context: replicas
`, server)
}

// createCluster creates the Cluster, its infrastructure and the
// MachineDeployment (at zero replicas) the run scales.
func (e *environment) createCluster(ctx context.Context) error {
	c := e.management.Client
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		return err
	}
	if _, err := fixtures.CreateCluster(ctx, c, e.workload, namespace, clusterName, fixtures.ClusterOptions{}); err != nil {
		return err
	}
	if err := fixtures.CreateAWSMachineTemplate(ctx, c, namespace, deploymentName); err != nil {
		return err
	}
	template := &bootstrapv1.K0sWorkerConfigTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: deploymentName},
		Spec: bootstrapv1.K0sWorkerConfigTemplateSpec{Template: bootstrapv1.K0sWorkerConfigTemplateResource{Spec: bootstrapv1.K0sWorkerConfigSpec{
			K0sInstallSpec: bootstrapv1.K0sInstallSpec{
				Args: []string{"--labels=faults.cabpk0s.dev/pool=" + deploymentName},
			},
		}}},
	}
	if err := c.Create(ctx, template); err != nil {
		return fmt.Errorf("creating the K0sWorkerConfigTemplate: %w", err)
	}
	return fixtures.CreateMachineDeployment(ctx, c, fixtures.MachineDeployment{
		Namespace: namespace, Name: deploymentName, Cluster: clusterName, Version: machineVersion,
		Bootstrap: clusterv1.ContractVersionedObjectReference{
			APIGroup: bootstrapv1.GroupVersion.Group, Kind: "K0sWorkerConfigTemplate", Name: deploymentName,
		},
		InfrastructureTemplate: deploymentName,
		Labels:                 map[string]string{clusterv1.MachineDeploymentNameLabel: deploymentName},
	})
}

// scale sets the MachineDeployment's replicas.
func (e *environment) scale(ctx context.Context, replicas int) error {
	md := &clusterv1.MachineDeployment{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: deploymentName}}
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas)
	return e.management.Client.Patch(ctx, md, client.RawPatch("application/merge-patch+json", []byte(patch)))
}

// setPaused pauses or unpauses the Cluster.
func (e *environment) setPaused(ctx context.Context, paused bool) error {
	cluster := &clusterv1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: clusterName}}
	patch := fmt.Sprintf(`{"spec":{"paused":%t}}`, paused)
	return e.management.Client.Patch(ctx, cluster, client.RawPatch("application/merge-patch+json", []byte(patch)))
}
