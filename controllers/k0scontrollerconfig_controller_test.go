package controllers_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util/conditions"
	"sigs.k8s.io/cluster-api/util/secret"
	"sigs.k8s.io/cluster-api/util/test/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/controllers"
	"github.com/cabpk0s/cabpk0s/internal/fixtures"
	"github.com/cabpk0s/cabpk0s/internal/simulation"
)

const controlPlaneVersion = "v1.33.4+k0s.0"

// newK0sControlPlane is a Cluster whose control plane is a K0sControlPlane
// not yet initialized, and the stand-in that writes its Machines as
// k0smotron's controller does.
func newK0sControlPlane(t *testing.T, ns string) *simulation.K0sControlPlane {
	t.Helper()
	cluster := createCluster(t, ns, "cp", fixtures.ClusterOptions{K0sControlPlane: true, ControlPlaneUninitialized: true})
	return &simulation.K0sControlPlane{
		Client: env.Client, Namespace: ns, Name: cluster.Name, Cluster: cluster, Version: controlPlaneVersion,
		Spec: bootstrapv1.K0sControllerConfigSpec{
			K0sInstallSpec: bootstrapv1.K0sInstallSpec{
				Args:           []string{"--debug"},
				SecretMetadata: &bootstrapv1.SecretMetadata{Labels: map[string]string{"team": "platform"}},
			},
			K0s: &runtime.RawExtension{Raw: []byte(`{"spec":{"api":{"sans":["10.0.0.1"]},"network":{"podCIDR":"10.244.0.0/16"}}}`)},
		},
	}
}

func getControllerConfig(t *testing.T, ns, name string) *bootstrapv1.K0sControllerConfig {
	t.Helper()
	config := &bootstrapv1.K0sControllerConfig{}
	if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, config); err != nil {
		t.Fatal(err)
	}
	return config
}

// controllerData returns a controller config's data once it has some, or nil.
func controllerData(g Gomega, t *testing.T, ns, name string) []byte {
	config := &bootstrapv1.K0sControllerConfig{}
	g.Expect(env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, config)).To(Succeed())
	if !config.IsDataSecretCreated() {
		return nil
	}
	s := &corev1.Secret{}
	g.Expect(env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: *config.Status.DataSecretName}, s)).To(Succeed())
	return s.Data["value"]
}

func controllerMachine(t *testing.T) simulation.ControllerMachine {
	t.Helper()
	host, _, err := workload.Endpoint()
	if err != nil {
		t.Fatal(err)
	}
	return simulation.ControllerMachine{ClusterCA: workload.CACert, EndpointHost: host, Workload: workload.Client, WorkloadConfig: workload.Config}
}

// controllerTokens are the controller join tokens of the namespace's configs.
func controllerTokens(t *testing.T, ns string) []string {
	t.Helper()
	list := &corev1.SecretList{}
	if err := workload.Client.List(t.Context(), list, client.InNamespace(metav1.NamespaceSystem)); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range list.Items {
		if s.Type == bootstrapapi.SecretTypeBootstrapToken && strings.Contains(string(s.Data[bootstrapapi.BootstrapTokenDescriptionKey]), "K0sControllerConfig "+ns+"/") {
			ids = append(ids, string(s.Data[bootstrapapi.BootstrapTokenIDKey]))
		}
	}
	return ids
}

// TestK0sControlPlaneControllers: three controllers created at once (as a
// K0sControlPlane with replicas: 3 would over time; at once is the race)
// get one first controller with the cluster's certificates, and two that
// wait for the control plane and then join with controller tokens, which
// are revoked once their controllers run; scaling to 5 and back to 3 and a
// version bump work the same way.
func TestK0sControlPlaneControllers(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, "k0scp")
	cp := newK0sControlPlane(t, ns)
	machine := controllerMachine(t)

	var names []string
	for range 3 {
		name, err := cp.AddMachine(t.Context())
		g.Expect(err).NotTo(HaveOccurred())
		names = append(names, name)
	}

	// Exactly one first controller; the others say whom they wait for.
	var first string
	g.Eventually(func(g Gomega) {
		var withData, waiting []string
		for _, name := range names {
			if controllerData(g, t, ns, name) != nil {
				withData = append(withData, name)
			} else if c := conditions.Get(getControllerConfig(t, ns, name), bootstrapv1.DataSecretAvailableCondition); c != nil &&
				c.Reason == bootstrapv1.WaitingForControlPlaneInitializationReason {
				waiting = append(waiting, name)
			}
		}
		g.Expect(withData).To(HaveLen(1))
		g.Expect(waiting).To(HaveLen(2))
		first = withData[0]
	}, waitTimeout, pollEvery).Should(Succeed())
	for _, name := range names {
		if name != first {
			c := conditions.Get(getControllerConfig(t, ns, name), bootstrapv1.ReadyCondition)
			g.Expect(c.Message).To(ContainSubstring("Waiting for controller " + first + ", the first of Cluster cp"))
		}
	}

	// The first controller's data: the cluster's certificates, no token.
	data := &corev1.Secret{}
	g.Expect(env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: first}, data)).To(Succeed())
	g.Expect(data.Labels).To(HaveKeyWithValue("team", "platform"), "secretMetadata is applied")
	g.Expect(data.Labels).To(HaveKeyWithValue(clusterv1.ClusterNameLabel, "cp"))
	validateCloudConfig(t, data.Data["value"])
	booted, err := simulation.BootController(t.Context(), data.Data["value"], string(data.Data["format"]), machine)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(booted.Initialized).To(BeTrue())
	g.Expect(booted.Name).To(Equal(first), "k0s names the controller after its Machine")
	g.Expect(booted.Args).To(Equal([]string{"--debug"}))
	g.Expect(string(booted.K0sConfig)).To(ContainSubstring("externalAddress: "+machine.EndpointHost), "the k0s config as K0sControlPlane merged it")
	g.Expect(string(booted.K0sConfig)).To(ContainSubstring("- 10.0.0.1"))
	g.Expect(controllerTokens(t, ns)).To(BeEmpty(), "the first controller needs no token")
	for _, purpose := range []secret.Purpose{secret.EtcdCA, secret.FrontProxyCA, secret.ServiceAccount} {
		s := &corev1.Secret{}
		g.Expect(env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: secret.Name("cp", purpose)}, s)).To(Succeed())
		g.Expect(s.OwnerReferences).To(ConsistOf(HaveField("Kind", "Cluster")), "the cluster's certificates outlive any one controller")
		rememberCredential(string(s.Data[secret.TLSKeyDataName]))
	}

	// The control plane comes up; the others join with controller tokens.
	g.Expect(fixtures.SetControlPlaneInitialized(t.Context(), env.Client, ns, "cp")).To(Succeed())
	joinAll := func(names ...string) {
		t.Helper()
		for _, name := range names {
			var value []byte
			g.Eventually(func(g Gomega) { value = controllerData(g, t, ns, name); g.Expect(value).NotTo(BeNil()) }, waitTimeout, pollEvery).Should(Succeed())
			token, err := simulation.JoinTokenFromBootstrapData(value, "cloud-config")
			g.Expect(err).NotTo(HaveOccurred())
			rememberToken(t, token)
			joined, err := simulation.BootController(t.Context(), value, "cloud-config", machine)
			g.Expect(err).NotTo(HaveOccurred(), "controller %s", name)
			g.Expect(joined.Initialized).To(BeFalse())
			g.Expect(joined.Name).To(Equal(name))
			// Once its controller runs, the token is revoked.
			g.Eventually(func() bool { return tokenExists(t, joined.TokenID) }, 2*waitTimeout, pollEvery).Should(BeFalse(), "token of %s revoked", name)
			g.Eventually(func() []string { return getControllerConfig(t, ns, name).Finalizers }, waitTimeout, pollEvery).
				ShouldNot(ContainElement(controllers.ControllerTokenFinalizer))
		}
	}
	var joining []string
	for _, name := range names {
		if name != first {
			joining = append(joining, name)
		}
	}
	joinAll(joining...)

	// 3 -> 5 -> 3, and a version bump on the way.
	cp.Version = "v1.34.1+k0s.0"
	var added []string
	for range 2 {
		name, err := cp.AddMachine(t.Context())
		g.Expect(err).NotTo(HaveOccurred())
		added = append(added, name)
	}
	joinAll(added...)
	for _, name := range added {
		value := controllerData(g, t, ns, name)
		g.Expect(cloudConfigFiles(t, value)["/etc/cabpk0s/bootstrap.sh"]).To(ContainSubstring("K0S_VERSION='v1.34.1+k0s.0'"))
	}
	for _, name := range names[:2] {
		g.Expect(cp.RemoveMachine(t.Context(), name)).To(Succeed())
	}
	g.Eventually(func(g Gomega) {
		for _, name := range names[:2] {
			err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, &bootstrapv1.K0sControllerConfig{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "config %s deleted with its Machine: %v", name, err)
		}
	}, waitTimeout, pollEvery).Should(Succeed())
	g.Expect(controllerTokens(t, ns)).To(BeEmpty(), "no controller token outlives its join")
}

// TestOneFirstControllerUnderConcurrency: configs reconciled at once
// (the suite's manager runs five reconciles in parallel) never both
// initialize a cluster. Five controllers of each of four clusters are
// created together; each cluster gets exactly one first controller.
func TestOneFirstControllerUnderConcurrency(t *testing.T) {
	g := NewWithT(t)
	const clusters, perCluster = 4, 5
	planes := make([]*simulation.K0sControlPlane, clusters)
	for i := range planes {
		planes[i] = newK0sControlPlane(t, newNamespace(t, fmt.Sprintf("race%d", i)))
	}
	names := make([][]string, clusters)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, cp := range planes {
		for range perCluster {
			wg.Go(func() {
				name, err := cp.AddMachine(t.Context())
				mu.Lock()
				defer mu.Unlock()
				g.Expect(err).NotTo(HaveOccurred())
				names[i] = append(names[i], name)
			})
		}
	}
	wg.Wait()

	for i, cp := range planes {
		g.Eventually(func(g Gomega) {
			waiting, first := 0, 0
			for _, name := range names[i] {
				if controllerData(g, t, cp.Namespace, name) != nil {
					first++
				} else if conditions.GetReason(getControllerConfig(t, cp.Namespace, name), bootstrapv1.DataSecretAvailableCondition) == bootstrapv1.WaitingForControlPlaneInitializationReason {
					waiting++
				}
			}
			g.Expect(first).To(Equal(1), "cluster %d", i)
			g.Expect(waiting).To(Equal(perCluster - 1))
		}, waitTimeout, pollEvery).Should(Succeed())
	}
	// And it stays so: nobody else initializes while the first boots.
	g.Consistently(func(g Gomega) {
		for i, cp := range planes {
			first := 0
			for _, name := range names[i] {
				if controllerData(g, t, cp.Namespace, name) != nil {
					first++
				}
			}
			g.Expect(first).To(Equal(1))
		}
	}, "3s", pollEvery).Should(Succeed())
}

// TestFirstControllerReplacedBeforeInitialization: a first controller whose
// Machine goes away before the control plane is initialized (remediation,
// a failed instance) hands the cluster to the next, with the same
// certificates: they were saved once, owned by the Cluster.
func TestFirstControllerReplacedBeforeInitialization(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, "k0scp-replace")
	cp := newK0sControlPlane(t, ns)
	first, err := cp.AddMachine(t.Context())
	g.Expect(err).NotTo(HaveOccurred())
	var firstData []byte
	g.Eventually(func(g Gomega) { firstData = controllerData(g, t, ns, first); g.Expect(firstData).NotTo(BeNil()) }, waitTimeout, pollEvery).Should(Succeed())
	second, err := cp.AddMachine(t.Context())
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(conditionReasonOf(t, ns, second), waitTimeout, pollEvery).Should(HavePrefix(bootstrapv1.WaitingForControlPlaneInitializationReason))

	g.Expect(cp.RemoveMachine(t.Context(), first)).To(Succeed())
	var secondData []byte
	g.Eventually(func(g Gomega) { secondData = controllerData(g, t, ns, second); g.Expect(secondData).NotTo(BeNil()) }, 2*waitTimeout, pollEvery).Should(Succeed())
	booted, err := simulation.BootController(t.Context(), secondData, "cloud-config", controllerMachine(t))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(booted.Initialized).To(BeTrue(), "the next controller initializes the cluster")
	a, b := cloudConfigFiles(t, firstData), cloudConfigFiles(t, secondData)
	for _, f := range []string{"/var/lib/k0s/pki/ca.key", "/var/lib/k0s/pki/etcd/ca.key", "/var/lib/k0s/pki/front-proxy-ca.key", "/var/lib/k0s/pki/sa.key"} {
		g.Expect(b[f]).To(Equal(a[f]), "%s is the cluster's, not a new one", f)
		rememberCredential(a[f])
	}
}

// TestControllerConfigOwnedByAMachinePool: a pool cannot run controllers;
// the config says so instead of writing data.
func TestControllerConfigOwnedByAMachinePool(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, "k0scp-pool")
	createCluster(t, ns, "c", fixtures.ClusterOptions{})
	config := &bootstrapv1.K0sControllerConfig{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pool"}}
	g.Expect(env.Client.Create(t.Context(), config)).To(Succeed())
	infra := &unstructured.Unstructured{}
	infra.SetGroupVersionKind(builder.InfrastructureGroupVersion.WithKind(builder.GenericInfrastructureMachinePoolKind))
	infra.SetNamespace(ns)
	infra.SetName("pool")
	infra.Object["spec"] = map[string]any{}
	g.Expect(env.Client.Create(t.Context(), infra)).To(Succeed())
	pool := &clusterv1.MachinePool{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pool"},
		Spec: clusterv1.MachinePoolSpec{ClusterName: "c", Template: clusterv1.MachineTemplateSpec{Spec: clusterv1.MachineSpec{
			ClusterName: "c",
			Bootstrap:   clusterv1.Bootstrap{ConfigRef: clusterv1.ContractVersionedObjectReference{APIGroup: bootstrapv1.GroupVersion.Group, Kind: "K0sControllerConfig", Name: "pool"}},
			InfrastructureRef: clusterv1.ContractVersionedObjectReference{
				APIGroup: builder.InfrastructureGroupVersion.Group, Kind: builder.GenericInfrastructureMachinePoolKind, Name: "pool",
			},
		}}},
	}
	g.Expect(env.Client.Create(t.Context(), pool)).To(Succeed())
	g.Eventually(conditionReasonOf(t, ns, "pool"), waitTimeout, pollEvery).Should(
		And(HavePrefix(bootstrapv1.DataSecretGenerationFailedReason), ContainSubstring("MachinePool pool cannot use it")))
	g.Expect(getControllerConfig(t, ns, "pool").IsDataSecretCreated()).To(BeFalse(), "no data, rather than wrong data")
}

func conditionReasonOf(t *testing.T, ns, name string) func() string {
	return func() string {
		config := &bootstrapv1.K0sControllerConfig{}
		if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, config); err != nil {
			return err.Error()
		}
		if c := conditions.Get(config, bootstrapv1.DataSecretAvailableCondition); c != nil {
			return c.Reason + ": " + c.Message
		}
		return ""
	}
}

// TestTunnellingController: with spec.tunneling the first controller's
// data deploys the frp client, once K0sControlPlane's frp token exists;
// until then the config says what it waits for.
func TestTunnellingController(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, "k0scp-tunnel")
	cp := newK0sControlPlane(t, ns)
	cp.Spec.Tunneling = bootstrapv1.TunnelingSpec{Enabled: true, ServerAddress: "203.0.113.7", Mode: bootstrapv1.TunnelingModeProxy}
	name, err := cp.AddMachine(t.Context())
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(conditionReasonOf(t, ns, name), waitTimeout, pollEvery).Should(
		Equal(bootstrapv1.MissingFileSourceReason + ": Waiting for key value of Secret " + ns + "/cp-frp-token (the frp token K0sControlPlane creates for spec.tunneling)"))

	const frpValue = "0f0e2c53-5a43-4c83-9f2e-tunnel-token"
	rememberCredential(frpValue)
	g.Expect(env.Client.Create(t.Context(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cp-frp-token"},
		StringData: map[string]string{"value": frpValue},
	})).To(Succeed())
	var value []byte
	g.Eventually(func(g Gomega) { value = controllerData(g, t, ns, name); g.Expect(value).NotTo(BeNil()) }, 2*waitTimeout, pollEvery).Should(Succeed())
	manifest := cloudConfigFiles(t, value)["/var/lib/k0s/manifests/k0smotron-tunneling/manifest.yaml"]
	g.Expect(manifest).To(ContainSubstring("token = " + frpValue))
	g.Expect(manifest).To(ContainSubstring("server_addr = 203.0.113.7"))
	g.Expect(manifest).To(ContainSubstring("multiplexer = httpconnect"))
	g.Expect(manifest).To(ContainSubstring("image: snowdreamtech/frpc:0.51.3"), "the default image, which --frpc-image replaces")
	validateCloudConfig(t, value)
}

// TestControllerWaitsForItsFileSource: a file whose Secret does not exist
// yet is waited for (the source watch brings the config back), not taken
// for a render failure.
func TestControllerWaitsForItsFileSource(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, "k0scp-source")
	cp := newK0sControlPlane(t, ns)
	cp.Spec.Files = []bootstrapv1.File{{Path: "/etc/motd", ContentFrom: &bootstrapv1.ContentSource{
		SecretRef: &bootstrapv1.ContentSourceRef{Name: "motd", Key: "text"},
	}}}
	name, err := cp.AddMachine(t.Context())
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(conditionReasonOf(t, ns, name), waitTimeout, pollEvery).Should(HavePrefix(bootstrapv1.MissingFileSourceReason + ": Waiting for"))

	g.Expect(env.Client.Create(t.Context(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "motd"}, StringData: map[string]string{"text": "controller {{ not jinja }}\n"},
	})).To(Succeed())
	var value []byte
	g.Eventually(func(g Gomega) { value = controllerData(g, t, ns, name); g.Expect(value).NotTo(BeNil()) }, waitTimeout, pollEvery).Should(Succeed())
	g.Expect(cloudConfigFiles(t, value)["/etc/motd"]).To(Equal("controller {{ not jinja }}\n"))
}

// TestFirstControllerNeedsTheCertificateKeys: a cluster certificate Secret
// without its key cannot start a cluster; the config names it.
func TestFirstControllerNeedsTheCertificateKeys(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, "k0scp-certs")
	cp := newK0sControlPlane(t, ns)
	g.Expect(env.Client.Create(t.Context(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: secret.Name("cp", secret.ServiceAccount), Labels: map[string]string{clusterv1.ClusterNameLabel: "cp"}},
		Type:       clusterv1.ClusterSecretType,
		Data:       map[string][]byte{secret.TLSCrtDataName: []byte("-----BEGIN PUBLIC KEY-----\n")},
	})).To(Succeed())
	name, err := cp.AddMachine(t.Context())
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(conditionReasonOf(t, ns, name), waitTimeout, pollEvery).Should(
		Equal(bootstrapv1.DataSecretGenerationFailedReason + ": Secret cp-sa (sa) has no certificate and key pair: the first controller needs the keys to start the cluster; give the Secret tls.crt and tls.key, or delete it to have it generated"))
	g.Expect(getControllerConfig(t, ns, name).IsDataSecretCreated()).To(BeFalse())
}

// TestNoFirstControllerBesideOneThatHasData: a control-plane Machine that
// already has bootstrap data (here k0smotron's, from before a switch) may
// be initializing the cluster: no config takes the init lock beside it.
func TestNoFirstControllerBesideOneThatHasData(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, "k0scp-legacy")
	cp := newK0sControlPlane(t, ns)
	// A controller bootstrapped by k0smotron before the switch: its data
	// Secret is k0smotron's, named by its Machine from the start.
	const legacy = "cp-legacy"
	g.Expect(env.Client.Create(t.Context(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: legacy, Labels: map[string]string{clusterv1.ClusterNameLabel: "cp"}},
		Type:       clusterv1.ClusterSecretType,
		Data:       map[string][]byte{"value": []byte("#cloud-config\n"), "format": []byte("cloud-config")},
	})).To(Succeed())
	g.Expect(env.Client.Create(t.Context(), &bootstrapv1.K0sControllerConfig{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: legacy, Labels: map[string]string{clusterv1.ClusterNameLabel: "cp"}},
	})).To(Succeed())
	machine := createMachineOf(t, ns, "cp", legacy, "K0sControllerConfig", legacy)
	base := machine.DeepCopy()
	machine.Spec.Bootstrap.DataSecretName = new(legacy)
	g.Expect(env.Client.Patch(t.Context(), machine, client.MergeFrom(base))).To(Succeed())
	g.Eventually(func() *string { return getControllerConfig(t, ns, legacy).Status.DataSecretName }, waitTimeout, pollEvery).Should(HaveValue(Equal(legacy)), "status rebuilt from the Machine")

	next, err := cp.AddMachine(t.Context())
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(conditionReasonOf(t, ns, next), waitTimeout, pollEvery).Should(
		Equal(bootstrapv1.WaitingForControlPlaneInitializationReason + ": Waiting for controller " + legacy + ", the first of Cluster cp, to initialize the control plane"))
	lock := &corev1.ConfigMap{}
	err = env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "cp-k0s-init-lock"}, lock)
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "nobody took the lock: %v", err)
	kept := &corev1.Secret{}
	g.Expect(env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: legacy}, kept)).To(Succeed())
	g.Expect(string(kept.Data["value"])).To(Equal("#cloud-config\n"), "the legacy data is left as it is")
}
