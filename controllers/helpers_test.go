package controllers_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	utilyaml "sigs.k8s.io/cluster-api/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/internal/fixtures"
	"github.com/cabpk0s/cabpk0s/internal/jointoken"
	"github.com/cabpk0s/cabpk0s/internal/simulation"
	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

const (
	waitTimeout = 30 * time.Second
	pollEvery   = 200 * time.Millisecond
)

func newNamespace(t *testing.T, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	if err := env.Client.Create(t.Context(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

func createCluster(t *testing.T, ns, name string, opts fixtures.ClusterOptions) *clusterv1.Cluster {
	t.Helper()
	cluster, err := fixtures.CreateCluster(t.Context(), env.Client, workload, ns, name, opts)
	if err != nil {
		t.Fatal(err)
	}
	return cluster
}

// sample reads the seed manifests of config/samples/<file> unchanged.
func sample(t *testing.T, file string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "samples", file))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := utilyaml.ToUnstructured(data)
	if err != nil {
		t.Fatal(err)
	}
	objs := make([]*unstructured.Unstructured, len(docs))
	for i := range docs {
		objs[i] = &docs[i]
	}
	return objs
}

// createMachine creates a Machine of cluster bootstrapped by the
// K0sWorkerConfig configName, with an AWSMachine the infrastructure
// simulator provisions.
func createMachine(t *testing.T, ns, clusterName, name, configName string) *clusterv1.Machine {
	t.Helper()
	return createMachineOf(t, ns, clusterName, name, "K0sWorkerConfig", configName)
}

// createMachineOf is createMachine with a config of kind.
func createMachineOf(t *testing.T, ns, clusterName, name, kind, configName string) *clusterv1.Machine {
	t.Helper()
	g := NewWithT(t)
	awsMachine := &unstructured.Unstructured{}
	awsMachine.SetGroupVersionKind(testenv.AWSMachineGVK)
	awsMachine.SetNamespace(ns)
	awsMachine.SetName(name)
	awsMachine.Object["spec"] = map[string]any{"instanceType": "t3.large"}
	g.Expect(env.Client.Create(t.Context(), awsMachine)).To(Succeed())
	machine := &clusterv1.Machine{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: clusterv1.MachineSpec{
			ClusterName:       clusterName,
			Bootstrap:         clusterv1.Bootstrap{ConfigRef: clusterv1.ContractVersionedObjectReference{APIGroup: bootstrapv1.GroupVersion.Group, Kind: kind, Name: configName}},
			InfrastructureRef: clusterv1.ContractVersionedObjectReference{APIGroup: testenv.AWSMachineGVK.Group, Kind: "AWSMachine", Name: name},
		},
	}
	g.Expect(env.Client.Create(t.Context(), machine)).To(Succeed())
	return machine
}

func getConfig(t *testing.T, ns, name string) *bootstrapv1.K0sWorkerConfig {
	t.Helper()
	config := &bootstrapv1.K0sWorkerConfig{}
	if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, config); err != nil {
		t.Fatal(err)
	}
	return config
}

// waitForDataSecret waits for a config's bootstrap data Secret and status.
func waitForDataSecret(t *testing.T, ns, name string) *corev1.Secret {
	t.Helper()
	g := NewWithT(t)
	s := &corev1.Secret{}
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, s)).To(Succeed())
		config := getConfig(t, ns, name)
		g.Expect(config.Status.Initialization.DataSecretCreated).To(HaveValue(BeTrue()))
		g.Expect(config.Status.DataSecretName).To(HaveValue(Equal(name)))
	}, waitTimeout, pollEvery).Should(Succeed())
	return s
}

func conditionReason(t *testing.T, ns, name, conditionType string) func() string {
	return func() string {
		config := &bootstrapv1.K0sWorkerConfig{}
		if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, config); err != nil {
			return err.Error()
		}
		for _, c := range config.Status.Conditions {
			if c.Type == conditionType {
				return c.Reason + ": " + c.Message
			}
		}
		return ""
	}
}

// cloudConfigFiles returns the files bootstrap data writes, decoded.
func cloudConfigFiles(t *testing.T, data []byte) map[string]string {
	t.Helper()
	files, err := simulation.BootstrapFiles(data, "cloud-config")
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// joinToken extracts the k0s join token from bootstrap data.
func joinToken(t *testing.T, data []byte) string {
	t.Helper()
	token, err := simulation.JoinTokenFromBootstrapData(data, "cloud-config")
	if err != nil {
		t.Fatal(err)
	}
	rememberToken(t, token)
	return token
}

// rememberToken records a join token and its bootstrap token as
// credentials no log may contain.
func rememberToken(t *testing.T, token string) {
	t.Helper()
	rememberCredential(token)
	kubeconfig, err := jointoken.Decode(token)
	if err != nil {
		t.Fatal(err)
	}
	// A worker's user is kubelet-bootstrap, a controller's
	// controller-bootstrap.
	for _, auth := range kubeconfig.AuthInfos {
		rememberCredential(auth.Token)
		if _, secret, ok := strings.Cut(auth.Token, "."); ok {
			rememberCredential(secret)
		}
	}
}

// joinAsWorker joins a machine called nodeName with a k0s join token, as
// the k0s worker does (the kubelet's TLS bootstrap, a certificate the
// workload's controller manager signs), and returns who filed the node's
// certificate request: the bootstrap identity the token authenticates as.
func joinAsWorker(t *testing.T, k0sToken, nodeName string) authenticationv1.UserInfo {
	t.Helper()
	joined, err := simulation.Join(t.Context(), k0sToken, simulation.Worker{Hostname: nodeName, K0sVersion: joinVersion, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	requester, err := joined.Requester(t.Context(), workload.Client)
	if err != nil {
		t.Fatal(err)
	}
	return requester
}

// tokenSecrets returns the bootstrap-token Secrets in the workload cluster
// whose description names the config.
func tokenSecrets(t *testing.T, ns, configName string) []corev1.Secret {
	t.Helper()
	list := &corev1.SecretList{}
	if err := workload.Client.List(t.Context(), list, client.InNamespace(metav1.NamespaceSystem)); err != nil {
		t.Fatal(err)
	}
	var out []corev1.Secret
	for _, s := range list.Items {
		if s.Type == bootstrapapi.SecretTypeBootstrapToken && strings.Contains(string(s.Data[bootstrapapi.BootstrapTokenDescriptionKey]), "K0sWorkerConfig "+ns+"/"+configName+",") {
			out = append(out, s)
		}
	}
	return out
}

// tokenExists says whether the bootstrap-token Secret of id exists in the
// workload cluster. Only NotFound means it does not: any other error fails
// the test (also inside Eventually), or a transport error would pass for a
// revoked token.
func tokenExists(t *testing.T, id string) bool {
	t.Helper()
	err := workload.Client.Get(t.Context(), client.ObjectKey{Namespace: metav1.NamespaceSystem, Name: jointoken.SecretName(id)}, &corev1.Secret{})
	switch {
	case err == nil:
		return true
	case apierrors.IsNotFound(err):
		return false
	default:
		t.Fatalf("reading the bootstrap-token Secret of %s: %v", id, err)
		return false
	}
}

// joinNode boots the Machine's machine with its bootstrap data as the k0s
// worker does (simulation.Boot: the script's k0s install worker line, the
// kubelet's TLS bootstrap signed by the workload's controller manager, the
// worker profile, the Node registered by the node itself) and waits until
// Cluster API found the Node. All test clusters share one workload API
// server, so hostnames carry the namespace.
func joinNode(t *testing.T, ns, machineName string) simulation.Booted {
	t.Helper()
	g := NewWithT(t)
	machine := &clusterv1.Machine{}
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: machineName}, machine)).To(Succeed())
		g.Expect(machine.Spec.ProviderID).NotTo(BeEmpty())
		g.Expect(machine.Spec.Bootstrap.DataSecretName).NotTo(BeNil())
	}, waitTimeout, pollEvery).Should(Succeed())
	booted, err := bootMachine(t, machine)
	if err != nil {
		t.Fatal(err)
	}
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: machineName}, machine)).To(Succeed())
		g.Expect(machine.Status.NodeRef.IsDefined()).To(BeTrue())
	}, waitTimeout, pollEvery).Should(Succeed())
	return booted
}

// bootMachine runs the Machine's bootstrap data on a machine of its own.
func bootMachine(t *testing.T, machine *clusterv1.Machine) (simulation.Booted, error) {
	t.Helper()
	data := &corev1.Secret{}
	if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: machine.Namespace, Name: *machine.Spec.Bootstrap.DataSecretName}, data); err != nil {
		t.Fatal(err)
	}
	if token, err := simulation.JoinTokenFromBootstrapData(data.Data["value"], string(data.Data["format"])); err == nil {
		rememberToken(t, token) // no log may contain it
	}
	return simulation.Boot(t.Context(), data.Data["value"], string(data.Data["format"]), simulation.Machine{
		Hostname: machine.Namespace + "-" + machine.Name, ProviderID: machine.Spec.ProviderID, DataDir: t.TempDir(),
	})
}

// validateCloudConfig checks bootstrap data with cloud-init itself.
func validateCloudConfig(t *testing.T, data []byte) {
	t.Helper()
	if err := fixtures.ValidateCloudConfig(data); err != nil {
		t.Fatal(err)
	}
}

// tokenOperations reads cabpk0s_join_token_operations_total{operation}
// from the in-process manager's metrics registry.
func tokenOperations(t *testing.T, operation string) float64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "cabpk0s_join_token_operations_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "operation" && l.GetValue() == operation {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
