package webhooks

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
)

// TestDeletePathUpdatesAreNotValidated: removing the finalizer of a config
// stored under older, looser rules must not be refused by today's, or the
// config could never be deleted. Other updates are validated.
func TestDeletePathUpdatesAreNotValidated(t *testing.T) {
	g := NewWithT(t)
	v := specValidator[*bootstrapv1.K0sWorkerConfig]{kind: "K0sWorkerConfig", validate: validateConfig}
	config := &bootstrapv1.K0sWorkerConfig{ObjectMeta: metav1.ObjectMeta{Name: "old"}}
	config.Spec.Files = []bootstrapv1.File{{Path: "/etc//motd", Content: "admitted before paths had to be clean"}}

	_, err := v.ValidateUpdate(t.Context(), config, config)
	g.Expect(err).To(MatchError(ContainSubstring("spec.files[0].path")), "a live object is validated")

	deleting := config.DeepCopy()
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	_, err = v.ValidateUpdate(t.Context(), config, deleting)
	g.Expect(err).NotTo(HaveOccurred())
}
