package manager

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
