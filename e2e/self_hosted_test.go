//go:build e2e

package e2e

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"

	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/test/framework"
	"sigs.k8s.io/cluster-api/test/framework/bootstrap"
	"sigs.k8s.io/cluster-api/test/framework/clusterctl"
	"sigs.k8s.io/cluster-api/test/infrastructure/container"
	"sigs.k8s.io/cluster-api/util/conditions"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
)

// Self-hosted: `clusterctl move` of a cluster's Cluster API objects, from
// the bootstrap cluster into the workload cluster itself, and back.
//
// A hosted control plane cannot live inside the cluster it serves, so the
// k0s controllers run in a third, "hosting" kind cluster
// (K0smotronControlPlane spec.kubeconfigRef, the remote-hcp flavor) and
// stay there while the objects move. Status is not moved: cabpk0s in the
// target must rebuild the K0sWorkerConfigs' status from the Machines and
// the data Secrets without re-bootstrapping anything, and a new Machine
// must then join with a token minted by the target's cabpk0s.
var _ = Describe("Self-hosted (clusterctl move)", func() {
	var (
		spec            *clusterSpec
		hosting         bootstrap.ClusterProvider
		hostingProxy    framework.ClusterProxy
		selfHosted      framework.ClusterProxy
		movedToWorkload bool
	)

	BeforeEach(func() {
		onlyOn(dockerProviderName, "the hosting cluster and the image import are kind/CAPD specific")
		spec = newClusterSpec("self-hosted")
	})

	AfterEach(func() {
		if movedToWorkload && selfHosted != nil {
			By("Moving the cluster back to the bootstrap cluster before cleanup")
			clusterctl.Move(ctx, clusterctl.MoveInput{
				LogFolder:            filepath.Join(artifactFolder, "clusters", "move-back"),
				ClusterctlConfigPath: clusterctlConfigPath,
				FromKubeconfigPath:   selfHosted.GetKubeconfigPath(),
				ToKubeconfigPath:     bootstrapClusterProxy.GetKubeconfigPath(),
				Namespace:            spec.namespace.Name,
			})
		}
		spec.cleanup()
		disposeCluster(hostingProxy, hosting)
	})

	It("moves a cluster into itself and keeps its workers", func() {
		By("Creating the kind cluster that hosts the k0s control plane")
		hostingName := e2eConfig.ManagementClusterName + "-hosting"
		hosting = bootstrap.CreateKindBootstrapClusterAndLoadImages(ctx, bootstrap.CreateKindBootstrapClusterAndLoadImagesInput{
			Name:              hostingName,
			KubernetesVersion: e2eConfig.MustGetVariable(varKubernetesVersionMgmt),
			LogFolder:         filepath.Join(artifactFolder, "kind-hosting"),
		})
		Expect(hosting).NotTo(BeNil())
		hostingProxy = framework.NewClusterProxy("hosting", hosting.GetKubeconfigPath(), newScheme())
		// k0smotron creates the control plane's objects in the namespace
		// of the same name.
		Expect(hostingProxy.GetClient().Create(ctx, &corev1.Namespace{ObjectMeta: nameMeta("", spec.namespace.Name)})).To(Succeed())
		// The address on the Docker network, which k0smotron (in the
		// bootstrap cluster now, in the workload cluster later) can reach.
		internal, err := kindcluster.NewProvider().KubeConfig(hostingName, true)
		Expect(err).NotTo(HaveOccurred())

		spec.createCluster("remote-hcp", 1, map[string]string{
			varHostingKubeconfig: base64.StdEncoding.EncodeToString([]byte(internal)),
		})
		cluster := spec.result.Cluster
		verifyWorkers(spec.proxy, cluster, defaultExpectations(2))
		before := workerNodes(spec.proxy, cluster)

		selfHosted = spec.proxy.GetWorkloadCluster(ctx, cluster.Namespace, cluster.Name)
		By("Loading the images built here into the workload cluster's nodes")
		importImages(spec.proxy, cluster)

		By("Installing the providers into the workload cluster")
		initManagementCluster(e2eConfig, selfHosted, clusterctlConfigPath, bootstrapProviderName, filepath.Join(artifactFolder, "clusters", cluster.Name),
			e2eConfig.GetIntervals(spec.name, "wait-controllers"))

		By("Moving the cluster into itself")
		clusterctl.Move(ctx, clusterctl.MoveInput{
			LogFolder:            filepath.Join(artifactFolder, "clusters", "move"),
			ClusterctlConfigPath: clusterctlConfigPath,
			FromKubeconfigPath:   spec.proxy.GetKubeconfigPath(),
			ToKubeconfigPath:     selfHosted.GetKubeconfigPath(),
			Namespace:            spec.namespace.Name,
		})
		movedToWorkload = true

		By("Checking that cabpk0s rebuilt the status of every moved K0sWorkerConfig")
		Eventually(func(g Gomega) {
			configs := &bootstrapv1.K0sWorkerConfigList{}
			g.Expect(selfHosted.GetClient().List(ctx, configs, client.InNamespace(cluster.Namespace))).To(Succeed())
			g.Expect(configs.Items).To(HaveLen(2))
			for i := range configs.Items {
				cfg := &configs.Items[i]
				g.Expect(cfg.Status.DataSecretName).NotTo(BeNil(), "K0sWorkerConfig %s", cfg.Name)
				g.Expect(conditions.IsTrue(cfg, bootstrapv1.ReadyCondition)).To(BeTrue(), "K0sWorkerConfig %s", cfg.Name)
			}
		}, e2eConfig.GetIntervals(spec.name, "wait-worker-nodes")...).Should(Succeed())

		By("Checking that no worker was replaced or re-bootstrapped")
		moved := &clusterv1.Cluster{}
		Expect(selfHosted.GetClient().Get(ctx, client.ObjectKeyFromObject(cluster), moved)).To(Succeed())
		verifyWorkers(selfHosted, moved, defaultExpectations(2))
		Expect(workerNodes(selfHosted, moved)).To(Equal(before))

		By("Scaling up in the self-hosted cluster: a new worker joins with a token from the moved cabpk0s")
		scaleWorkers(selfHosted, moved, spec.name, 2)
	})
})

// workerNodes maps each Machine to its Node and provider ID.
func workerNodes(proxy framework.ClusterProxy, cluster *clusterv1.Cluster) map[string]string {
	out := map[string]string{}
	for _, m := range framework.GetMachinesByCluster(ctx, framework.GetMachinesByClusterInput{
		Lister: proxy.GetClient(), ClusterName: cluster.Name, Namespace: cluster.Namespace,
	}) {
		out[m.Name] = m.Status.NodeRef.Name + " " + m.Spec.ProviderID
	}
	return out
}

// importImages loads the images the suite loaded into kind (the cabpk0s
// image built here) into each CAPD machine of the cluster. k0s runs its
// own containerd, so the images go to its socket, not to kind's.
func importImages(proxy framework.ClusterProxy, cluster *clusterv1.Cluster) {
	runtime, err := container.NewDockerClient()
	Expect(err).NotTo(HaveOccurred())
	dir, err := os.MkdirTemp("", "cabpk0s-e2e-images")
	Expect(err).NotTo(HaveOccurred())
	defer os.RemoveAll(dir)

	machines := framework.GetMachinesByCluster(ctx, framework.GetMachinesByClusterInput{
		Lister: proxy.GetClient(), ClusterName: cluster.Name, Namespace: cluster.Namespace,
	})
	for i, image := range e2eConfig.Images {
		if image.LoadBehavior != clusterctl.MustLoadImage {
			continue
		}
		tar := filepath.Join(dir, fmt.Sprintf("image-%d.tar", i))
		Expect(runtime.SaveContainerImage(ctx, image.Name, tar)).To(Succeed(), "saving %s", image.Name)
		for _, m := range machines {
			f, err := os.Open(tar)
			Expect(err).NotTo(HaveOccurred())
			var stderr strings.Builder
			err = runtime.ExecContainer(ctx, machineContainerName(m.Spec.ClusterName, m.Name),
				&container.ExecContainerInput{InputBuffer: f, ErrorBuffer: &stderr},
				"ctr", "--address", "/run/k0s/containerd.sock", "--namespace", "k8s.io", "images", "import", "--all-platforms", "-")
			_ = f.Close()
			Expect(err).NotTo(HaveOccurred(), "importing %s into %s: %s", image.Name, m.Name, stderr.String())
		}
	}
}

// machineContainerName is CAPD's container name for a Machine.
func machineContainerName(cluster, machine string) string {
	if strings.HasPrefix(machine, cluster) {
		return machine
	}
	return cluster + "-" + machine
}
