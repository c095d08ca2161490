package controllers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util/conditions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/controllers"
	"github.com/cabpk0s/cabpk0s/internal/fixtures"
	"github.com/cabpk0s/cabpk0s/internal/jointoken"
	"github.com/cabpk0s/cabpk0s/internal/simulation"
)

// k0smotronBootstrapped writes what k0smotron's bootstrap provider leaves
// for a config: its join token in the workload cluster (expiring at
// expires), its data Secret (controlled by the config, no token ID) and
// its status, before any owner names the config, with annotations. It
// returns the token and the data Secret.
func k0smotronBootstrapped(t *testing.T, ns, clusterName, name string, expires time.Time, annotations map[string]string) (jointoken.Token, *corev1.Secret) {
	t.Helper()
	g := NewWithT(t)
	ctx := t.Context()
	config := newConfig(ns, name, bootstrapv1.K0sWorkerConfigSpec{K0sInstallSpec: bootstrapv1.K0sInstallSpec{Version: "v1.33.4+k0s.0"}})
	config.Annotations = annotations
	g.Expect(env.Client.Create(ctx, config)).To(Succeed())
	// k0smotron's configs were created before cabpk0s's webhook reserved
	// token IDs: none carries one.
	unreserved := config.DeepCopy()
	delete(unreserved.Annotations, controllers.TokenIDAnnotation)
	unreserved.Finalizers = nil
	g.Expect(env.Client.Patch(ctx, unreserved, client.MergeFrom(config))).To(Succeed())
	config = unreserved
	token, err := simulation.CreateK0smotronWorkerToken(ctx, workload.Client, expires)
	g.Expect(err).NotTo(HaveOccurred())
	rememberCredential(token.Secret)
	host, port, err := workload.Endpoint()
	g.Expect(err).NotTo(HaveOccurred())
	k0sToken, err := jointoken.Worker.Encode(fmt.Sprintf("https://%s:%d", host, port), workload.CACert, token)
	g.Expect(err).NotTo(HaveOccurred())
	data := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name,
			Labels:          map[string]string{clusterv1.ClusterNameLabel: clusterName, "app.kubernetes.io/component": "bootstrap"},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(config, bootstrapv1.GroupVersion.WithKind("K0sWorkerConfig"))},
		},
		Type: clusterv1.ClusterSecretType,
		Data: map[string][]byte{"value": simulation.K0smotronCloudConfig(k0sToken, "v1.33.4+k0s.0", name), "format": []byte("cloud-config")},
	}
	g.Expect(env.Client.Create(ctx, data)).To(Succeed())
	base := config.DeepCopy()
	config.Status.Initialization.DataSecretCreated = ptr.To(true)
	config.Status.DataSecretName = ptr.To(name)
	g.Expect(env.Client.Status().Patch(ctx, config, client.MergeFrom(base))).To(Succeed())
	return token, data
}

// TestAdoptsK0smotronData: configs k0smotron bootstrapped keep their data
// untouched; k0smotron's token of a Machine that joined is revoked at
// once, that of a Machine still to join when it joins (it joins with
// k0smotron's data); a k0smotron token no config carries, and a token
// someone else made, are left alone; the Cluster says what was done.
func TestAdoptsK0smotronData(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	ns := newNamespace(t, "adopt")
	cluster := createCluster(t, ns, "adopt", fixtures.ClusterOptions{})
	expires := time.Now().Add(24 * time.Hour)

	// cabpk0s is kept off the configs (Cluster API's paused annotation)
	// until one Machine has joined with k0smotron's data, so that it finds
	// one joined and one pending, as after a switch.
	paused := map[string]string{clusterv1.PausedAnnotation: ""}
	joinedToken, joinedData := k0smotronBootstrapped(t, ns, cluster.Name, "joined", expires, paused)
	pendingToken, pendingData := k0smotronBootstrapped(t, ns, cluster.Name, "pending", expires, paused)
	stray, err := simulation.CreateK0smotronWorkerToken(ctx, workload.Client, expires)
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = jointoken.Delete(context.Background(), workload.Client, stray.ID) })
	createMachine(t, ns, cluster.Name, "joined", "joined")
	createMachine(t, ns, cluster.Name, "pending", "pending")
	joinNode(t, ns, "joined")
	// Both configs are let go at once, as an unpause after a switch does.
	setClusterPaused(t, cluster, true)
	for _, name := range []string{"joined", "pending"} {
		config := getConfig(t, ns, name)
		base := config.DeepCopy()
		delete(config.Annotations, clusterv1.PausedAnnotation)
		g.Expect(env.Client.Patch(ctx, config, client.MergeFrom(base))).To(Succeed())
	}
	setClusterPaused(t, cluster, false)

	g.Eventually(func(g Gomega) {
		for name, outcome := range map[string]string{"joined": "k0smotron-token-revoked", "pending": "k0smotron-token-watched"} {
			config := getConfig(t, ns, name)
			g.Expect(config.Annotations).To(HaveKeyWithValue(controllers.AdoptedAnnotation, outcome), name)
			g.Expect(conditions.IsTrue(config, bootstrapv1.ReadyCondition)).To(BeTrue(), name)
		}
	}, waitTimeout, pollEvery).Should(Succeed())
	g.Expect(tokenExists(t, joinedToken.ID)).To(BeFalse(), "the joined Machine's k0smotron token is revoked")
	g.Expect(tokenExists(t, pendingToken.ID)).To(BeTrue(), "the pending Machine may still boot with it")
	g.Expect(tokenExists(t, stray.ID)).To(BeTrue(), "a token no config carries is not cabpk0s's to revoke")
	pending := getConfig(t, ns, "pending")
	g.Expect(pending.Annotations).To(HaveKeyWithValue(controllers.K0smotronTokenIDAnnotation, pendingToken.ID))
	g.Expect(pending.Finalizers).To(ContainElement(controllers.TokenFinalizer))
	g.Eventually(func(g Gomega) {
		adoption, err := fixtures.ReadAdoption(ctx, env.Client, ns)
		g.Expect(err).NotTo(HaveOccurred())
		notes := adoption.Notes
		// One pass, or one per config if the cache showed one config's
		// annotations late: what they say adds up.
		g.Expect(adoption.Count("K0sWorkerConfigs whose bootstrap data another provider wrote")).To(Equal(2))
		g.Expect(adoption.Names()).To(ConsistOf("joined", "pending"), "the events name the configs")
		g.Expect(adoption.Count("k0smotron join tokens revoked (their machines joined)")).To(Equal(1))
		g.Expect(adoption.Count("k0smotron join tokens kept until their machines join (then revoked)")).To(Equal(1))
		for _, note := range notes {
			g.Expect(note).To(HaveSuffix("other k0smotron worker join tokens in the workload cluster belong to no config cabpk0s owns and are left to expire"))
		}
	}, waitTimeout, pollEvery).Should(Succeed())

	// The pending Machine boots with k0smotron's data; its token goes once
	// it joined.
	joinNode(t, ns, "pending")
	g.Eventually(func() bool { return tokenExists(t, pendingToken.ID) }, waitTimeout, pollEvery).Should(BeFalse())
	g.Eventually(func(g Gomega) {
		config := getConfig(t, ns, "pending")
		g.Expect(config.Annotations).NotTo(HaveKey(controllers.K0smotronTokenIDAnnotation))
		g.Expect(config.Finalizers).NotTo(ContainElement(controllers.TokenFinalizer))
	}, waitTimeout, pollEvery).Should(Succeed())

	for _, before := range []*corev1.Secret{joinedData, pendingData} {
		after := &corev1.Secret{}
		g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(before), after)).To(Succeed())
		g.Expect(after.ResourceVersion).To(Equal(before.ResourceVersion), "%s: k0smotron's data is never written again", before.Name)
	}
	g.Expect(tokenSecrets(t, ns, "joined")).To(BeEmpty(), "no cabpk0s token for data cabpk0s did not write")
	g.Expect(tokenSecrets(t, ns, "pending")).To(BeEmpty(), "no cabpk0s token for data cabpk0s did not write")
}

// TestAdoptedPoolGetsACabpk0sTokenBeforeK0smotronsExpires: a MachinePool
// can always grow, so its k0smotron token is kept; once half a TTL of it
// is left, or at once if it is gone (the workload's token cleaner took it
// after k0smotron's 24 hours), the pool's data gets a cabpk0s token, as a
// rotation would.
func TestAdoptedPoolGetsACabpk0sTokenBeforeK0smotronsExpires(t *testing.T) {
	for name, gone := range map[string]bool{"expiring": false, "gone": true} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			ns := newNamespace(t, "adopt-pool")
			cluster := createCluster(t, ns, "adopt-pool", fixtures.ClusterOptions{})
			token, data := k0smotronBootstrapped(t, ns, cluster.Name, "pool", time.Now().Add(testTokenTTL/2), nil)
			if gone {
				g.Expect(jointoken.Delete(t.Context(), workload.Client, token.ID)).To(Succeed())
			} else {
				t.Cleanup(func() { _ = jointoken.Delete(context.Background(), workload.Client, token.ID) })
			}
			createMachinePool(t, ns, cluster.Name, "pool", "pool")

			var rotated *corev1.Secret
			g.Eventually(func(g Gomega) {
				rotated = &corev1.Secret{}
				g.Expect(env.Client.Get(t.Context(), client.ObjectKeyFromObject(data), rotated)).To(Succeed())
				g.Expect(rotated.Annotations[controllers.TokenIDAnnotation]).NotTo(BeEmpty())
			}, waitTimeout, pollEvery).Should(Succeed())
			id := rotated.Annotations[controllers.TokenIDAnnotation]
			g.Eventually(func(g Gomega) {
				config := getConfig(t, ns, "pool")
				g.Expect(config.Annotations).To(HaveKeyWithValue(controllers.TokenIDAnnotation, id))
				g.Expect(config.Annotations).To(HaveKeyWithValue(controllers.AdoptedAnnotation, "k0smotron-token-replaced"))
				g.Expect(config.Annotations).NotTo(HaveKey(controllers.K0smotronTokenIDAnnotation))
			}, waitTimeout, pollEvery).Should(Succeed())
			g.Expect(rotated.UID).To(Equal(data.UID), "the pool's data Secret is rewritten in place")
			g.Expect(joinAsWorker(t, joinToken(t, rotated.Data["value"]), "adopted-pool-"+name).Username).To(Equal("system:bootstrap:" + id))
			if !gone {
				g.Expect(tokenExists(t, token.ID)).To(BeTrue(), "k0smotron's token expires on its own: an instance may be booting with it")
			}
		})
	}
}
