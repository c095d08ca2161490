package jointoken_test

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/cabpk0s/cabpk0s/internal/jointoken"
)

// TestCacheKeepsNoSecretHalf: what the token cache stores of a
// bootstrap-token Secret is its name, ID and expiration; the secret half,
// the description, labels and annotations never reach memory, and Lookup
// reads the state back from what is left.
func TestCacheKeepsNoSecretHalf(t *testing.T) {
	g := NewWithT(t)
	expires := now.Add(ttl).UTC().Truncate(time.Second)
	full := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: metav1.NamespaceSystem, Name: jointoken.SecretName("abcdef"), ResourceVersion: "7",
			Labels: map[string]string{"a": "b"}, Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{...0123456789abcdef...}"},
		},
		Type: bootstrapapi.SecretTypeBootstrapToken,
		Data: map[string][]byte{
			bootstrapapi.BootstrapTokenIDKey:               []byte("abcdef"),
			bootstrapapi.BootstrapTokenSecretKey:           []byte("0123456789abcdef"),
			bootstrapapi.BootstrapTokenExpirationKey:       []byte(expires.Format(time.RFC3339)),
			bootstrapapi.BootstrapTokenDescriptionKey:      []byte("k0s worker join token"),
			bootstrapapi.BootstrapTokenUsageAuthentication: []byte("true"),
		},
	}
	out, err := jointoken.StripForCache(full)
	g.Expect(err).NotTo(HaveOccurred())
	stripped := out.(*corev1.Secret)
	g.Expect(stripped.Data).To(HaveLen(2))
	g.Expect(stripped.Data).To(HaveKey(bootstrapapi.BootstrapTokenIDKey))
	g.Expect(stripped.Data).To(HaveKey(bootstrapapi.BootstrapTokenExpirationKey))
	g.Expect(stripped.Labels).To(BeEmpty())
	g.Expect(stripped.Annotations).To(BeEmpty())
	g.Expect(stripped.ResourceVersion).To(Equal("7"), "the informer compares versions")
	g.Expect(full.Data).To(HaveKey(bootstrapapi.BootstrapTokenSecretKey), "the object given is not changed")

	cached := fake.NewClientBuilder().WithObjects(stripped).Build()
	token, err := jointoken.Lookup(t.Context(), cached, "abcdef")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(token.ID).To(Equal("abcdef"))
	g.Expect(token.Secret).To(BeEmpty())
	g.Expect(token.Expiration.Equal(expires)).To(BeTrue(), "expiration %s, want %s", token.Expiration, expires)

	_, err = jointoken.Lookup(t.Context(), cached, "zzzzzz")
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "a token not in the cache is not found: %v", err)

	other := stripped.DeepCopy()
	other.Name, other.ResourceVersion = jointoken.SecretName("ghijkl"), ""
	other.Data[bootstrapapi.BootstrapTokenExpirationKey] = []byte("tomorrow")
	other.Data[bootstrapapi.BootstrapTokenIDKey] = []byte("ghijkl")
	_, err = jointoken.Lookup(t.Context(), fake.NewClientBuilder().WithObjects(other).Build(), "ghijkl")
	g.Expect(err).To(MatchError(ContainSubstring("unreadable expiration")))
	g.Expect(err.Error()).NotTo(ContainSubstring("tomorrow"), "the message says what is wrong, not what the Secret holds")
}
