package jointoken_test

import (
	"crypto/subtle"
	"errors"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/clientcmd"
	bootstrapsecretutil "k8s.io/cluster-bootstrap/util/secrets"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/cabpk0s/cabpk0s/internal/jointoken"
)

// k0sJoinAPIAccepts is the k0s join API's check of a controller's bearer
// (cmd/api: the Secret bootstrap-token-<id> is read, its secret compared,
// and the token must be meant for controller joins; releases after v1.33
// also refuse an expired one and accept either usage key).
func k0sJoinAPIAccepts(s *corev1.Secret, id, secret string, at time.Time, newK0s bool) error {
	if s.Name != "bootstrap-token-"+id {
		return errors.New("no such token")
	}
	if subtle.ConstantTimeCompare([]byte(bootstrapsecretutil.GetData(s, "token-secret")), []byte(secret)) != 1 {
		return errors.New("token-secret does not match")
	}
	if !newK0s {
		if bootstrapsecretutil.GetData(s, "usage-controller-join") != "true" {
			return errors.New("not a controller token")
		}
		return nil
	}
	if bootstrapsecretutil.HasExpired(s, at) {
		return errors.New("expired")
	}
	if bootstrapsecretutil.GetData(s, "usage-bootstrap-controller-join") != "true" && bootstrapsecretutil.GetData(s, "usage-controller-join") != "true" {
		return errors.New("not a controller token")
	}
	return nil
}

func TestCreateWritesTheSecretK0sWritesForControllerTokens(t *testing.T) {
	g := NewWithT(t)
	c := newWorkload(interceptor.Funcs{})

	token, err := jointoken.Controller.Create(t.Context(), c, "abcdef", "a description", ttl, now)
	g.Expect(err).NotTo(HaveOccurred())

	s := stored(t, c, "abcdef")
	g.Expect(s.Type).To(Equal(corev1.SecretType("bootstrap.kubernetes.io/token")))
	g.Expect(s.Data).To(Equal(map[string][]byte{
		"token-id":                        []byte("abcdef"),
		"token-secret":                    []byte(token.Secret),
		"expiration":                      []byte("2030-01-02T02:19:05Z"),
		"description":                     []byte("a description"),
		"usage-bootstrap-authentication":  []byte("false"),
		"usage-bootstrap-signing":         []byte("false"),
		"usage-bootstrap-api-auth":        []byte("true"),
		"usage-controller-join":           []byte("true"),
		"usage-bootstrap-controller-join": []byte("true"),
	}))

	// The k0s join API takes it, old k0s and new; the API server does not:
	// a controller's token is no Kubernetes credential.
	for _, newK0s := range []bool{false, true} {
		g.Expect(k0sJoinAPIAccepts(s, "abcdef", token.Secret, now, newK0s)).To(Succeed())
		g.Expect(k0sJoinAPIAccepts(s, "abcdef", "0000000000000000", now, newK0s)).To(MatchError("token-secret does not match"))
	}
	g.Expect(k0sJoinAPIAccepts(s, "abcdef", token.Secret, token.Expiration.Add(time.Second), true)).To(MatchError("expired"))
	g.Expect(authenticates(s, "abcdef", token.Secret, now)).To(MatchError("not usable for authentication"))

	// A worker token is not a controller's, and the other way round.
	worker, err := jointoken.Worker.Create(t.Context(), c, "workrr", "a description", ttl, now)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(k0sJoinAPIAccepts(stored(t, c, "workrr"), "workrr", worker.Secret, now, true)).To(MatchError("not a controller token"))
	_, err = jointoken.Controller.GetOwn(t.Context(), c, "workrr", "a description")
	g.Expect(err).To(MatchError(jointoken.ErrNotOurs))
	_, err = jointoken.Worker.GetOwn(t.Context(), c, "abcdef", "a description")
	g.Expect(err).To(MatchError(jointoken.ErrNotOurs))
	own, err := jointoken.Controller.GetOwn(t.Context(), c, "abcdef", "a description")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(own.Secret).To(Equal(token.Secret))
}

func TestEncodeControllerTokenIsWhatK0sTokenCreateWrites(t *testing.T) {
	g := NewWithT(t)
	const joinAPI = "https://cp.example.com:9443"
	token, err := jointoken.Controller.Encode(joinAPI, []byte(testCA), testToken)
	g.Expect(err).NotTo(HaveOccurred())

	config, err := clientcmd.Load(decodeLikeK0s(t, token))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(config.CurrentContext).To(Equal("k0s"))
	g.Expect(config.Contexts).To(HaveLen(1))
	// k0s controller refuses a token whose user is not controller-bootstrap
	// ("wrong token type").
	g.Expect(config.Contexts["k0s"].AuthInfo).To(Equal("controller-bootstrap"))
	g.Expect(config.Clusters["k0s"].Server).To(Equal(joinAPI))
	g.Expect(string(config.Clusters["k0s"].CertificateAuthorityData)).To(Equal(testCA))
	g.Expect(config.AuthInfos).To(HaveLen(1))
	g.Expect(config.AuthInfos["controller-bootstrap"].Token).To(Equal(testToken.Bearer()))

	read, err := jointoken.Controller.FromJoinToken(token)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(read.Bearer()).To(Equal(testToken.Bearer()))
	_, err = jointoken.Worker.FromJoinToken(token)
	g.Expect(err).To(MatchError(ContainSubstring("not a worker token")))
}
