package controllers

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/controllers/clustercache"
	"sigs.k8s.io/cluster-api/util/conditions"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/internal/jointoken"
)

// TestPoolRotationBoundary holds the code to its words: a pool's data gets
// a new token exactly when half of the old one's life is gone, and the
// reconcile comes back at that moment, not a third of a TTL later.
func TestPoolRotationBoundary(t *testing.T) {
	g := NewWithT(t)
	const ttl = 15 * time.Minute
	r := NewK0sWorkerConfigReconciler(ReconcilerOptions{TokenTTL: ttl})
	now := time.Now()

	g.Expect(r.poolRotationDue(now.Add(ttl/2+time.Second), now)).To(BeFalse(), "more than half a TTL left")
	g.Expect(r.poolRotationDue(now.Add(ttl/2), now)).To(BeTrue(), "half a TTL left")
	g.Expect(r.poolRotationDue(now.Add(ttl/2-time.Second), now)).To(BeTrue())

	pool := &scope{
		config: &bootstrapv1.K0sWorkerConfig{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{TokenIDAnnotation: "abcdef"}}},
		// Every instance joined: the pool rotates.
		owner: &configOwner{pool: &clusterv1.MachinePool{
			Spec:   clusterv1.MachinePoolSpec{Replicas: ptr.To[int32](1)},
			Status: clusterv1.MachinePoolStatus{NodeRefs: []corev1.ObjectReference{{Kind: "Node", Name: "n"}}},
		}},
	}
	fresh := jointoken.Token{ID: "abcdef", Expiration: time.Now().Add(ttl)}
	g.Expect(r.requeueForToken(pool, fresh).RequeueAfter).To(BeNumerically("~", ttl/2, time.Second),
		"a fresh pool token is looked at again when half its life is gone")
	due := jointoken.Token{ID: "abcdef", Expiration: time.Now().Add(ttl / 4)}
	g.Expect(r.requeueForToken(pool, due).RequeueAfter).To(Equal(time.Second), "an overdue rotation is retried soon, never at once in a hot loop")

	// A pool still scaling is looked after like a pending Machine: a fresh
	// token is looked at again when a quarter of a TTL is left.
	scaling := &scope{config: pool.config, owner: &configOwner{pool: &clusterv1.MachinePool{Spec: clusterv1.MachinePoolSpec{Replicas: ptr.To[int32](3)}}}}
	g.Expect(r.requeueForToken(scaling, fresh).RequeueAfter).To(BeNumerically("~", ttl*3/4, time.Second))

	machine := &scope{config: pool.config, owner: &configOwner{machine: &clusterv1.Machine{}}}
	g.Expect(r.requeueForToken(machine, fresh).RequeueAfter).To(BeNumerically("~", ttl*3/4, time.Second))
	// An extended token is looked at, and extended, one TTL later: one
	// write per pending Machine per TTL, a quarter of a TTL to spare.
	extended := jointoken.Token{ID: "abcdef", Expiration: time.Now().Add(r.extendedLife())}
	g.Expect(r.requeueForToken(machine, extended).RequeueAfter).To(BeNumerically("~", ttl, time.Second))
	g.Expect(r.requeueForToken(machine, due).RequeueAfter).To(BeNumerically("~", time.Second, 10*time.Millisecond), "a token due for a refresh is looked at soon")
	g.Expect(r.requeueForToken(machine, jointoken.Token{ID: "abcdef", Expiration: time.Now().Add(-time.Minute)}).RequeueAfter).To(Equal(time.Second), "never at once in a hot loop")
}

// TestTokenChecksJumpTheBacklog: a config whose token falls due comes out
// of controller-runtime's priority queue before a backlog of new configs,
// so a burst longer than the refresh margin cannot let a pending Machine's
// token expire.
func TestTokenChecksJumpTheBacklog(t *testing.T) {
	g := NewWithT(t)
	r := NewK0sWorkerConfigReconciler(ReconcilerOptions{TokenTTL: time.Minute})
	machine := &scope{
		config: &bootstrapv1.K0sWorkerConfig{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{TokenIDAnnotation: "abcdef"}}},
		owner:  &configOwner{machine: &clusterv1.Machine{}},
	}
	res := r.requeueForToken(machine, jointoken.Token{ID: "abcdef", Expiration: time.Now()})

	queue := priorityqueue.New[reconcile.Request]("token-check-test")
	defer queue.ShutDown()
	for i := range 100 {
		queue.AddWithOpts(priorityqueue.AddOpts{}, reconcile.Request{NamespacedName: types.NamespacedName{Name: fmt.Sprintf("new-%d", i)}})
	}
	due := reconcile.Request{NamespacedName: types.NamespacedName{Name: "token-due"}}
	queue.AddWithOpts(priorityqueue.AddOpts{Priority: res.Priority}, due)
	first, _, _ := queue.GetWithPriority()
	g.Expect(first).To(Equal(due), "the config whose token is due is reconciled before the backlog")
	g.Expect(res.RequeueAfter).To(Equal(time.Second), "a token already due is looked at soon")

	// Anything else the item is requeued for (an event's reconcile, an
	// error's retry) goes back at the normal priority: the token check's
	// must not stick to it.
	g.Expect(withNormalPriority(ctrl.Result{}).Priority).To(Equal(ptr.To(0)))
	g.Expect(withNormalPriority(ctrl.Result{RequeueAfter: time.Minute}).Priority).To(Equal(ptr.To(0)))
	g.Expect(withNormalPriority(res).Priority).To(Equal(ptr.To(tokenCheckPriority)))
}

// TestRefreshWritesOncePerTTL: the token of a Machine that stays pending is
// followed through several TTLs, each reconcile at the moment the last one
// asked for; the workload cluster sees one extension per TTL and the token
// never has less than a quarter of a TTL left.
func TestRefreshWritesOncePerTTL(t *testing.T) {
	g := NewWithT(t)
	const ttl = 15 * time.Minute
	r := NewK0sWorkerConfigReconciler(ReconcilerOptions{TokenTTL: ttl})
	extensions := 0
	workload := fake.NewClientBuilder().WithInterceptorFuncs(interceptor.Funcs{
		Patch: func(context.Context, client.WithWatch, client.Object, client.Patch, ...client.PatchOption) error {
			extensions++
			return nil
		},
	}).Build()
	machine := &scope{
		config: &bootstrapv1.K0sWorkerConfig{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{TokenIDAnnotation: "abcdef"}}},
		owner:  &configOwner{machine: &clusterv1.Machine{}},
	}
	start := time.Now()
	now := start
	token := jointoken.Token{ID: "abcdef", Expiration: now.Add(ttl)} // as created
	for now.Sub(start) < 10*ttl {
		// The requeue is computed against the wall clock; shift it to now.
		next := r.requeueForToken(machine, jointoken.Token{ID: token.ID, Expiration: time.Now().Add(token.Expiration.Sub(now))}).RequeueAfter
		now = now.Add(next)
		g.Expect(token.Expiration.Sub(now)).To(BeNumerically(">=", ttl/4-time.Second), "a quarter of a TTL left at each look")
		var err error
		token, err = r.extend(t.Context(), workload, token, now)
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(extensions).To(BeNumerically("<=", 10), "one write per TTL over ten TTLs")
	g.Expect(extensions).To(BeNumerically(">=", 9), "the token is kept alive")
}

// clusterCacheStub answers GetClient with one workload client; the rest of
// the interface is never called by the code under test.
type clusterCacheStub struct {
	clustercache.ClusterCache
	workload client.Client
}

func (c clusterCacheStub) GetClient(context.Context, client.ObjectKey) (client.Client, error) {
	return c.workload, nil
}

func (c clusterCacheStub) GetUncachedClient(context.Context, client.ObjectKey) (client.Client, error) {
	return c.workload, nil
}

// TestDeletionFindsTheClusterOrSaysWhyNot: a config that lost its
// cluster-name label still has its token revoked, through its data
// Secret's label; with neither, the event and the log say why the token
// is left to expire instead of skipping revocation silently.
func TestDeletionFindsTheClusterOrSaysWhyNot(t *testing.T) {
	scheme := testScheme(t)

	const id = "abcdef"
	deleting := func(name string) *bootstrapv1.K0sWorkerConfig {
		c := &bootstrapv1.K0sWorkerConfig{ObjectMeta: metav1.ObjectMeta{
			Namespace: "ns", Name: name, UID: types.UID("uid-" + name),
			Annotations:       map[string]string{TokenIDAnnotation: id},
			Finalizers:        []string{TokenFinalizer},
			DeletionTimestamp: &metav1.Time{Time: time.Now()},
		}}
		c.SetDataSecret(name)
		return c
	}
	tokenSecret := func() *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceSystem, Name: jointoken.SecretName(id)}}
	}
	cluster := &clusterv1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c"}}

	for _, tc := range []struct {
		name         string
		dataLabelled bool
		wantEvent    string
		wantRevoked  bool
	}{
		{"label on the data Secret", true, "Normal JoinTokenRevoked Config deleted: revoked join token abcdef", true},
		{"no label anywhere", false, "Warning JoinTokenNotRevoked Neither the config nor its data Secret has the cluster.x-k8s.io/cluster-name label: " +
			"cannot tell which workload cluster holds join token abcdef; it expires on its own within 15m0s", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			config := deleting("worker")
			data := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "worker"}}
			if tc.dataLabelled {
				data.Labels = map[string]string{clusterv1.ClusterNameLabel: "c"}
			}
			management := fake.NewClientBuilder().WithScheme(scheme).WithObjects(config, cluster, data).Build()
			workload := fake.NewClientBuilder().WithScheme(scheme).WithObjects(tokenSecret()).Build()
			recorder := events.NewFakeRecorder(10)
			r := NewK0sWorkerConfigReconciler(ReconcilerOptions{
				Client: management, SecretCachingClient: management, Recorder: recorder,
				ClusterCache: clusterCacheStub{workload: workload}, TokenTTL: 15 * time.Minute,
			})

			_, err := r.reconcileDelete(t.Context(), config)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(recorder.Events).To(Receive(Equal(tc.wantEvent)))
			err = workload.Get(t.Context(), client.ObjectKeyFromObject(tokenSecret()), &corev1.Secret{})
			g.Expect(apierrors.IsNotFound(err)).To(Equal(tc.wantRevoked), "token revoked: %v", err)
			// Either way the config is let go.
			g.Expect(apierrors.IsNotFound(management.Get(t.Context(), client.ObjectKeyFromObject(config), &bootstrapv1.K0sWorkerConfig{}))).To(BeTrue())
		})
	}
}

// TestStaleReconcileCannotRecordASecondTokenID: the token ID is recorded
// under an optimistic lock, so a reconcile working on a copy older than the
// one that recorded a first ID gets a conflict instead of overwriting it.
func TestStaleReconcileCannotRecordASecondTokenID(t *testing.T) {
	g := NewWithT(t)
	scheme := testScheme(t)
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(&bootstrapv1.K0sWorkerConfig{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "w"}}).Build()
	stale := &bootstrapv1.K0sWorkerConfig{}
	g.Expect(c.Get(t.Context(), client.ObjectKey{Namespace: "ns", Name: "w"}, stale)).To(Succeed())

	r := NewK0sWorkerConfigReconciler(ReconcilerOptions{Client: c})
	record := func(config *bootstrapv1.K0sWorkerConfig, id string) error {
		p := r.newPatcher(config)
		config.Annotations = map[string]string{TokenIDAnnotation: id}
		return p.recordTokenID(t.Context(), config)
	}
	first := stale.DeepCopy()
	g.Expect(record(first, "aaaaaa")).To(Succeed())

	err := record(stale, "bbbbbb")
	g.Expect(apierrors.IsConflict(errors.Unwrap(err))).To(BeTrue(), "a stale copy must conflict, got %v", err)
	stored := &bootstrapv1.K0sWorkerConfig{}
	g.Expect(c.Get(t.Context(), client.ObjectKey{Namespace: "ns", Name: "w"}, stored)).To(Succeed())
	g.Expect(stored.Annotations).To(HaveKeyWithValue(TokenIDAnnotation, "aaaaaa"))

	// The cache-lag guard compares versions, not clocks.
	r = NewK0sWorkerConfigReconciler(ReconcilerOptions{})
	r.markWritten(stored)
	g.Expect(r.cacheBehindOwnWrite(stale)).To(BeTrue(), "an older copy is behind our own write")
	g.Expect(r.cacheBehindOwnWrite(stored)).To(BeFalse())
}

// TestDeletionWhenRevocationKeepsFailing: a reachable workload cluster that
// refuses the revocation holds the config for the grace period (with a
// warning each try), then lets it go with an event saying the token is
// left to expire.
func TestDeletionWhenRevocationKeepsFailing(t *testing.T) {
	scheme := testScheme(t)
	refuse := interceptor.Funcs{Delete: func(context.Context, client.WithWatch, client.Object, ...client.DeleteOption) error {
		return apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "bootstrap-token-abcdef", errors.New("not allowed"))
	}}
	for _, tc := range []struct {
		name      string
		deleted   time.Duration
		wantEvent string
		wantGone  bool
		// wantDeleting is what the Deleting condition says while the
		// config waits.
		wantDeleting string
	}{
		{"within the grace period", 10 * time.Second, "Warning JoinTokenRevocationFailed Cannot revoke join token abcdef yet", false,
			"Cannot revoke join token abcdef yet: revoking bootstrap token abcdef: secrets \"bootstrap-token-abcdef\" is forbidden: not allowed; retrying until "},
		{"after the grace period", 3 * time.Minute, "Warning JoinTokenNotRevoked Revoking join token abcdef failed for 2m0s", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			config := &bootstrapv1.K0sWorkerConfig{ObjectMeta: metav1.ObjectMeta{
				Namespace: "ns", Name: "worker", Labels: map[string]string{clusterv1.ClusterNameLabel: "c"},
				Annotations:       map[string]string{TokenIDAnnotation: "abcdef"},
				Finalizers:        []string{TokenFinalizer},
				DeletionTimestamp: &metav1.Time{Time: time.Now().Add(-tc.deleted)},
			}}
			config.SetDataSecret(config.Name)
			management := fake.NewClientBuilder().WithScheme(scheme).WithStatusSubresource(&bootstrapv1.K0sWorkerConfig{}).
				WithObjects(config, &clusterv1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c"}}).Build()
			workload := fake.NewClientBuilder().WithScheme(scheme).WithInterceptorFuncs(refuse).Build()
			recorder := events.NewFakeRecorder(10)
			r := NewK0sWorkerConfigReconciler(ReconcilerOptions{Client: management, SecretCachingClient: management, Recorder: recorder,
				ClusterCache: clusterCacheStub{workload: workload}, TokenTTL: 15 * time.Minute})

			_, err := r.reconcileDelete(t.Context(), config)
			g.Expect(err != nil).To(Equal(!tc.wantGone), "an error (and backoff) only while waiting: %v", err)
			g.Expect(recorder.Events).To(Receive(HavePrefix(tc.wantEvent)))
			stored := &bootstrapv1.K0sWorkerConfig{}
			err = management.Get(t.Context(), client.ObjectKeyFromObject(config), stored)
			g.Expect(apierrors.IsNotFound(err)).To(Equal(tc.wantGone))
			if tc.wantDeleting != "" {
				deleting := conditions.Get(stored, clusterv1.DeletingCondition)
				g.Expect(deleting).NotTo(BeNil(), "the wait is a condition, not only events")
				g.Expect(deleting.Status).To(Equal(metav1.ConditionTrue))
				g.Expect(deleting.Reason).To(Equal(clusterv1.DeletingReason))
				g.Expect(deleting.Message).To(HavePrefix(tc.wantDeleting))
				g.Expect(deleting.Message).To(HaveSuffix(", then the token is left to expire on its own"))
			}
		})
	}
}

// TestConflictLeavesNothingForTheClosingPatch: when recording a token ID
// conflicts, the config in memory is put back as it was, so the patch that
// closes every reconcile (no lock) cannot record the ID after all.
func TestConflictLeavesNothingForTheClosingPatch(t *testing.T) {
	g := NewWithT(t)
	scheme := testScheme(t)
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(&bootstrapv1.K0sWorkerConfig{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "w"}}).Build()
	stale := &bootstrapv1.K0sWorkerConfig{}
	g.Expect(c.Get(t.Context(), client.ObjectKey{Namespace: "ns", Name: "w"}, stale)).To(Succeed())
	// Another reconcile recorded a first ID meanwhile.
	fresh := stale.DeepCopy()
	fresh.Annotations = map[string]string{TokenIDAnnotation: "aaaaaa"}
	g.Expect(c.Update(t.Context(), fresh)).To(Succeed())

	r := NewK0sWorkerConfigReconciler(ReconcilerOptions{Client: c, TokenTTL: 15 * time.Minute})
	s := &scope{config: stale, owner: &configOwner{machine: &clusterv1.Machine{}}, patcher: r.newPatcher(stale)}
	token, err := jointoken.NewToken()
	g.Expect(err).NotTo(HaveOccurred())
	_, err = r.mint(t.Context(), s, fake.NewClientBuilder().WithScheme(scheme).Build(), token, false)
	g.Expect(err).To(MatchError(ContainSubstring("recording the join token ID")))
	g.Expect(stale.Annotations).NotTo(HaveKey(TokenIDAnnotation))
	g.Expect(stale.Finalizers).NotTo(ContainElement(TokenFinalizer))

	g.Expect(s.patcher.patch(t.Context(), stale, false)).To(Succeed(), "the closing patch")
	stored := &bootstrapv1.K0sWorkerConfig{}
	g.Expect(c.Get(t.Context(), client.ObjectKey{Namespace: "ns", Name: "w"}, stored)).To(Succeed())
	g.Expect(stored.Annotations).To(HaveKeyWithValue(TokenIDAnnotation, "aaaaaa"), "the first ID stands")
}

// TestDeletionOfAConfigWithoutDataWaitsForNothing: a config that never got
// data (its token ID reserved at creation, its token perhaps never made)
// handed no token to any machine. Its deletion revokes what it can at once
// and waits neither for a paused Cluster nor for a workload cluster that
// refuses, and reports no revocation it cannot vouch for.
func TestDeletionOfAConfigWithoutDataWaitsForNothing(t *testing.T) {
	scheme := testScheme(t)
	const id = "abcdef"
	refuse := interceptor.Funcs{Delete: func(context.Context, client.WithWatch, client.Object, ...client.DeleteOption) error {
		return apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "bootstrap-token-abcdef", errors.New("not allowed"))
	}}
	for _, tc := range []struct {
		name        string
		paused      bool
		refuse      bool
		wantRevoked bool
	}{
		{name: "reachable", wantRevoked: true},
		{name: "Cluster paused", paused: true},
		{name: "revocation refused", refuse: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			config := &bootstrapv1.K0sWorkerConfig{ObjectMeta: metav1.ObjectMeta{
				Namespace: "ns", Name: "worker", Labels: map[string]string{clusterv1.ClusterNameLabel: "c"},
				Annotations:       map[string]string{TokenIDAnnotation: id},
				Finalizers:        []string{TokenFinalizer},
				DeletionTimestamp: &metav1.Time{Time: time.Now()},
			}}
			cluster := &clusterv1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c"}}
			cluster.Spec.Paused = ptr.To(tc.paused)
			token := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceSystem, Name: jointoken.SecretName(id)}}
			management := fake.NewClientBuilder().WithScheme(scheme).WithObjects(config, cluster).Build()
			builder := fake.NewClientBuilder().WithScheme(scheme).WithObjects(token)
			if tc.refuse {
				builder = builder.WithInterceptorFuncs(refuse)
			}
			workload := builder.Build()
			recorder := events.NewFakeRecorder(10)
			r := NewK0sWorkerConfigReconciler(ReconcilerOptions{Client: management, SecretCachingClient: management, Recorder: recorder,
				ClusterCache: clusterCacheStub{workload: workload}, TokenTTL: 15 * time.Minute})

			res, err := r.reconcileDelete(t.Context(), config)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(res.RequeueAfter).To(BeZero())
			g.Expect(recorder.Events).NotTo(Receive(), "no revocation is reported")
			g.Expect(apierrors.IsNotFound(management.Get(t.Context(), client.ObjectKeyFromObject(config), &bootstrapv1.K0sWorkerConfig{}))).To(BeTrue(), "the config is let go")
			err = workload.Get(t.Context(), client.ObjectKeyFromObject(token), &corev1.Secret{})
			g.Expect(apierrors.IsNotFound(err)).To(Equal(tc.wantRevoked), "token revoked: %v", err)
		})
	}
}

// testScheme knows the kinds the fake clients of these tests hold.
func testScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clusterv1.AddToScheme, bootstrapv1.AddToScheme, corev1.AddToScheme} {
		NewWithT(t).Expect(add(scheme)).To(Succeed())
	}
	return scheme
}
