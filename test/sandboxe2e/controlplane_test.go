package sandboxe2e

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util/conditions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/controllers"
	"github.com/cabpk0s/cabpk0s/internal/render"
	"github.com/cabpk0s/cabpk0s/internal/sandbox"
	"github.com/cabpk0s/cabpk0s/internal/simulation"
	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

// A K0sControlPlane (k0smotron's controller, simulated: it writes what
// k0smotron's writes) of controller Machines bootstrapped by cabpk0s's
// K0sControllerConfigs, each booted as its k0s controller would be
// (simulation.BootController).
var _ = Describe("A K0sControlPlane of controller Machines", Ordered, func() {
	const cpNamespace, cpName = "k0scp", "cpm"

	controlPlaneMachines := func(ctx SpecContext, g Gomega) []clusterv1.Machine {
		list := &clusterv1.MachineList{}
		g.Expect(mgmt.List(ctx, list, client.InNamespace(cpNamespace), client.MatchingLabels{clusterv1.MachineControlPlaneNameLabel: cpName})).To(Succeed())
		return list.Items
	}
	// controllersRun: n Machines of version, each with its controller
	// running (a ControlNode) and its config Ready.
	controllersRun := func(ctx SpecContext, n int, version string) {
		GinkgoHelper()
		Eventually(func(g Gomega) {
			machines := controlPlaneMachines(ctx, g)
			g.Expect(machines).To(HaveLen(n))
			for _, m := range machines {
				g.Expect(m.DeletionTimestamp.IsZero()).To(BeTrue(), m.Name)
				g.Expect(m.Spec.Version).To(Equal(version), m.Name)
				node := &unstructured.Unstructured{}
				node.SetGroupVersionKind(testenv.ControlNodeGVK)
				g.Expect(wl.Get(ctx, client.ObjectKey{Name: m.Name}, node)).To(Succeed(), "the controller of %s runs: %s", m.Name, m.Annotations[simulation.BootErrorAnnotation])
				config := &bootstrapv1.K0sControllerConfig{}
				g.Expect(mgmt.Get(ctx, client.ObjectKey{Namespace: cpNamespace, Name: m.Name}, config)).To(Succeed())
				g.Expect(conditions.IsTrue(config, bootstrapv1.ReadyCondition)).To(BeTrue(), m.Name)
			}
		}).WithContext(ctx).WithTimeout(3 * time.Minute).Should(Succeed())
	}
	patchControlPlane := func(ctx SpecContext, field string, value any) {
		GinkgoHelper()
		cp := &unstructured.Unstructured{}
		cp.SetGroupVersionKind(testenv.K0sControlPlaneGVK)
		Expect(mgmt.Get(ctx, client.ObjectKey{Namespace: cpNamespace, Name: cpName}, cp)).To(Succeed())
		base := cp.DeepCopy()
		Expect(unstructured.SetNestedField(cp.Object, value, "spec", field)).To(Succeed())
		Expect(mgmt.Patch(ctx, cp, client.MergeFrom(base))).To(Succeed())
	}
	// noControllerTokenLives: every controller's token was revoked once it
	// ran, by cabpk0s.
	noControllerTokenLives := func(ctx SpecContext) {
		GinkgoHelper()
		Eventually(func(g Gomega) {
			list := &corev1.SecretList{}
			g.Expect(wl.List(ctx, list, client.InNamespace(metav1.NamespaceSystem))).To(Succeed())
			for _, s := range list.Items {
				g.Expect(s.Type == bootstrapapi.SecretTypeBootstrapToken &&
					strings.Contains(string(s.Data[bootstrapapi.BootstrapTokenDescriptionKey]), "K0sControllerConfig "+cpNamespace+"/")).To(BeFalse(), "token %s lives", s.Name)
			}
		}).WithContext(ctx).Should(Succeed())
	}

	It("starts three controllers, the first initializing the cluster", func(ctx SpecContext) {
		Expect(mgmt.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: cpNamespace}})).To(Succeed())
		host, port, err := sb.Workload.Endpoint()
		Expect(err).NotTo(HaveOccurred())
		Expect(sandbox.CreateK0sControlPlaneCluster(ctx, mgmt, cpNamespace, cpName, 3, sandbox.MachinesVersion, clusterv1.APIEndpoint{Host: host, Port: port})).To(Succeed())
		controllersRun(ctx, 3, sandbox.MachinesVersion)

		// One brought the cluster's certificates, two joined with tokens.
		first := 0
		Eventually(func(g Gomega) {
			first = 0
			for _, m := range controlPlaneMachines(ctx, g) {
				data := &corev1.Secret{}
				g.Expect(mgmt.Get(ctx, client.ObjectKey{Namespace: cpNamespace, Name: m.Name}, data)).To(Succeed())
				files, err := simulation.BootstrapFiles(data.Data["value"], string(data.Data["format"]))
				g.Expect(err).NotTo(HaveOccurred())
				if _, ok := files[render.PKIDir+"/ca.key"]; ok {
					first++
					g.Expect(data.Annotations[controllers.TokenIDAnnotation]).To(BeEmpty())
				}
			}
		}).WithContext(ctx).Should(Succeed())
		Expect(first).To(Equal(1))
		noControllerTokenLives(ctx)
	})

	It("scales to five and back to three", func(ctx SpecContext) {
		patchControlPlane(ctx, "replicas", int64(5))
		controllersRun(ctx, 5, sandbox.MachinesVersion)
		patchControlPlane(ctx, "replicas", int64(3))
		controllersRun(ctx, 3, sandbox.MachinesVersion)
		noControllerTokenLives(ctx)
	})

	It("rolls the controllers to a new k0s version", func(ctx SpecContext) {
		const next = "v1.34.1+k0s.0"
		patchControlPlane(ctx, "version", next)
		controllersRun(ctx, 3, next)
		Eventually(func(g Gomega) {
			for _, m := range controlPlaneMachines(ctx, g) {
				g.Expect(bootstrapScript(ctx, m)).To(ContainSubstring("K0S_VERSION='" + next + "'"))
			}
		}).WithContext(ctx).Should(Succeed())
		noControllerTokenLives(ctx)
	})
})
