package manager

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
)

// TestCacheKeepsOnlyCACertificates: the cache holds a cluster CA's
// certificate, never its key, and no other Secret's data but kubeconfigs.
func TestCacheKeepsOnlyCACertificates(t *testing.T) {
	g := NewWithT(t)
	opts := CacheOptions(NewScheme(), "options-test", "", time.Minute)
	var transformFunc func(any) (any, error)
	for obj, b := range opts.ByObject {
		if _, isSecret := obj.(*corev1.Secret); isSecret {
			transformFunc = b.Transform
		}
	}
	g.Expect(transformFunc).NotTo(BeNil(), "Secrets have a cache transform")

	transform := func(name string) map[string][]byte {
		out, err := transformFunc(&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Data:       map[string][]byte{"tls.crt": []byte("cert"), "tls.key": []byte("key"), "value": []byte("kubeconfig")},
		})
		g.Expect(err).NotTo(HaveOccurred())
		return out.(*corev1.Secret).Data
	}
	g.Expect(transform("prod-ca")).To(Equal(map[string][]byte{"tls.crt": []byte("cert")}))
	g.Expect(transform("prod-kubeconfig")).To(HaveKey("value"))
	g.Expect(transform("worker-0")).To(BeEmpty())
	g.Expect(transform("prod-etcd")).To(BeEmpty())
}

// TestCacheDropsManagedFields: configs and Machines reach the cache without
// their managed fields (every writer adds an entry; nothing here reads
// them), Secrets still through their own transform.
func TestCacheDropsManagedFields(t *testing.T) {
	g := NewWithT(t)
	opts := CacheOptions(NewScheme(), "options-test-managed-fields", "", time.Minute)
	g.Expect(opts.DefaultTransform).NotTo(BeNil())
	managed := []metav1.ManagedFieldsEntry{{Manager: "capi-machineset", Operation: metav1.ManagedFieldsOperationApply}}
	for _, obj := range []metav1.Object{
		&bootstrapv1.K0sWorkerConfig{ObjectMeta: metav1.ObjectMeta{Name: "w", ManagedFields: managed}},
		&clusterv1.Machine{ObjectMeta: metav1.ObjectMeta{Name: "m", ManagedFields: managed}},
	} {
		out, err := opts.DefaultTransform(obj)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(out.(metav1.Object).GetManagedFields()).To(BeEmpty())
		g.Expect(out.(metav1.Object).GetName()).To(Equal(obj.GetName()))
	}
}
