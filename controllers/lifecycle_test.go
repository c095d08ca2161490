package controllers_test

import (
	"bytes"
	"fmt"
	"sort"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util/test/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/controllers"
	"github.com/cabpk0s/cabpk0s/internal/fixtures"
	"github.com/cabpk0s/cabpk0s/internal/jointoken"
	"github.com/cabpk0s/cabpk0s/internal/simulation"
	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

// clusterWithConfig creates a namespace, a ready Cluster and a config of a
// pinned k0s version, waiting for its owner.
func clusterWithConfig(t *testing.T, prefix, configName string) (string, *clusterv1.Cluster) {
	t.Helper()
	ns := newNamespace(t, prefix)
	cluster := createCluster(t, ns, prefix, fixtures.ClusterOptions{})
	NewWithT(t).Expect(env.Client.Create(t.Context(), newConfig(ns, configName, bootstrapv1.K0sWorkerConfigSpec{K0sInstallSpec: bootstrapv1.K0sInstallSpec{Version: "v1.33.4+k0s.0"}}))).To(Succeed())
	return ns, cluster
}

// createMachinePool creates a MachinePool of cluster whose instances are
// bootstrapped by configName, with a generic infrastructure pool.
func createMachinePool(t *testing.T, ns, clusterName, name, configName string) {
	t.Helper()
	g := NewWithT(t)
	infraPool := &unstructured.Unstructured{}
	infraPool.SetGroupVersionKind(builder.InfrastructureGroupVersion.WithKind(builder.GenericInfrastructureMachinePoolKind))
	infraPool.SetNamespace(ns)
	infraPool.SetName(name)
	infraPool.Object["spec"] = map[string]any{}
	g.Expect(env.Client.Create(t.Context(), infraPool)).To(Succeed())
	g.Expect(env.Client.Create(t.Context(), &clusterv1.MachinePool{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: clusterv1.MachinePoolSpec{
			ClusterName: clusterName,
			Replicas:    new(int32(2)),
			Template: clusterv1.MachineTemplateSpec{Spec: clusterv1.MachineSpec{
				ClusterName:       clusterName,
				Bootstrap:         clusterv1.Bootstrap{ConfigRef: clusterv1.ContractVersionedObjectReference{APIGroup: bootstrapv1.GroupVersion.Group, Kind: "K0sWorkerConfig", Name: configName}},
				InfrastructureRef: clusterv1.ContractVersionedObjectReference{APIGroup: builder.InfrastructureGroupVersion.Group, Kind: builder.GenericInfrastructureMachinePoolKind, Name: name},
			}},
		},
	})).To(Succeed())
}

// joinPool boots a pool's two instances with its data, as the instances of
// an infrastructure provider's pool would, and reports their provider IDs
// on the infrastructure pool, until the MachinePool lists a node for every
// replica: the pool has stopped scaling. It returns the bootstrap identity
// the instances' certificates were requested with.
func joinPool(t *testing.T, ns, name string, data *corev1.Secret) string {
	t.Helper()
	g := NewWithT(t)
	ctx := t.Context()
	var ids []any
	requester := ""
	for i := range 2 {
		id := fmt.Sprintf("aws:///us-east-1a/i-%s-%d", ns, i)
		booted, err := simulation.Boot(ctx, data.Data["value"], string(data.Data["format"]), simulation.Machine{
			Hostname: fmt.Sprintf("%s-%s-%d", ns, name, i), ProviderID: id, DataDir: t.TempDir(),
		})
		g.Expect(err).NotTo(HaveOccurred())
		user, err := booted.Requester(ctx, workload.Client)
		g.Expect(err).NotTo(HaveOccurred())
		requester = user.Username
		ids = append(ids, id)
	}
	infraPool := &unstructured.Unstructured{}
	infraPool.SetGroupVersionKind(builder.InfrastructureGroupVersion.WithKind(builder.GenericInfrastructureMachinePoolKind))
	g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, infraPool)).To(Succeed())
	base := infraPool.DeepCopy()
	g.Expect(unstructured.SetNestedSlice(infraPool.Object, ids, "spec", "providerIDList")).To(Succeed())
	g.Expect(env.Client.Patch(ctx, infraPool, client.MergeFrom(base))).To(Succeed())
	base = infraPool.DeepCopy()
	infraPool.Object["status"] = map[string]any{"ready": true, "replicas": int64(2), "initialization": map[string]any{"provisioned": true}}
	g.Expect(env.Client.Status().Patch(ctx, infraPool, client.MergeFrom(base))).To(Succeed())
	g.Eventually(func(g Gomega) {
		pool := &clusterv1.MachinePool{}
		g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, pool)).To(Succeed())
		g.Expect(pool.Status.NodeRefs).To(HaveLen(2))
	}, waitTimeout, pollEvery).Should(Succeed())
	return requester
}

// waitForNewToken waits for data to be rewritten in place with a token
// other than old, and returns it.
func waitForNewToken(t *testing.T, data *corev1.Secret, old string, timeout time.Duration) *corev1.Secret {
	t.Helper()
	rotated := &corev1.Secret{}
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(t.Context(), client.ObjectKeyFromObject(data), rotated)).To(Succeed())
		g.Expect(rotated.Annotations[controllers.TokenIDAnnotation]).NotTo(Equal(old))
	}, timeout, pollEvery).Should(Succeed())
	return rotated
}

func motdFrom(secretName string) bootstrapv1.K0sWorkerConfigSpec {
	return bootstrapv1.K0sWorkerConfigSpec{
		K0sInstallSpec: bootstrapv1.K0sInstallSpec{
			Version: "v1.33.4+k0s.0",
			Files: []bootstrapv1.File{{
				Path:        "/etc/motd",
				ContentFrom: &bootstrapv1.ContentSource{SecretRef: &bootstrapv1.ContentSourceRef{Name: secretName, Key: "motd"}},
			}},
		},
	}
}

func createMotd(t *testing.T, ns, name, text string) {
	t.Helper()
	NewWithT(t).Expect(env.Client.Create(t.Context(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Data:       map[string][]byte{"motd": []byte(text)},
	})).To(Succeed())
}

// TestFailedPoolRotationIsVisible: when a MachinePool's token is due for
// rotation and the data cannot be rendered (its contentFrom Secret is
// gone), the config says so instead of reporting Ready over data whose
// token is running out; Cluster API's dataSecretCreated stays true; once
// the source is back, the rotation completes.
func TestFailedPoolRotationIsVisible(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	ns := newNamespace(t, "pool-rotation")
	cluster := createCluster(t, ns, "pool", fixtures.ClusterOptions{})
	createMotd(t, ns, "pool-files", "first")
	g.Expect(env.Client.Create(ctx, newConfig(ns, "pool", motdFrom("pool-files")))).To(Succeed())
	createMachinePool(t, ns, cluster.Name, "pool", "pool")
	data := waitForDataSecret(t, ns, "pool")
	first := data.Annotations[controllers.TokenIDAnnotation]
	joinPool(t, ns, "pool", data)

	g.Expect(env.Client.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pool-files"}})).To(Succeed())
	// The rotation falls due half a TTL after the token was last extended.
	g.Eventually(conditionReason(t, ns, "pool", bootstrapv1.ReadyCondition), 2*testTokenTTL, pollEvery).
		Should(Equal(bootstrapv1.MissingFileSourceReason + ": Waiting for Secret " + ns + "/pool-files"))
	config := getConfig(t, ns, "pool")
	g.Expect(config.Status.Initialization.DataSecretCreated).To(HaveValue(BeTrue()), "Cluster API reads dataSecretCreated: it is never taken back")
	g.Expect(config.Annotations).To(HaveKeyWithValue(controllers.TokenIDAnnotation, first), "no token is minted for data that cannot be rendered")
	g.Consistently(conditionReason(t, ns, "pool", bootstrapv1.ReadyCondition), 3*time.Second, pollEvery).
		Should(HavePrefix(bootstrapv1.MissingFileSourceReason), "the failure stays visible")

	rotations := tokenOperations(t, "rotated")
	createMotd(t, ns, "pool-files", "second")
	rotated := waitForNewToken(t, data, first, waitTimeout)
	g.Eventually(func() float64 { return tokenOperations(t, "rotated") }, waitTimeout, pollEvery).Should(BeNumerically(">", rotations), "the rotation is counted")
	g.Expect(cloudConfigFiles(t, rotated.Data["value"])).To(HaveKeyWithValue("/etc/motd", "second"))
	g.Eventually(conditionReason(t, ns, "pool", bootstrapv1.ReadyCondition), waitTimeout, pollEvery).Should(HavePrefix(bootstrapv1.DataSecretAvailableReason))
	second := rotated.Annotations[controllers.TokenIDAnnotation]
	g.Expect(joinAsWorker(t, joinToken(t, rotated.Data["value"]), "pool-rotated").Username).To(Equal("system:bootstrap:" + second))
}

// TestDeletedDataSecretIsRewritten: the reconciler compares the token the
// data Secret carries with the config's, so data deleted (or left behind
// by an interrupted write) while the Machine has not booted is written
// again, with the same token.
func TestDeletedDataSecretIsRewritten(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	ns, _, id := bootstrappedWorker(t, "heal")
	data := waitForDataSecret(t, ns, "worker")

	g.Expect(env.Client.Delete(ctx, data)).To(Succeed())
	again := &corev1.Secret{}
	// The token check comes back every TTL/3.
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(data), again)).To(Succeed())
	}, testTokenTTL, pollEvery).Should(Succeed())
	g.Expect(again.UID).NotTo(Equal(data.UID))
	g.Expect(again.Annotations).To(HaveKeyWithValue(controllers.TokenIDAnnotation, id))
	g.Expect(tokenSecrets(t, ns, "worker")).To(HaveLen(1))
	g.Expect(joinAsWorker(t, joinToken(t, again.Data["value"]), ns+"-healed").Username).To(Equal("system:bootstrap:" + id))
}

// TestUnownedConfigSaysWhatItWaitsFor: a config nothing owns shows
// WaitingForOwner rather than a blank reason.
func TestUnownedConfigSaysWhatItWaitsFor(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, "unowned")
	g.Expect(env.Client.Create(t.Context(), newConfig(ns, "orphan", bootstrapv1.K0sWorkerConfigSpec{}))).To(Succeed())
	g.Eventually(conditionReason(t, ns, "orphan", bootstrapv1.ReadyCondition), waitTimeout, pollEvery).
		Should(HavePrefix(bootstrapv1.WaitingForOwnerReason + ": Waiting for a Machine or MachinePool"))
	g.Expect(getConfig(t, ns, "orphan").Status.Initialization.DataSecretCreated).To(BeNil())
}

// TestPausedConfigSaysPaused: a config of a paused Cluster that has no data
// yet says Paused in Ready, not a blank or stale reason.
func TestPausedConfigSaysPaused(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, "paused-reason")
	cluster := createCluster(t, ns, "paused", fixtures.ClusterOptions{})
	setClusterPaused(t, cluster, true)
	g.Expect(env.Client.Create(t.Context(), newConfig(ns, "worker", bootstrapv1.K0sWorkerConfigSpec{}))).To(Succeed())
	createMachine(t, ns, cluster.Name, "worker", "worker")
	g.Eventually(conditionReason(t, ns, "worker", bootstrapv1.ReadyCondition), waitTimeout, pollEvery).
		Should(HavePrefix(bootstrapv1.PausedReason + ": Reconciliation is paused"))
	g.Expect(conditionReason(t, ns, "worker", bootstrapv1.PausedCondition)()).To(HavePrefix(clusterv1.PausedReason))

	// Unpausing is acted on at once, though the config has no cluster
	// label yet (the paused Machine controller never set it).
	g.Expect(getConfig(t, ns, "worker").Labels).NotTo(HaveKey(clusterv1.ClusterNameLabel))
	setClusterPaused(t, cluster, false)
	start := time.Now()
	waitForDataSecret(t, ns, "worker")
	g.Expect(time.Since(start)).To(BeNumerically("<", 10*time.Second))
	g.Eventually(conditionReason(t, ns, "worker", bootstrapv1.ReadyCondition), waitTimeout, pollEvery).Should(HavePrefix(bootstrapv1.DataSecretAvailableReason))
	g.Expect(conditionReason(t, ns, "worker", bootstrapv1.PausedCondition)()).To(HavePrefix(clusterv1.NotPausedReason))
}

// TestInvalidSpecMintsNoToken: a spec that got past admission (a webhook
// that was not running) but does not satisfy the validator gets a
// condition naming the field, and no join token.
func TestInvalidSpecMintsNoToken(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	ns := newNamespace(t, "invalid")
	cluster := createCluster(t, ns, "invalid", fixtures.ClusterOptions{})
	createMachine(t, ns, cluster.Name, "worker", "worker")
	// A render-time failure the webhook cannot see: custom user data that
	// is not cloud-config.
	g.Expect(env.Client.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "userdata"},
		Data:       map[string][]byte{"value": []byte("#!/bin/sh\necho not cloud-config\n")},
	})).To(Succeed())
	spec := bootstrapv1.K0sWorkerConfigSpec{
		K0sInstallSpec: bootstrapv1.K0sInstallSpec{
			Provisioner: bootstrapv1.ProvisionerSpec{
				CustomUserDataRef: &bootstrapv1.ContentSource{SecretRef: &bootstrapv1.ContentSourceRef{Name: "userdata", Key: "value"}},
			},
		},
	}
	g.Expect(env.Client.Create(ctx, newConfig(ns, "worker", spec))).To(Succeed())
	g.Eventually(conditionReason(t, ns, "worker", bootstrapv1.ReadyCondition), waitTimeout, pollEvery).
		Should(Equal(bootstrapv1.DataSecretGenerationFailedReason + ": Cannot render the bootstrap data: custom cloud-config is not a cloud-config mapping (key: value)"))
	g.Consistently(func() []corev1.Secret { return tokenSecrets(t, ns, "worker") }, 3*time.Second, pollEvery).Should(BeEmpty())
}

// eventReasons lists the reasons of the events about config ns/name, in
// the order they were first emitted.
func eventReasons(t *testing.T, ns, name string) []string {
	t.Helper()
	events := &eventsv1.EventList{}
	NewWithT(t).Expect(env.Client.List(t.Context(), events, client.InNamespace(ns))).To(Succeed())
	sort.Slice(events.Items, func(i, j int) bool { return events.Items[i].EventTime.Before(&events.Items[j].EventTime) })
	var reasons []string
	for _, e := range events.Items {
		if e.Regarding.Kind == "K0sWorkerConfig" && e.Regarding.Name == name {
			reasons = append(reasons, e.Reason)
		}
	}
	return reasons
}

// TestConditionTransitionsAreEvents: what the config waits for, and its
// recovery, are events, as docs/operations.md promises: waiting for a
// source, then available once it exists.
func TestConditionTransitionsAreEvents(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, "events")
	cluster := createCluster(t, ns, "events", fixtures.ClusterOptions{})
	g.Expect(env.Client.Create(t.Context(), newConfig(ns, "worker", motdFrom("files")))).To(Succeed())
	createMachine(t, ns, cluster.Name, "worker", "worker")
	g.Eventually(func() []string { return eventReasons(t, ns, "worker") }, waitTimeout, pollEvery).
		Should(ContainElement(bootstrapv1.MissingFileSourceReason))

	createMotd(t, ns, "files", "hello")
	waitForDataSecret(t, ns, "worker")
	g.Eventually(func() []string { return eventReasons(t, ns, "worker") }, waitTimeout, pollEvery).
		Should(ContainElement(bootstrapv1.DataSecretAvailableReason), "recovering is an event")
}

// TestDataTooLargeForASecret: files adding up to more than a Secret holds
// get a condition naming the size, and no token.
func TestDataTooLargeForASecret(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	ns := newNamespace(t, "oversized")
	cluster := createCluster(t, ns, "oversized", fixtures.ClusterOptions{})
	spec := bootstrapv1.K0sWorkerConfigSpec{}
	for i, name := range []string{"part-a", "part-b"} {
		g.Expect(env.Client.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Data:       map[string][]byte{"blob": bytes.Repeat([]byte{'x'}, 600<<10)},
		})).To(Succeed())
		spec.Files = append(spec.Files, bootstrapv1.File{
			Path:        fmt.Sprintf("/opt/blob-%d", i),
			ContentFrom: &bootstrapv1.ContentSource{SecretRef: &bootstrapv1.ContentSourceRef{Name: name, Key: "blob"}},
		})
	}
	g.Expect(env.Client.Create(ctx, newConfig(ns, "worker", spec))).To(Succeed())
	createMachine(t, ns, cluster.Name, "worker", "worker")
	g.Eventually(conditionReason(t, ns, "worker", bootstrapv1.ReadyCondition), waitTimeout, pollEvery).
		Should(MatchRegexp(`^` + bootstrapv1.DataSecretGenerationFailedReason + `: Cannot render the bootstrap data: the bootstrap data is \d+ bytes, more than a Secret holds \(1048576\)`))
	g.Expect(tokenSecrets(t, ns, "worker")).To(BeEmpty())
}

// TestDataTooLargeSaysSoWhileTheWorkloadIsAway: input the user must fix
// is reported even while the workload cluster cannot be reached, not
// hidden behind the wait for it.
func TestDataTooLargeSaysSoWhileTheWorkloadIsAway(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	ns := newNamespace(t, "oversized-away")
	cluster := createCluster(t, ns, "away", fixtures.ClusterOptions{WorkloadUnreachable: true})
	g.Expect(env.Client.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "blob"},
		Data:       map[string][]byte{"blob": bytes.Repeat([]byte{'x'}, 900<<10)},
	})).To(Succeed())
	spec := bootstrapv1.K0sWorkerConfigSpec{}
	for i := range 2 {
		spec.Files = append(spec.Files, bootstrapv1.File{
			Path:        fmt.Sprintf("/opt/blob-%d", i),
			ContentFrom: &bootstrapv1.ContentSource{SecretRef: &bootstrapv1.ContentSourceRef{Name: "blob", Key: "blob"}},
		})
	}
	g.Expect(env.Client.Create(ctx, newConfig(ns, "worker", spec))).To(Succeed())
	g.Expect(env.Client.Create(ctx, newConfig(ns, "fine", bootstrapv1.K0sWorkerConfigSpec{}))).To(Succeed())
	createMachine(t, ns, cluster.Name, "worker", "worker")
	createMachine(t, ns, cluster.Name, "fine", "fine")
	g.Eventually(conditionReason(t, ns, "worker", bootstrapv1.ReadyCondition), waitTimeout, pollEvery).
		Should(MatchRegexp(`^` + bootstrapv1.DataSecretGenerationFailedReason + `: Cannot render the bootstrap data: the bootstrap data is \d+ bytes, more than a Secret holds`))
	// The stand-in token that checked it lives nowhere: a config whose data
	// renders still waits for the workload cluster.
	g.Eventually(conditionReason(t, ns, "fine", bootstrapv1.ReadyCondition), waitTimeout, pollEvery).
		Should(HavePrefix(bootstrapv1.WorkloadClusterNotReachableReason + ":"))
}

// TestForeignSecretsAreNeverTakenOver: a Secret cabpk0s did not write is
// neither overwritten (one named like the config) nor adopted (one a
// Machine names in spec.bootstrap.dataSecretName): adopting it would hand
// it to the garbage collector with the config.
func TestForeignSecretsAreNeverTakenOver(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	ns := newNamespace(t, "foreign")
	cluster := createCluster(t, ns, "foreign", fixtures.ClusterOptions{})
	handmade := func(name string) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string][]byte{"value": []byte("#cloud-config\n{}\n")}}
		g.Expect(env.Client.Create(ctx, s)).To(Succeed())
		return s
	}
	unchanged := func(before *corev1.Secret) {
		after := &corev1.Secret{}
		g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(before), after)).To(Succeed())
		g.Expect(after.ResourceVersion).To(Equal(before.ResourceVersion), "the Secret must not be written")
		g.Expect(after.OwnerReferences).To(BeEmpty())
	}

	// Named like the config.
	squatter := handmade("worker")
	g.Expect(env.Client.Create(ctx, newConfig(ns, "worker", bootstrapv1.K0sWorkerConfigSpec{}))).To(Succeed())
	createMachine(t, ns, cluster.Name, "worker", "worker")
	g.Eventually(conditionReason(t, ns, "worker", bootstrapv1.ReadyCondition), waitTimeout, pollEvery).
		Should(Equal(bootstrapv1.DataSecretGenerationFailedReason + ": Cannot store the bootstrap data Secret: secret " + ns +
			"/worker exists and was not written by cabpk0s: delete or rename it, it is left as it is"))
	unchanged(squatter)

	// Named by the Machine.
	given := handmade("given-data")
	g.Expect(env.Client.Create(ctx, &clusterv1.Machine{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "given"},
		Spec: clusterv1.MachineSpec{
			ClusterName: cluster.Name,
			Bootstrap: clusterv1.Bootstrap{
				ConfigRef:      clusterv1.ContractVersionedObjectReference{APIGroup: bootstrapv1.GroupVersion.Group, Kind: "K0sWorkerConfig", Name: "given"},
				DataSecretName: new("given-data"),
			},
			InfrastructureRef: clusterv1.ContractVersionedObjectReference{APIGroup: testenv.AWSMachineGVK.Group, Kind: "AWSMachine", Name: "given"},
		},
	})).To(Succeed())
	g.Expect(env.Client.Create(ctx, newConfig(ns, "given", bootstrapv1.K0sWorkerConfigSpec{}))).To(Succeed())
	g.Eventually(conditionReason(t, ns, "given", bootstrapv1.ReadyCondition), waitTimeout, pollEvery).
		Should(HaveSuffix("whose data Secret given-data was not written by cabpk0s and is left as it is"))
	unchanged(given)
}

// deleteToken deletes a join token as the workload's token cleaner does
// once it expired.
func deleteToken(t *testing.T, id string) {
	t.Helper()
	NewWithT(t).Expect(workload.Client.Delete(t.Context(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
		Namespace: metav1.NamespaceSystem, Name: jointoken.SecretName(id),
	}})).To(Succeed())
}

// TestLostTokenOfAnUnprovisionedMachineIsRecreated: a Machine whose
// infrastructure is not provisioned yet cannot have booted, so when its
// token is gone (an outage outlasted it) the very token its data carries
// is created again and works.
func TestLostTokenOfAnUnprovisionedMachineIsRecreated(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	ns, cluster := clusterWithConfig(t, "recreate", "worker")
	// Its AWSMachine does not exist yet: the infrastructure is not provisioned.
	g.Expect(env.Client.Create(ctx, &clusterv1.Machine{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "worker"},
		Spec: clusterv1.MachineSpec{
			ClusterName:       cluster.Name,
			Bootstrap:         clusterv1.Bootstrap{ConfigRef: clusterv1.ContractVersionedObjectReference{APIGroup: bootstrapv1.GroupVersion.Group, Kind: "K0sWorkerConfig", Name: "worker"}},
			InfrastructureRef: clusterv1.ContractVersionedObjectReference{APIGroup: testenv.AWSMachineGVK.Group, Kind: "AWSMachine", Name: "not-yet"},
		},
	})).To(Succeed())
	data := waitForDataSecret(t, ns, "worker")
	id := data.Annotations[controllers.TokenIDAnnotation]
	secretHalf := string(tokenSecrets(t, ns, "worker")[0].Data[bootstrapapi.BootstrapTokenSecretKey])

	recreated := tokenOperations(t, "recreated")
	deleteToken(t, id)
	g.Eventually(func() []string { return eventReasons(t, ns, "worker") }, 2*testTokenTTL, pollEvery).Should(ContainElement("JoinTokenRecreated"))
	g.Expect(tokenOperations(t, "recreated")).To(BeNumerically(">", recreated), "the recreation is counted")
	tokens := tokenSecrets(t, ns, "worker")
	g.Expect(tokens).To(HaveLen(1))
	g.Expect(string(tokens[0].Data[bootstrapapi.BootstrapTokenIDKey])).To(Equal(id))
	g.Expect(string(tokens[0].Data[bootstrapapi.BootstrapTokenSecretKey])).To(Equal(secretHalf), "the token the data carries")
	g.Expect(joinAsWorker(t, joinToken(t, data.Data["value"]), ns+"-recreated").Username).To(Equal("system:bootstrap:" + id))
	g.Expect(conditionReason(t, ns, "worker", bootstrapv1.ReadyCondition)()).To(HavePrefix(bootstrapv1.DataSecretAvailableReason))
}

// TestLostTokenOfAProvisionedMachineIsReported: once the infrastructure is
// provisioned the machine may be booting with the lost token; it is not
// brought back, and the condition says what happened and what to do.
func TestLostTokenOfAProvisionedMachineIsReported(t *testing.T) {
	g := NewWithT(t)
	ns, _, id := bootstrappedWorker(t, "lost")
	g.Eventually(func(g Gomega) {
		machine := &clusterv1.Machine{}
		g.Expect(env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: ns}, machine)).To(Succeed())
		g.Expect(machine.Status.Initialization.InfrastructureProvisioned).To(HaveValue(BeTrue()))
	}, waitTimeout, pollEvery).Should(Succeed())

	deleteToken(t, id)
	g.Eventually(conditionReason(t, ns, "worker", bootstrapv1.ReadyCondition), 2*testTokenTTL, pollEvery).
		Should(Equal(bootstrapv1.JoinTokenMissingReason + ": Join token " + id + " expired before Machine " + ns + " joined, and its infrastructure is provisioned: " +
			"the machine cannot join with its data; delete the Machine to replace it"))
	g.Expect(tokenExists(t, id)).To(BeFalse(), "not brought back")
	g.Expect(eventReasons(t, ns, "worker")).To(ContainElement(bootstrapv1.JoinTokenMissingReason))
}

// TestCopiedConfigGetsItsOwnToken: a config applied with another's token ID
// annotation (kubectl get -o yaml, renamed, applied) does not share that
// token, whose first join would revoke it for both: it mints its own.
func TestCopiedConfigGetsItsOwnToken(t *testing.T) {
	g := NewWithT(t)
	ns, cluster, original := bootstrappedWorker(t, "copied")
	copied := newConfig(ns, "copy", bootstrapv1.K0sWorkerConfigSpec{K0sInstallSpec: bootstrapv1.K0sInstallSpec{Version: "v1.33.4+k0s.0"}})
	copied.Annotations = map[string]string{controllers.TokenIDAnnotation: original}
	g.Expect(env.Client.Create(t.Context(), copied)).To(Succeed())
	createMachine(t, ns, cluster.Name, "copy", "copy")
	data := waitForDataSecret(t, ns, "copy")
	own := data.Annotations[controllers.TokenIDAnnotation]
	g.Expect(own).NotTo(BeEmpty())
	g.Expect(own).NotTo(Equal(original))
	g.Expect(getConfig(t, ns, "copy").Annotations).To(HaveKeyWithValue(controllers.TokenIDAnnotation, own))
	g.Expect(tokenExists(t, original)).To(BeTrue(), "the original's token is left alone")
	g.Expect(tokenSecrets(t, ns, "copy")).To(HaveLen(1))
}

// TestTokenStateComesFromACacheWithoutSecrets: the ClusterCache cabpk0s
// runs with (the one internal/manager sets up, shared here with Cluster
// API's controllers) holds a workload cluster's bootstrap tokens, and only
// their ID and expiration: a pending Machine's token is there, its secret
// half is not, and no other Secret of the workload cluster is.
func TestTokenStateComesFromACacheWithoutSecrets(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	ns, cluster, id := bootstrappedWorker(t, "tokencache")
	other := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceSystem, Name: ns + "-not-a-token"},
		StringData: map[string]string{"note": "not for the cache"},
	}
	g.Expect(workload.Client.Create(ctx, other)).To(Succeed())
	t.Cleanup(func() { _ = workload.Client.Delete(ctx, other) })

	reader, err := env.ClusterCache.GetReader(ctx, client.ObjectKeyFromObject(cluster))
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func(g Gomega) {
		cached := &corev1.Secret{}
		g.Expect(reader.Get(ctx, client.ObjectKey{Namespace: metav1.NamespaceSystem, Name: jointoken.SecretName(id)}, cached)).To(Succeed())
		g.Expect(cached.Data).To(HaveKeyWithValue(bootstrapapi.BootstrapTokenIDKey, []byte(id)))
		g.Expect(cached.Data).To(HaveKey(bootstrapapi.BootstrapTokenExpirationKey))
		g.Expect(cached.Data).NotTo(HaveKey(bootstrapapi.BootstrapTokenSecretKey))
	}, waitTimeout, pollEvery).Should(Succeed())

	all := &corev1.SecretList{}
	g.Expect(reader.List(ctx, all)).To(Succeed())
	g.Expect(all.Items).NotTo(BeEmpty())
	for _, s := range all.Items {
		g.Expect(s.Type).To(Equal(bootstrapapi.SecretTypeBootstrapToken), "only tokens are cached: %s", s.Name)
		g.Expect(s.Data).NotTo(HaveKey(bootstrapapi.BootstrapTokenSecretKey), "no secret half in memory: %s", s.Name)
	}
	g.Expect(reader.Get(ctx, client.ObjectKeyFromObject(other), &corev1.Secret{})).NotTo(Succeed(), "another Secret is not cached")
}
