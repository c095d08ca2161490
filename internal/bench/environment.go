package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/controllers/clustercache"
	"sigs.k8s.io/cluster-api/util/secret"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/internal/fixtures"
	"github.com/cabpk0s/cabpk0s/internal/simulation"
	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

// The objects every run creates.
const (
	namespace      = "bench"
	clusterName    = "bench"
	measuredMD     = "bench"
	warmupMD       = "warmup"
	providerUser   = "bench-provider"
	machineVersion = "v1.34.1"
	// poolLabel groups the Machines and configs the harness measures.
	poolLabel = "bench.cabpk0s.dev/pool"
	// plotPoints bounds the points of a result's ready curve.
	plotPoints = 200
)

// KubeadmConfigGVK and KubeadmConfigTemplateGVK are CABPK's kinds.
var (
	KubeadmConfigGVK         = schema.GroupVersionKind{Group: "bootstrap.cluster.x-k8s.io", Version: "v1beta2", Kind: "KubeadmConfig"}
	KubeadmConfigTemplateGVK = schema.GroupVersionKind{Group: "bootstrap.cluster.x-k8s.io", Version: "v1beta2", Kind: "KubeadmConfigTemplate"}
)

// environment is one run's management and workload API servers, with
// Cluster API's core controllers and the simulated infrastructure in this
// process (the harness), and a Cluster ready for workers. The provider
// under measurement runs as its own process.
type environment struct {
	management      *testenv.Management
	workload        *testenv.Workload
	managementAudit *AuditLog
	workloadAudit   *AuditLog
	// providerKubeconfig is a kubeconfig file for the provider's own
	// identity in the management cluster.
	providerKubeconfig string
}

// startEnvironment starts the API servers; capiControllers runs Cluster
// API's core controllers and the simulated infrastructure beside them.
func startEnvironment(ctx context.Context, dir string, log logr.Logger, capiControllers bool) (*environment, error) {
	e := &environment{}
	var err error
	if e.workloadAudit, err = NewAuditLog(dir, "workload"); err != nil {
		return nil, err
	}
	if e.managementAudit, err = NewAuditLog(dir, "management"); err != nil {
		return nil, err
	}
	if e.workload, err = testenv.StartWorkloadWith(ctx, testenv.WorkloadOptions{APIServerArgs: e.workloadAudit.APIServerArgs()}); err != nil {
		return nil, err
	}
	e.management, err = testenv.StartManagement(ctx, testenv.ManagementOptions{
		Logger:          log,
		CAPIControllers: capiControllers,
		APIServerArgs:   e.managementAudit.APIServerArgs(),
		Setup: func(_ context.Context, mgr ctrl.Manager, _ clustercache.ClusterCache) error {
			if !capiControllers {
				return nil
			}
			return (&simulation.InfrastructureSimulator{Client: mgr.GetClient()}).SetupWithManager(mgr)
		},
	})
	if err != nil {
		return nil, errors.Join(err, e.workload.Stop())
	}
	if err := e.setUp(ctx, dir); err != nil {
		return nil, errors.Join(err, e.stop())
	}
	return e, nil
}

func (e *environment) setUp(ctx context.Context, dir string) error {
	capiDir, err := testenv.CAPIModuleDir()
	if err != nil {
		return err
	}
	contract := map[string]string{"cluster.x-k8s.io/v1beta1": "v1beta1", "cluster.x-k8s.io/v1beta2": "v1beta2"}
	kubeadmConfig, err := testenv.ReadCRD(filepath.Join(capiDir, "bootstrap", "kubeadm", "config", "crd", "bases", "bootstrap.cluster.x-k8s.io_kubeadmconfigs.yaml"), contract)
	if err != nil {
		return err
	}
	kubeadmConfigTemplate, err := testenv.ReadCRD(filepath.Join(capiDir, "bootstrap", "kubeadm", "config", "crd", "bases", "bootstrap.cluster.x-k8s.io_kubeadmconfigtemplates.yaml"), contract)
	if err != nil {
		return err
	}
	if err := e.management.InstallCRDs(kubeadmConfig, kubeadmConfigTemplate); err != nil {
		return err
	}

	kubeconfig, err := e.management.AddAdmin(providerUser)
	if err != nil {
		return err
	}
	e.providerKubeconfig = filepath.Join(dir, "provider.kubeconfig")
	if err := os.WriteFile(e.providerKubeconfig, kubeconfig, 0o600); err != nil {
		return err
	}

	c := e.management.Client
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		return err
	}
	if _, err := fixtures.CreateCluster(ctx, c, e.workload, namespace, clusterName, fixtures.ClusterOptions{}); err != nil {
		return err
	}
	if err := addCAKey(ctx, c, clusterName); err != nil {
		return err
	}
	if err := fixtures.CreateAWSMachineTemplate(ctx, c, namespace, "bench"); err != nil {
		return err
	}

	k0sTemplate := &bootstrapv1.K0sWorkerConfigTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "bench"}}
	if err := c.Create(ctx, k0sTemplate); err != nil {
		return fmt.Errorf("creating the K0sWorkerConfigTemplate: %w", err)
	}
	kubeadmTemplate := &unstructured.Unstructured{}
	kubeadmTemplate.SetGroupVersionKind(KubeadmConfigTemplateGVK)
	kubeadmTemplate.SetNamespace(namespace)
	kubeadmTemplate.SetName("bench")
	kubeadmTemplate.Object["spec"] = map[string]any{"template": map[string]any{"spec": map[string]any{
		"joinConfiguration": map[string]any{"nodeRegistration": map[string]any{"kubeletExtraArgs": []any{map[string]any{"name": "cloud-provider", "value": "external"}}}},
	}}}
	if err := c.Create(ctx, kubeadmTemplate); err != nil {
		return fmt.Errorf("creating the KubeadmConfigTemplate: %w", err)
	}
	return nil
}

// createMachineDeployment creates a MachineDeployment whose Machines
// bootstrap with the given template kind. Every provider meets the same
// MachineSet.
func (e *environment) createMachineDeployment(ctx context.Context, name string, replicas int32, bootstrap schema.GroupVersionKind, version string) error {
	return fixtures.CreateMachineDeployment(ctx, e.management.Client, fixtures.MachineDeployment{
		Namespace: namespace, Name: name, Cluster: clusterName, Replicas: replicas, Version: version,
		Bootstrap:              clusterv1.ContractVersionedObjectReference{APIGroup: bootstrap.Group, Kind: bootstrap.Kind, Name: "bench"},
		InfrastructureTemplate: "bench",
		Labels:                 map[string]string{poolLabel: name},
	})
}

func (e *environment) scale(ctx context.Context, name string, replicas int32) error {
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas)
	md := &clusterv1.MachineDeployment{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	return e.management.Client.Patch(ctx, md, client.RawPatch("application/merge-patch+json", []byte(patch)))
}

func (e *environment) stop() error {
	var errs []error
	if e.management != nil {
		errs = append(errs, e.management.Stop())
	}
	if e.workload != nil {
		errs = append(errs, e.workload.Stop())
	}
	return errors.Join(errs...)
}

// addCAKey puts a private key beside the CA certificate in <cluster>-ca, as
// every kubeadm-style control plane publishes it: CABPK refuses a CA Secret
// without one, even for workers, which never use it. The workload API
// server's real CA key is not exposed by envtest, so this key is a
// stand-in that signs nothing.
func addCAKey(ctx context.Context, c client.Client, cluster string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	ca := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: secret.Name(cluster, secret.ClusterCA)}, ca); err != nil {
		return err
	}
	ca.Data[secret.TLSKeyDataName] = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	return c.Update(ctx, ca)
}
