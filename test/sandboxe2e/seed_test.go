package sandboxe2e

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/controllers"
	"github.com/cabpk0s/cabpk0s/internal/render"
	"github.com/cabpk0s/cabpk0s/internal/sandbox"
	"github.com/cabpk0s/cabpk0s/internal/simulation"
	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

const ns = sandbox.SeedNamespace

// applySample creates the objects of config/samples/<file> as written.
func applySample(ctx SpecContext, file string) { applySampleTo(ctx, mgmt, file, "") }

// applySampleTo creates the objects of config/samples/<file> with c, in
// namespace if set (the seed's own otherwise).
func applySampleTo(ctx SpecContext, c client.Client, file, namespace string) {
	objs, err := sandbox.Sample(file)
	Expect(err).NotTo(HaveOccurred())
	for i := range objs {
		obj := &objs[i]
		if obj.GetKind() == "AWSMachineTemplate" {
			// The seed leaves the instance type CAPA requires as a placeholder.
			Expect(unstructured.SetNestedMap(obj.Object, map[string]any{"instanceType": "t3.medium"}, "spec", "template", "spec")).To(Succeed())
		}
		if namespace != "" {
			obj.SetNamespace(namespace)
		}
		Expect(c.Create(ctx, obj, client.FieldValidation("Strict"))).To(Succeed(), "%s %s", obj.GetKind(), obj.GetName())
	}
}

func mdMachines(ctx SpecContext) []clusterv1.Machine {
	list := &clusterv1.MachineList{}
	Expect(mgmt.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{clusterv1.MachineDeploymentNameLabel: "md-test"})).To(Succeed())
	return list.Items
}

// allRunning succeeds when exactly n Machines exist, all Running with a Node.
func allRunning(g Gomega, machines []clusterv1.Machine, n int) {
	g.Expect(machines).To(HaveLen(n))
	for _, m := range machines {
		g.Expect(m.Status.Phase).To(Equal(string(clusterv1.MachinePhaseRunning)), m.Name+": "+m.Annotations[simulation.BootErrorAnnotation])
		g.Expect(m.Status.NodeRef.IsDefined()).To(BeTrue(), m.Name)
	}
}

// liveTokens counts the workload cluster's bootstrap tokens made for
// configs whose name starts with prefix.
func liveTokens(ctx SpecContext, prefix string) int {
	list := &corev1.SecretList{}
	Expect(wl.List(ctx, list, client.InNamespace(metav1.NamespaceSystem))).To(Succeed())
	n := 0
	for _, s := range list.Items {
		if s.Type == bootstrapapi.SecretTypeBootstrapToken && strings.Contains(string(s.Data[bootstrapapi.BootstrapTokenDescriptionKey]), "K0sWorkerConfig "+ns+"/"+prefix) {
			n++
		}
	}
	return n
}

// bootstrapScript returns the script a Machine's bootstrap data runs.
func bootstrapScript(ctx SpecContext, m clusterv1.Machine) string {
	s := &corev1.Secret{}
	Expect(mgmt.Get(ctx, client.ObjectKey{Namespace: m.Namespace, Name: ptr.Deref(m.Spec.Bootstrap.DataSecretName, "")}, s)).To(Succeed())
	decoded, err := render.Decode(s.Data["value"], render.Format(s.Data["format"]))
	Expect(err).NotTo(HaveOccurred())
	script, ok := decoded.File(render.ScriptPath)
	Expect(ok).To(BeTrue(), "the bootstrap data writes %s", render.ScriptPath)
	return string(script.Content)
}

func scaleMD(ctx SpecContext, replicas int32) {
	md := &clusterv1.MachineDeployment{}
	Expect(mgmt.Get(ctx, client.ObjectKey{Namespace: ns, Name: "md-test"}, md)).To(Succeed())
	base := md.DeepCopy()
	md.Spec.Replicas = &replicas
	Expect(mgmt.Patch(ctx, md, client.MergeFrom(base))).To(Succeed())
}

// expectJoinedMachinesKeepNoToken: no Machine that joined keeps a
// bootstrap token, and cabpk0s revoked each (not the tokencleaner, which
// would mean it expired first), by the workload API server's audit log.
func expectJoinedMachinesKeepNoToken(ctx SpecContext) {
	machines := &clusterv1.MachineList{}
	Expect(mgmt.List(ctx, machines, client.InNamespace(ns))).To(Succeed())
	for _, m := range machines.Items {
		if !m.Status.NodeRef.IsDefined() || m.Spec.Bootstrap.DataSecretName == nil {
			continue
		}
		data := &corev1.Secret{}
		if err := mgmt.Get(ctx, client.ObjectKey{Namespace: ns, Name: *m.Spec.Bootstrap.DataSecretName}, data); err != nil {
			Expect(apierrors.IsNotFound(err)).To(BeTrue(), "reading the data of Machine %s: %v", m.Name, err)
			continue
		}
		id := data.Annotations[controllers.TokenIDAnnotation]
		Eventually(func(g Gomega) {
			d, deleted, err := sb.Workload.TokenDeletion(id)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(deleted).To(BeTrue(), "the token of joined Machine %s is revoked", m.Name)
			g.Expect(d.ByCabpk0s()).To(BeTrue(), "cabpk0s revoked the token of Machine %s, not %s", m.Name, d.By)
		}).WithContext(ctx).Should(Succeed())
	}
}

var _ = Describe("The seed on the embedded management plane", Ordered, func() {
	AfterEach(func(ctx SpecContext) { expectJoinedMachinesKeepNoToken(ctx) })

	It("bootstraps the seed Machine until it runs, then revokes its token", func(ctx SpecContext) {
		applySample(ctx, "awsmachine.yaml")
		applySample(ctx, "machine.yaml")
		Eventually(func(g Gomega) {
			m := clusterv1.Machine{}
			g.Expect(mgmt.Get(ctx, client.ObjectKey{Namespace: ns, Name: "machine-test-0"}, &m)).To(Succeed())
			allRunning(g, []clusterv1.Machine{m}, 1)
		}).WithContext(ctx).Should(Succeed())

		config := &bootstrapv1.K0sWorkerConfig{}
		Expect(mgmt.Get(ctx, client.ObjectKey{Namespace: ns, Name: "machine-test-config"}, config)).To(Succeed())
		Expect(config.Status.Initialization.DataSecretCreated).To(HaveValue(BeTrue()))
		Eventually(func() int { return liveTokens(ctx, "machine-test-config") }).WithContext(ctx).Should(BeZero())
	})

	It("runs the seed MachineDeployment and follows it scaling up and down", func(ctx SpecContext) {
		applySample(ctx, "awsmachinetemplate.yaml")
		applySample(ctx, "machinedeployment.yaml")
		Eventually(func(g Gomega) { allRunning(g, mdMachines(ctx), 2) }).WithContext(ctx).Should(Succeed())

		scaleMD(ctx, 4)
		Eventually(func(g Gomega) { allRunning(g, mdMachines(ctx), 4) }).WithContext(ctx).Should(Succeed())
		Eventually(func() int { return liveTokens(ctx, "md-test-") }).WithContext(ctx).Should(BeZero(), "joined machines keep no tokens")

		scaleMD(ctx, 1)
		Eventually(func(g Gomega) {
			allRunning(g, mdMachines(ctx), 1)
			configs := &bootstrapv1.K0sWorkerConfigList{}
			g.Expect(mgmt.List(ctx, configs, client.InNamespace(ns), client.MatchingLabels{clusterv1.MachineDeploymentNameLabel: "md-test"})).To(Succeed())
			g.Expect(configs.Items).To(HaveLen(1))
			// The garbage collector of the management cluster's
			// kube-controller-manager removed the data Secrets of the
			// deleted configs through their owner references: one config,
			// one data Secret.
			secrets := &corev1.SecretList{}
			g.Expect(mgmt.List(ctx, secrets, client.InNamespace(ns))).To(Succeed())
			var data []string
			for _, s := range secrets.Items {
				if s.Type == clusterv1.ClusterSecretType && strings.HasPrefix(s.Name, "md-test-") {
					data = append(data, s.Name)
				}
			}
			g.Expect(data).To(ConsistOf(configs.Items[0].Name), "the data Secrets of deleted configs are collected")
		}).WithContext(ctx).Should(Succeed())
	})

	It("rolls the MachineDeployment out to another k0s version", func(ctx SpecContext) {
		before := map[string]bool{}
		for _, m := range mdMachines(ctx) {
			before[m.Name] = true
		}
		template := &bootstrapv1.K0sWorkerConfigTemplate{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "md-test-config-v2"},
			Spec: bootstrapv1.K0sWorkerConfigTemplateSpec{Template: bootstrapv1.K0sWorkerConfigTemplateResource{
				Spec: bootstrapv1.K0sWorkerConfigSpec{K0sInstallSpec: bootstrapv1.K0sInstallSpec{Version: "v1.28.1+k0s.0"}},
			}},
		}
		Expect(mgmt.Create(ctx, template)).To(Succeed())
		// The control plane goes first, as k0s requires: workers read the
		// worker profile of their own Kubernetes minor, which only a
		// control plane of that minor publishes.
		cp := &unstructured.Unstructured{}
		cp.SetGroupVersionKind(testenv.K0smotronControlPlaneGVK)
		Expect(mgmt.Get(ctx, client.ObjectKey{Namespace: ns, Name: sandbox.SeedCluster}, cp)).To(Succeed())
		cpBase := cp.DeepCopy()
		Expect(unstructured.SetNestedField(cp.Object, "v1.28.1-k0s.0", "spec", "version")).To(Succeed())
		Expect(mgmt.Patch(ctx, cp, client.MergeFrom(cpBase))).To(Succeed())
		md := &clusterv1.MachineDeployment{}
		Expect(mgmt.Get(ctx, client.ObjectKey{Namespace: ns, Name: "md-test"}, md)).To(Succeed())
		base := md.DeepCopy()
		md.Spec.Template.Spec.Bootstrap.ConfigRef.Name = template.Name
		Expect(mgmt.Patch(ctx, md, client.MergeFrom(base))).To(Succeed())

		Eventually(func(g Gomega) {
			machines := mdMachines(ctx)
			allRunning(g, machines, 1)
			for _, m := range machines {
				g.Expect(before).NotTo(HaveKey(m.Name), "every Machine is replaced")
			}
		}).WithContext(ctx).Should(Succeed())
		for _, m := range mdMachines(ctx) {
			Expect(bootstrapScript(ctx, m)).To(ContainSubstring("v1.28.1+k0s.0"), "the new bootstrap data installs the new version")
			Expect(bootstrapScript(ctx, m)).NotTo(ContainSubstring("v1.27.2"))
		}
	})

	It("waits for a missing contentFrom Secret, naming it, and continues once it exists", func(ctx SpecContext) {
		config := &bootstrapv1.K0sWorkerConfig{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "broken-config"},
			Spec: bootstrapv1.K0sWorkerConfigSpec{
				K0sInstallSpec: bootstrapv1.K0sInstallSpec{
					Version: "v1.27.2+k0s.0",
					Files: []bootstrapv1.File{{
						Path:        "/etc/motd",
						ContentFrom: &bootstrapv1.ContentSource{SecretRef: &bootstrapv1.ContentSourceRef{Name: "bootstrap-files", Key: "motd"}},
					}},
				},
			},
		}
		Expect(mgmt.Create(ctx, config)).To(Succeed())
		awsMachine := &unstructured.Unstructured{}
		awsMachine.SetGroupVersionKind(testenv.AWSMachineGVK)
		awsMachine.SetNamespace(ns)
		awsMachine.SetName("broken-0")
		awsMachine.Object["spec"] = map[string]any{"instanceType": "t3.medium"}
		Expect(mgmt.Create(ctx, awsMachine)).To(Succeed())
		Expect(mgmt.Create(ctx, &clusterv1.Machine{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "broken-0"},
			Spec: clusterv1.MachineSpec{
				ClusterName:       sandbox.SeedCluster,
				Bootstrap:         clusterv1.Bootstrap{ConfigRef: clusterv1.ContractVersionedObjectReference{APIGroup: bootstrapv1.GroupVersion.Group, Kind: "K0sWorkerConfig", Name: config.Name}},
				InfrastructureRef: clusterv1.ContractVersionedObjectReference{APIGroup: testenv.AWSMachineGVK.Group, Kind: "AWSMachine", Name: "broken-0"},
			},
		})).To(Succeed())

		Eventually(func(g Gomega) {
			g.Expect(mgmt.Get(ctx, client.ObjectKeyFromObject(config), config)).To(Succeed())
			g.Expect(config.Status.Conditions).To(ContainElement(And(
				HaveField("Type", bootstrapv1.ReadyCondition),
				HaveField("Reason", bootstrapv1.MissingFileSourceReason),
				HaveField("Message", ContainSubstring("Secret default/bootstrap-files")),
			)))
		}).WithContext(ctx).Should(Succeed())
		m := &clusterv1.Machine{}
		Expect(mgmt.Get(ctx, client.ObjectKey{Namespace: ns, Name: "broken-0"}, m)).To(Succeed())
		Expect(m.Status.NodeRef.IsDefined()).To(BeFalse())

		Expect(mgmt.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bootstrap-files"},
			Data:       map[string][]byte{"motd": []byte("hello")},
		})).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(mgmt.Get(ctx, client.ObjectKey{Namespace: ns, Name: "broken-0"}, m)).To(Succeed())
			allRunning(g, []clusterv1.Machine{*m}, 1)
		}).WithContext(ctx).Should(Succeed())
	})

	It("deletes the Cluster completely: every token revoked, no finalizer left hanging", func(ctx SpecContext) {
		cluster := &clusterv1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sandbox.SeedCluster}}
		Expect(mgmt.Delete(ctx, cluster)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(mgmt.Get(ctx, client.ObjectKeyFromObject(cluster), cluster))
		}).WithContext(ctx).WithTimeout(3 * time.Minute).Should(BeTrue())
		configs := &bootstrapv1.K0sWorkerConfigList{}
		Expect(mgmt.List(ctx, configs, client.InNamespace(ns))).To(Succeed())
		Expect(configs.Items).To(BeEmpty())
		Expect(liveTokens(ctx, "")).To(BeZero())
	})
})
