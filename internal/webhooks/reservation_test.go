package webhooks_test

import (
	"regexp"
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bootstrapv1beta1 "github.com/cabpk0s/cabpk0s/api/v1beta1"
	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
)

var tokenID = regexp.MustCompile(`^[a-z0-9]{6}$`)

// TestConfigsAreCreatedWithAJoinTokenReservation: every config the API
// server stores, whatever version the client spoke, has a token ID of its
// own and the finalizer of its kind, so the controller needs no write of
// its own before it creates the token.
func TestConfigsAreCreatedWithAJoinTokenReservation(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	ns := createNamespace(t, "reservation")

	worker := &bootstrapv1.K0sWorkerConfig{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "worker"}}
	other := &bootstrapv1.K0sWorkerConfig{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "other"}}
	controller := &bootstrapv1.K0sControllerConfig{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "controller"}}
	old := &bootstrapv1beta1.K0sWorkerConfig{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "v1beta1"}}
	for _, o := range []client.Object{worker, other, controller, old} {
		g.Expect(env.Client.Create(ctx, o)).To(Succeed())
	}
	ids := map[string]bool{}
	for _, o := range []client.Object{worker, other, controller, old} {
		id := o.GetAnnotations()[bootstrapv1.JoinTokenIDAnnotation]
		g.Expect(id).To(MatchRegexp(tokenID.String()), o.GetName())
		ids[id] = true
	}
	g.Expect(ids).To(HaveLen(4), "each config reserves an ID of its own")
	g.Expect(worker.Finalizers).To(ConsistOf(bootstrapv1.WorkerJoinTokenFinalizer))
	g.Expect(old.Finalizers).To(ConsistOf(bootstrapv1.WorkerJoinTokenFinalizer))
	g.Expect(controller.Finalizers).To(ConsistOf(bootstrapv1.ControllerJoinTokenFinalizer))

	// The spec is stored as sent: the webhook patches metadata only.
	stored := &unstructured.Unstructured{}
	stored.SetGroupVersionKind(bootstrapv1.GroupVersion.WithKind("K0sWorkerConfig"))
	g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(worker), stored)).To(Succeed())
	_, hasSpec := stored.Object["spec"]
	g.Expect(hasSpec).To(BeFalse(), "an empty spec stays absent")
}

// TestAReservationKeepsWhatTheConfigBrings: a config created with a token
// ID (by `clusterctl move`, a restore) keeps it, and metadata the client
// set is left as it was.
func TestAReservationKeepsWhatTheConfigBrings(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	ns := createNamespace(t, "reservation-kept")

	moved := &bootstrapv1.K0sWorkerConfig{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "moved",
		Annotations: map[string]string{bootstrapv1.JoinTokenIDAnnotation: "abc123", "note": "kept"},
		Finalizers:  []string{"example.com/other"},
	}}
	g.Expect(env.Client.Create(ctx, moved)).To(Succeed())
	g.Expect(moved.Annotations).To(Equal(map[string]string{bootstrapv1.JoinTokenIDAnnotation: "abc123", "note": "kept"}))
	g.Expect(moved.Finalizers).To(Equal([]string{"example.com/other", bootstrapv1.WorkerJoinTokenFinalizer}))

	empty := &bootstrapv1.K0sWorkerConfig{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "empty",
		Annotations: map[string]string{bootstrapv1.JoinTokenIDAnnotation: ""},
		Finalizers:  []string{bootstrapv1.WorkerJoinTokenFinalizer},
	}}
	g.Expect(env.Client.Create(ctx, empty)).To(Succeed())
	g.Expect(empty.Annotations[bootstrapv1.JoinTokenIDAnnotation]).To(MatchRegexp(tokenID.String()), "an empty ID is no ID")
	g.Expect(empty.Finalizers).To(Equal([]string{bootstrapv1.WorkerJoinTokenFinalizer}), "the finalizer is not doubled")

	// Only creates are mutated: the controller drops both once the token
	// is revoked, and they stay dropped.
	patch := client.MergeFrom(moved.DeepCopy())
	moved.Annotations = nil
	moved.Finalizers = nil
	g.Expect(env.Client.Patch(ctx, moved, patch)).To(Succeed())
	g.Expect(moved.Annotations).To(BeEmpty())
	g.Expect(moved.Finalizers).To(BeEmpty())
}

// TestAMalformedTokenIDIsRefused: an ID that is no bootstrap token ID
// would fail every token create later; admission says so at once.
func TestAMalformedTokenIDIsRefused(t *testing.T) {
	g := NewWithT(t)
	ns := createNamespace(t, "reservation-bad")
	bad := &bootstrapv1.K0sWorkerConfig{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bad",
		Annotations: map[string]string{bootstrapv1.JoinTokenIDAnnotation: "ABC.123"}}}
	err := env.Client.Create(t.Context(), bad)
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%v", err)
	g.Expect(err.Error()).To(ContainSubstring(bootstrapv1.JoinTokenIDAnnotation))
	g.Expect(err.Error()).To(ContainSubstring("6 lowercase letters or digits"))
}

// TestServerSideApplyKeepsTheReservation: fields a mutating webhook adds
// are owned by the applier's field manager, and an apply that leaves out
// fields its manager owns removes them. A GitOps tool that applies a
// standalone config again (a changed spec) must not strip the token ID
// and finalizer.
func TestServerSideApplyKeepsTheReservation(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	ns := createNamespace(t, "reservation-ssa")

	apply := func(version string) *bootstrapv1.K0sWorkerConfig {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": bootstrapv1.GroupVersion.String(), "kind": "K0sWorkerConfig",
			"metadata": map[string]any{"namespace": ns, "name": "applied"},
			"spec":     map[string]any{"version": version},
		}}
		g.Expect(env.Client.Patch(ctx, u, client.Apply, client.FieldOwner("gitops"), client.ForceOwnership)).To(Succeed()) //nolint:staticcheck // an apply patch of an unstructured object is what a GitOps tool sends
		config := &bootstrapv1.K0sWorkerConfig{}
		g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(u), config)).To(Succeed())
		return config
	}
	first := apply("v1.33.1+k0s.0")
	id := first.Annotations[bootstrapv1.JoinTokenIDAnnotation]
	g.Expect(id).To(MatchRegexp(tokenID.String()))
	second := apply("v1.33.2+k0s.0")
	g.Expect(second.Spec.Version).To(Equal("v1.33.2+k0s.0"))
	g.Expect(second.Annotations).To(HaveKeyWithValue(bootstrapv1.JoinTokenIDAnnotation, id))
	g.Expect(second.Finalizers).To(ContainElement(bootstrapv1.WorkerJoinTokenFinalizer))
}
