package webhooks

import (
	"encoding/json"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
)

// TestUpdatesThatLeaveTheSpecAreNotValidated: a config stored under older,
// looser rules can still have its metadata changed (the controller's token
// ID and finalizer) and be deleted; a change of its spec is validated.
func TestUpdatesThatLeaveTheSpecAreNotValidated(t *testing.T) {
	g := NewWithT(t)
	v := specValidator[*bootstrapv1.K0sWorkerConfig]{kind: "K0sWorkerConfig", validate: ValidateConfig,
		sameSpec: func(old, obj *bootstrapv1.K0sWorkerConfig) bool {
			return equality.Semantic.DeepEqual(old.Spec, obj.Spec)
		}}
	stored := &bootstrapv1.K0sWorkerConfig{ObjectMeta: metav1.ObjectMeta{Name: "old"}}
	stored.Spec.Files = []bootstrapv1.File{{Path: "/etc//motd", Content: "admitted before paths had to be clean"}}

	changed := stored.DeepCopy()
	changed.Spec.Files[0].Content = "changed"
	_, err := v.ValidateUpdate(t.Context(), stored, changed)
	g.Expect(err).To(MatchError(ContainSubstring("spec.files[0].path")), "a changed spec is validated")

	metadataOnly := stored.DeepCopy()
	metadataOnly.Finalizers = []string{"k0sworkerconfig.bootstrap.cluster.x-k8s.io/join-token"}
	_, err = v.ValidateUpdate(t.Context(), stored, metadataOnly)
	g.Expect(err).NotTo(HaveOccurred())

	deleting := changed.DeepCopy()
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	_, err = v.ValidateUpdate(t.Context(), stored, deleting)
	g.Expect(err).NotTo(HaveOccurred())
}

// TestReservationOnlyForConfigsInScope: a manager reconciling one
// namespace, or configs with its watch-filter label, reserves tokens only
// for those: another manager's configs get their ID from that manager,
// and nobody's config gets no finalizer that nobody would remove.
func TestReservationOnlyForConfigsInScope(t *testing.T) {
	request := func(namespace string, labels map[string]string) admission.Request {
		raw, err := json.Marshal(&bootstrapv1.K0sWorkerConfig{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "c", Labels: labels}})
		if err != nil {
			t.Fatal(err)
		}
		return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
			Operation: admissionv1.Create, Namespace: namespace, Object: runtime.RawExtension{Raw: raw},
		}}
	}
	filtered := map[string]string{clusterv1.WatchLabel: "team-a"}
	for _, tc := range []struct {
		name    string
		scope   Scope
		req     admission.Request
		reserve bool
	}{
		{"no scope", Scope{}, request("ns", nil), true},
		{"watched namespace", Scope{Namespace: "ns"}, request("ns", nil), true},
		{"another namespace", Scope{Namespace: "other"}, request("ns", nil), false},
		{"watch filter matches", Scope{WatchFilterValue: "team-a"}, request("ns", filtered), true},
		{"watch filter unlabelled", Scope{WatchFilterValue: "team-a"}, request("ns", nil), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			res := tokenReservation{scope: tc.scope, finalizer: bootstrapv1.WorkerJoinTokenFinalizer}.Handle(t.Context(), tc.req)
			g.Expect(res.Allowed).To(BeTrue())
			if !tc.reserve {
				g.Expect(res.Patches).To(BeEmpty())
				return
			}
			paths := []string{}
			for _, p := range res.Patches {
				paths = append(paths, p.Path)
			}
			g.Expect(paths).To(ConsistOf("/metadata/annotations", "/metadata/finalizers"))
		})
	}
}
