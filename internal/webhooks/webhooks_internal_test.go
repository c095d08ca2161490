package webhooks

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
