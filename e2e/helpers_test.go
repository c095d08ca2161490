//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/test/framework"
	"sigs.k8s.io/cluster-api/test/framework/clusterctl"
	"sigs.k8s.io/cluster-api/util"
	"sigs.k8s.io/cluster-api/util/conditions"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
)

// k0smotronControlPlaneGVK is k0smotron's hosted control plane kind.
var k0smotronControlPlaneGVK = schema.GroupVersionKind{Group: "controlplane.cluster.x-k8s.io", Version: "v1beta2", Kind: "K0smotronControlPlane"}

// joinTokenAnnotation names a config's join token from the config's creation until the node joins.
const joinTokenAnnotation = "bootstrap.cluster.x-k8s.io/k0s-join-token-id" //nolint:gosec // an annotation key, not a credential (controllers.TokenIDAnnotation)

// Labels and taints the MachineDeployment's K0sWorkerConfigTemplate sets in
// every template under data/ (the quick start asserts them).
const (
	poolLabelKey   = "e2e.cabpk0s.io/pool"
	poolLabelValue = "md-0"
)

// k0smotronWaiters replace the framework's KubeadmControlPlane waiters: the
// control plane is initialized when the Cluster says so, and ready when the
// workload API server (k0s controllers in pods) answers. It has no Machines.
func k0smotronWaiters() clusterctl.ControlPlaneWaiters {
	return clusterctl.ControlPlaneWaiters{
		WaitForControlPlaneInitialized: func(ctx context.Context, input clusterctl.ApplyCustomClusterTemplateAndWaitInput, result *clusterctl.ApplyCustomClusterTemplateAndWaitResult) {
			c := input.ClusterProxy.GetClient()
			Eventually(func(g Gomega) {
				cluster := &clusterv1.Cluster{}
				g.Expect(c.Get(ctx, client.ObjectKeyFromObject(result.Cluster), cluster)).To(Succeed())
				g.Expect(ptr.Deref(cluster.Status.Initialization.ControlPlaneInitialized, false)).To(BeTrue(),
					"the control plane of %s is not initialized", cluster.Name)
				result.Cluster = cluster
			}, input.WaitForControlPlaneIntervals...).Should(Succeed())
		},
		WaitForControlPlaneMachinesReady: func(ctx context.Context, input clusterctl.ApplyCustomClusterTemplateAndWaitInput, result *clusterctl.ApplyCustomClusterTemplateAndWaitResult) {
			cp := &unstructured.Unstructured{}
			cp.SetGroupVersionKind(k0smotronControlPlaneGVK)
			Expect(input.ClusterProxy.GetClient().Get(ctx, client.ObjectKey{Namespace: result.Cluster.Namespace, Name: result.Cluster.Spec.ControlPlaneRef.Name}, cp)).To(Succeed())
			workload := input.ClusterProxy.GetWorkloadCluster(ctx, result.Cluster.Namespace, result.Cluster.Name)
			Eventually(func() error {
				_, err := workload.GetClientSet().Discovery().ServerVersion()
				return err
			}, input.WaitForControlPlaneIntervals...).Should(Succeed(), "the API server of %s does not answer", result.Cluster.Name)
		},
	}
}

// clusterSpec is the common shape of a spec: a namespace, a cluster from a
// flavor, and a dump + cleanup at the end.
type clusterSpec struct {
	name        string
	proxy       framework.ClusterProxy
	namespace   *corev1.Namespace
	cancelWatch context.CancelFunc
	result      *clusterctl.ApplyClusterTemplateAndWaitResult
}

// newClusterSpec creates the spec's namespace in the bootstrap cluster.
func newClusterSpec(name string) *clusterSpec {
	ns, cancel := framework.SetupSpecNamespace(ctx, name, bootstrapClusterProxy, artifactFolder, nil)
	return &clusterSpec{
		name: name, proxy: bootstrapClusterProxy, namespace: ns, cancelWatch: cancel,
		result: &clusterctl.ApplyClusterTemplateAndWaitResult{},
	}
}

// apiPorts gives every spec its own NodePorts for the hosted control plane,
// so specs can share one management cluster, even in parallel.
var apiPorts = map[string]int{
	"quick-start": 0, "md-scale": 1, "k0s-rollout": 2, "self-hosted": 3, "clusterctl-upgrade": 4, "flatcar": 5,
}

// createCluster applies a flavor and waits for the control plane and the
// MachineDeployments; workers is the MachineDeployment's replica count.
func (s *clusterSpec) createCluster(flavor string, workers int64, vars map[string]string) {
	k0sVersion := e2eConfig.MustGetVariable(varK0sVersion)
	variables := map[string]string{
		varK0sWorkerVersion: k0sVersion,
	}
	if i, ok := apiPorts[s.name]; ok {
		variables[varControlPlaneAPIPort] = fmt.Sprint(30443 + i)
		variables[varControlPlaneKonnectivity] = fmt.Sprint(30132 + i)
	}
	for k, v := range vars {
		variables[k] = v
	}
	clusterName := fmt.Sprintf("%s-%s", s.name, util.RandomString(6))
	clusterctl.ApplyClusterTemplateAndWait(ctx, clusterctl.ApplyClusterTemplateAndWaitInput{
		ClusterProxy: s.proxy,
		ConfigCluster: clusterctl.ConfigClusterInput{
			LogFolder:                filepath.Join(artifactFolder, "clusters", s.proxy.GetName()),
			ClusterctlConfigPath:     clusterctlConfigPath,
			KubeconfigPath:           s.proxy.GetKubeconfigPath(),
			InfrastructureProvider:   infrastructureProvider(e2eConfig),
			Flavor:                   flavor,
			Namespace:                s.namespace.Name,
			ClusterName:              clusterName,
			KubernetesVersion:        e2eConfig.MustGetVariable(varKubernetesVersion),
			ControlPlaneMachineCount: ptr.To[int64](1),
			WorkerMachineCount:       ptr.To(workers),
			ClusterctlVariables:      variables,
		},
		ControlPlaneWaiters:          k0smotronWaiters(),
		WaitForClusterIntervals:      e2eConfig.GetIntervals(s.name, "wait-cluster"),
		WaitForControlPlaneIntervals: e2eConfig.GetIntervals(s.name, "wait-control-plane"),
		WaitForMachineDeployments:    e2eConfig.GetIntervals(s.name, "wait-worker-nodes"),
	}, s.result)
}

// cleanup dumps everything (resources, machine logs, clusterctl describe)
// into the artifacts folder and deletes the cluster and the namespace.
func (s *clusterSpec) cleanup() {
	if s.result.Cluster == nil {
		s.cancelWatch()
		return
	}
	framework.DescribeCluster(ctx, framework.DescribeClusterInput{
		ClusterctlConfigPath: clusterctlConfigPath,
		LogFolder:            filepath.Join(artifactFolder, "clusters", s.result.Cluster.Name),
		KubeConfigPath:       s.proxy.GetKubeconfigPath(),
		Namespace:            s.namespace.Name,
		Name:                 s.result.Cluster.Name,
	})
	framework.DumpSpecResourcesAndCleanup(ctx, s.name, s.proxy, clusterctlConfigPath, artifactFolder, s.namespace, s.cancelWatch,
		s.result.Cluster, e2eConfig.GetIntervals, skipCleanup)
}

// verifyWorkers waits until every worker Machine of the cluster has joined
// and checks what cabpk0s promises: the K0sWorkerConfig is ready and its
// data Secret has the expected format; the Node is Ready, is the Machine's
// (name and provider ID), runs the expected k0s version, carries the
// template's labels and taints, and no longer has Cluster API's
// uninitialized taint.
func verifyWorkers(proxy framework.ClusterProxy, cluster *clusterv1.Cluster, want workerExpectations) {
	c := proxy.GetClient()
	workload := proxy.GetWorkloadCluster(ctx, cluster.Namespace, cluster.Name).GetClient()
	Eventually(func(g Gomega) {
		machines := framework.GetMachinesByCluster(ctx, framework.GetMachinesByClusterInput{
			Lister: c, ClusterName: cluster.Name, Namespace: cluster.Namespace,
		})
		g.Expect(machines).To(HaveLen(want.machines), "worker Machines of %s", cluster.Name)
		for i := range machines {
			verifyWorker(g, c, workload, &machines[i], want)
		}
	}, e2eConfig.GetIntervals("default", "wait-nodes-ready")...).Should(Succeed())
}

// workerExpectations describe the workers of a cluster made from data/.
type workerExpectations struct {
	machines         int
	format           bootstrapv1.ProvisioningFormat
	k0sVersion       string
	nodeNamedMachine bool   // false when the node uses the host's name (AWS)
	providerIDPrefix string // docker:// or aws://
	osImage          string // a substring of the Node's OS image, if set
}

func verifyWorker(g Gomega, c, workload client.Client, m *clusterv1.Machine, want workerExpectations) {
	g.Expect(m.Status.NodeRef.IsDefined()).To(BeTrue(), "Machine %s has no node yet", m.Name)
	g.Expect(m.Spec.ProviderID).To(HavePrefix(want.providerIDPrefix), "Machine %s", m.Name)

	// The bootstrap config and its data Secret.
	config := &bootstrapv1.K0sWorkerConfig{}
	g.Expect(c.Get(ctx, client.ObjectKey{Namespace: m.Namespace, Name: m.Spec.Bootstrap.ConfigRef.Name}, config)).To(Succeed())
	g.Expect(conditions.IsTrue(config, bootstrapv1.ReadyCondition)).To(BeTrue(), "K0sWorkerConfig %s is not Ready", config.Name)
	g.Expect(config.Status.DataSecretName).NotTo(BeNil())
	g.Expect(m.Spec.Bootstrap.DataSecretName).To(Equal(config.Status.DataSecretName))
	// The join token is revoked once the node has joined (docs/operations.md).
	g.Expect(config.Annotations).NotTo(HaveKey(joinTokenAnnotation), "the join token of %s was not revoked", config.Name)
	secret := &corev1.Secret{}
	g.Expect(c.Get(ctx, client.ObjectKey{Namespace: m.Namespace, Name: *config.Status.DataSecretName}, secret)).To(Succeed())
	g.Expect(secret.Type).To(Equal(clusterv1.ClusterSecretType))
	g.Expect(string(secret.Data["format"])).To(Equal(string(want.format)))
	g.Expect(secret.Labels).To(HaveKeyWithValue(clusterv1.ClusterNameLabel, m.Spec.ClusterName))

	// The Node.
	node := &corev1.Node{}
	g.Expect(workload.Get(ctx, client.ObjectKey{Name: m.Status.NodeRef.Name}, node)).To(Succeed())
	if want.nodeNamedMachine {
		g.Expect(node.Name).To(Equal(m.Name), "the node is named after its Machine")
	} else {
		g.Expect(machineAddresses(m)).To(ContainElement(HavePrefix(node.Name)), "the node uses the host's name")
	}
	g.Expect(node.Spec.ProviderID).To(Equal(m.Spec.ProviderID))
	g.Expect(nodeReady(node)).To(BeTrue(), "Node %s is not Ready", node.Name)
	for _, t := range node.Spec.Taints {
		g.Expect(t.Key).NotTo(Equal(clusterv1.NodeUninitializedTaint.Key), "Cluster API did not remove its taint from %s", node.Name)
	}
	g.Expect(node.Status.NodeInfo.KubeletVersion).To(HavePrefix(kubeletVersionPrefix(want.k0sVersion)),
		"Node %s runs k0s %s", node.Name, want.k0sVersion)
	if want.osImage != "" {
		g.Expect(node.Status.NodeInfo.OSImage).To(ContainSubstring(want.osImage))
	}
	if _, fromMD := m.Labels[clusterv1.MachineDeploymentNameLabel]; fromMD {
		g.Expect(node.Labels).To(HaveKeyWithValue(poolLabelKey, poolLabelValue))
		g.Expect(node.Spec.Taints).To(ContainElement(corev1.Taint{Key: poolLabelKey, Value: poolLabelValue, Effect: corev1.TaintEffectPreferNoSchedule}))
	}
}

func machineAddresses(m *clusterv1.Machine) []string {
	out := make([]string, 0, len(m.Status.Addresses))
	for _, a := range m.Status.Addresses {
		out = append(out, a.Address)
	}
	return out
}

func nodeReady(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// kubeletVersionPrefix turns a k0s version (v1.34.3-k0s.0 or v1.34.3+k0s.0)
// into the kubelet version k0s reports (v1.34.3+k0s).
func kubeletVersionPrefix(k0sVersion string) string {
	v := strings.Replace(k0sVersion, "-k0s.", "+k0s.", 1)
	if i := strings.Index(v, "+k0s"); i >= 0 {
		return v[:i+len("+k0s")]
	}
	return v
}

// defaultExpectations are the worker expectations for the default flavor
// of the configured infrastructure.
func defaultExpectations(machines int) workerExpectations {
	want := workerExpectations{
		machines:   machines,
		format:     bootstrapv1.ProvisioningFormatCloudConfig,
		k0sVersion: e2eConfig.MustGetVariable(varK0sVersion),
	}
	switch infrastructureProvider(e2eConfig) {
	case dockerProviderName:
		want.nodeNamedMachine = true
		want.providerIDPrefix = "docker://"
	case awsProviderName:
		want.providerIDPrefix = "aws://"
	}
	return want
}

// onlyOn skips a spec on other infrastructure, saying why.
func onlyOn(provider, why string) {
	if infrastructureProvider(e2eConfig) != provider {
		Skip(fmt.Sprintf("runs on %s only: %s", provider, why))
	}
}

// k0sDockerLogCollector collects, from CAPD machines, what explains a
// worker that did not join: the journal (k0sworker.service among it), the
// bootstrap sentinel and k0s's own view.
func k0sDockerLogCollector() framework.DockerLogCollector {
	return framework.DockerLogCollector{AdditionalLogs: []framework.AdditionalLogs{
		{OutputFileName: "k0sworker.log", Command: "journalctl", Args: []string{"--no-pager", "--output=short-precise", "-u", "k0sworker.service"}},
		{OutputFileName: "k0s-status.txt", Command: "sh", Args: []string{"-c", "k0s status || /opt/bin/k0s status"}},
		{OutputFileName: "cluster-api-sentinel.txt", Command: "ls", Args: []string{"-la", "/run/cluster-api"}},
	}}
}

// dumpManagementCluster writes the management cluster's Cluster API
// resources and a clusterctl describe of every cluster into the artifacts.
func dumpManagementCluster(proxy framework.ClusterProxy) {
	framework.DescribeAllCluster(ctx, framework.DescribeAllClusterInput{
		Lister:               proxy.GetClient(),
		KubeConfigPath:       proxy.GetKubeconfigPath(),
		ClusterctlConfigPath: clusterctlConfigPath,
		LogFolder:            filepath.Join(artifactFolder, "clusters", proxy.GetName()),
	})
}

// machineDeployment returns the cluster's one MachineDeployment.
func machineDeployment(proxy framework.ClusterProxy, cluster *clusterv1.Cluster) *clusterv1.MachineDeployment {
	mds := framework.GetMachineDeploymentsByCluster(ctx, framework.GetMachineDeploymentsByClusterInput{
		Lister: proxy.GetClient(), ClusterName: cluster.Name, Namespace: cluster.Namespace,
	})
	Expect(mds).To(HaveLen(1))
	return mds[0]
}

// scaleWorkers scales the cluster's MachineDeployment to replicas, waiting
// as long as the intervals of spec allow, and checks every worker: the
// replicas and the stand-alone Machine every flavor has.
func scaleWorkers(proxy framework.ClusterProxy, cluster *clusterv1.Cluster, spec string, replicas int32) {
	By(fmt.Sprintf("Scaling the MachineDeployment to %d", replicas))
	framework.ScaleAndWaitMachineDeployment(ctx, framework.ScaleAndWaitMachineDeploymentInput{
		ClusterProxy:              proxy,
		Cluster:                   cluster,
		MachineDeployment:         machineDeployment(proxy, cluster),
		Replicas:                  replicas,
		WaitForMachineDeployments: e2eConfig.GetIntervals(spec, "wait-worker-nodes"),
	})
	verifyWorkers(proxy, cluster, defaultExpectations(1+int(replicas)))
}

// nameMeta is a helper for creating objects in a namespace.
func nameMeta(namespace, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: namespace, Name: name}
}
