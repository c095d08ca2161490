//go:build e2e

package e2e

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/util/sets"
	"sigs.k8s.io/controller-runtime/pkg/client"

	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/test/framework"
	"sigs.k8s.io/cluster-api/util/patch"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
)

// k0s version rollout: the workers start on K0S_VERSION_UPGRADE_FROM (the
// control plane on K0S_VERSION), then the MachineDeployment moves to a new
// K0sWorkerConfigTemplate with K0S_VERSION, and Cluster API replaces every
// Machine with one that joins on the new version.
var _ = Describe("k0s version rollout", func() {
	var spec *clusterSpec

	BeforeEach(func() {
		onlyOn(dockerProviderName, "a rollout replaces every worker; on AWS that is slow and costly for what it adds")
		spec = newClusterSpec("k0s-rollout")
	})

	AfterEach(func() {
		spec.cleanup()
	})

	It("rolls the workers out to a new k0s version", func() {
		from := e2eConfig.MustGetVariable(varK0sVersionUpgradeFrom)
		to := e2eConfig.MustGetVariable(varK0sVersion)
		spec.createCluster("", 2, map[string]string{varK0sWorkerVersion: from})
		cluster := spec.result.Cluster
		want := defaultExpectations(3)
		want.k0sVersion = from
		verifyWorkers(spec.proxy, cluster, want)

		c := spec.proxy.GetClient()
		md := machineDeployment(spec.proxy, cluster)
		oldMachines := machineNames(framework.GetMachinesByMachineDeployments(ctx, framework.GetMachinesByMachineDeploymentsInput{
			Lister: c, ClusterName: cluster.Name, Namespace: cluster.Namespace, MachineDeployment: *md,
		}))

		By(fmt.Sprintf("Rolling the MachineDeployment out from k0s %s to %s", from, to))
		old := &bootstrapv1.K0sWorkerConfigTemplate{}
		Expect(c.Get(ctx, client.ObjectKey{Namespace: md.Namespace, Name: md.Spec.Template.Spec.Bootstrap.ConfigRef.Name}, old)).To(Succeed())
		next := &bootstrapv1.K0sWorkerConfigTemplate{
			ObjectMeta: nameMeta(old.Namespace, old.Name+"-rollout"),
			Spec:       *old.Spec.DeepCopy(),
		}
		next.Spec.Template.Spec.Version = to
		Expect(c.Create(ctx, next)).To(Succeed())
		helper, err := patch.NewHelper(md, c)
		Expect(err).NotTo(HaveOccurred())
		md.Spec.Template.Spec.Bootstrap.ConfigRef.Name = next.Name
		Expect(helper.Patch(ctx, md)).To(Succeed())

		By("Waiting until every MachineDeployment Machine was replaced")
		Eventually(func(g Gomega) {
			machines := framework.GetMachinesByMachineDeployments(ctx, framework.GetMachinesByMachineDeploymentsInput{
				Lister: c, ClusterName: cluster.Name, Namespace: cluster.Namespace, MachineDeployment: *md,
			})
			g.Expect(machines).To(HaveLen(int(*md.Spec.Replicas)))
			for _, m := range machines {
				g.Expect(oldMachines.Has(m.Name)).To(BeFalse(), "Machine %s was not replaced yet", m.Name)
				config := &bootstrapv1.K0sWorkerConfig{}
				g.Expect(c.Get(ctx, client.ObjectKey{Namespace: m.Namespace, Name: m.Spec.Bootstrap.ConfigRef.Name}, config)).To(Succeed())
				g.Expect(config.Annotations).To(HaveKeyWithValue(clusterv1.TemplateClonedFromNameAnnotation, next.Name))
			}
		}, e2eConfig.GetIntervals(spec.name, "wait-machine-upgrade")...).Should(Succeed())

		By("Checking the new workers run the new k0s version")
		Eventually(func(g Gomega) {
			machines := framework.GetMachinesByMachineDeployments(ctx, framework.GetMachinesByMachineDeploymentsInput{
				Lister: c, ClusterName: cluster.Name, Namespace: cluster.Namespace, MachineDeployment: *md,
			})
			workload := spec.proxy.GetWorkloadCluster(ctx, cluster.Namespace, cluster.Name).GetClient()
			rolled := defaultExpectations(len(machines))
			rolled.k0sVersion = to
			for i := range machines {
				verifyWorker(g, c, workload, &machines[i], rolled)
			}
		}, e2eConfig.GetIntervals(spec.name, "wait-nodes-ready")...).Should(Succeed())
	})
})

func machineNames(machines []clusterv1.Machine) sets.Set[string] {
	names := sets.New[string]()
	for _, m := range machines {
		names.Insert(m.Name)
	}
	return names
}
