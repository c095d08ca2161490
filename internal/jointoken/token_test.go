package jointoken_test

import (
	"context"
	"crypto/subtle"
	"errors"
	"regexp"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	bootstrapsecretutil "k8s.io/cluster-bootstrap/util/secrets"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/cabpk0s/cabpk0s/internal/jointoken"
)

// The format kube-apiserver's bootstrap-token authenticator accepts.
var (
	idFormat     = regexp.MustCompile(`^[a-z0-9]{6}$`)
	secretFormat = regexp.MustCompile(`^[a-z0-9]{16}$`)
)

// now is deliberately not UTC and not on a whole second: expirations are
// written in UTC, to the second.
var now = time.Date(2030, 1, 2, 3, 4, 5, 600_000_000, time.FixedZone("CET", 3600))

const ttl = 15 * time.Minute

// newWorkload is a workload cluster's API as a fake client. The fake stores
// a Secret's stringData as given; kube-apiserver merges it into data on
// write (and drops it), and data is what a later read returns. The
// interceptor does that merge, so reads answer as the API server's would.
// funcs may intercept more.
func newWorkload(funcs interceptor.Funcs, objs ...client.Object) client.Client {
	create := funcs.Create
	funcs.Create = func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
		if s, ok := obj.(*corev1.Secret); ok && len(s.StringData) > 0 {
			if s.Data == nil {
				s.Data = map[string][]byte{}
			}
			for k, v := range s.StringData {
				s.Data[k] = []byte(v)
			}
			s.StringData = nil
		}
		if create != nil {
			return create(ctx, c, obj, opts...)
		}
		return c.Create(ctx, obj, opts...)
	}
	return fake.NewClientBuilder().WithObjects(objs...).WithInterceptorFuncs(funcs).Build()
}

// tokenSecret is a bootstrap-token Secret as the API server stores it.
// An empty expiration leaves the key out.
func tokenSecret(id, secret, expiration string) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "bootstrap-token-" + id},
		Type:       "bootstrap.kubernetes.io/token",
		Data: map[string][]byte{
			"token-id":                         []byte(id),
			"token-secret":                     []byte(secret),
			"usage-bootstrap-authentication":   []byte("true"),
			"usage-bootstrap-api-auth":         []byte("true"),
			"usage-bootstrap-api-worker-calls": []byte("true"),
			"description":                      []byte("seeded"),
		},
	}
	if expiration != "" {
		s.Data["expiration"] = []byte(expiration)
	}
	return s
}

func stored(t *testing.T, c client.Client, id string) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{}
	NewWithT(t).Expect(c.Get(t.Context(), client.ObjectKey{Namespace: "kube-system", Name: "bootstrap-token-" + id}, s)).To(Succeed())
	return s
}

// authenticates is kube-apiserver's bootstrap-token authenticator
// (plugin/pkg/auth/authenticator/token/bootstrap) reduced to its checks on
// the Secret: would bearer "<id>.<secret>" log in at time at?
func authenticates(s *corev1.Secret, id, secret string, at time.Time) error {
	switch {
	case s.Type != "bootstrap.kubernetes.io/token":
		return errors.New("wrong Secret type")
	case s.Namespace != "kube-system":
		return errors.New("not in kube-system")
	}
	if nameID, ok := bootstrapsecretutil.ParseName(s.Name); !ok || nameID != id {
		return errors.New("Secret name does not carry the token ID")
	}
	if bootstrapsecretutil.GetData(s, "token-id") != id {
		return errors.New("token-id does not match")
	}
	if subtle.ConstantTimeCompare([]byte(bootstrapsecretutil.GetData(s, "token-secret")), []byte(secret)) != 1 {
		return errors.New("token-secret does not match")
	}
	if bootstrapsecretutil.HasExpired(s, at) {
		return errors.New("expired")
	}
	if bootstrapsecretutil.GetData(s, "usage-bootstrap-authentication") != "true" {
		return errors.New("not usable for authentication")
	}
	_, err := bootstrapsecretutil.GetGroups(s)
	return err
}

func TestNewTokenIsABootstrapToken(t *testing.T) {
	g := NewWithT(t)
	seen := map[string]bool{}
	for range 200 {
		token, err := jointoken.NewToken()
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(token.ID).To(MatchRegexp(idFormat.String()))
		g.Expect(token.Secret).To(MatchRegexp(secretFormat.String()))
		g.Expect(token.Expiration.IsZero()).To(BeTrue(), "it exists nowhere yet")
		g.Expect(seen).NotTo(HaveKey(token.ID), "IDs are random")
		g.Expect(seen).NotTo(HaveKey(token.Secret), "secrets are random")
		seen[token.ID], seen[token.Secret] = true, true
	}
}

func TestSecretName(t *testing.T) {
	NewWithT(t).Expect(jointoken.SecretName("abcdef")).To(Equal("bootstrap-token-abcdef"))
}

func TestCreateWritesTheSecretK0sWritesForWorkerTokens(t *testing.T) {
	g := NewWithT(t)
	c := newWorkload(interceptor.Funcs{})
	fresh, err := jointoken.NewToken()
	g.Expect(err).NotTo(HaveOccurred())
	id := fresh.ID

	token, err := jointoken.Worker.Create(t.Context(), c, id, "a description", ttl, now)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(token.ID).To(Equal(id))
	g.Expect(token.Secret).To(MatchRegexp(secretFormat.String()))
	g.Expect(token.Bearer()).To(Equal(id + "." + token.Secret))
	g.Expect(token.Expiration).To(BeTemporally("==", time.Date(2030, 1, 2, 2, 19, 5, 0, time.UTC)))

	s := stored(t, c, id)
	g.Expect(s.Name).To(Equal("bootstrap-token-" + id))
	g.Expect(s.Namespace).To(Equal("kube-system"))
	g.Expect(s.Type).To(Equal(corev1.SecretType("bootstrap.kubernetes.io/token")))
	g.Expect(s.Data).To(Equal(map[string][]byte{
		"token-id":                         []byte(id),
		"token-secret":                     []byte(token.Secret),
		"expiration":                       []byte("2030-01-02T02:19:05Z"),
		"description":                      []byte("a description"),
		"usage-bootstrap-authentication":   []byte("true"),
		"usage-bootstrap-api-auth":         []byte("true"),
		"usage-bootstrap-api-worker-calls": []byte("true"),
	}))

	// The API server takes the bearer until the expiration, and not after.
	g.Expect(authenticates(s, id, token.Secret, now)).To(Succeed())
	g.Expect(authenticates(s, id, token.Secret, token.Expiration.Add(-time.Second))).To(Succeed())
	g.Expect(authenticates(s, id, token.Secret, token.Expiration.Add(time.Second))).To(MatchError("expired"))

	// What Create returned is what a later read finds.
	read, err := jointoken.Get(t.Context(), c, id)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(read.ID).To(Equal(token.ID))
	g.Expect(read.Secret).To(Equal(token.Secret))
	g.Expect(read.Expiration).To(BeTemporally("==", token.Expiration))
}

func TestCreateMintsAFreshSecretEachTime(t *testing.T) {
	g := NewWithT(t)
	c := newWorkload(interceptor.Funcs{})
	a, err := jointoken.Worker.Create(t.Context(), c, "aaaaaa", "", ttl, now)
	g.Expect(err).NotTo(HaveOccurred())
	b, err := jointoken.Worker.Create(t.Context(), c, "bbbbbb", "", ttl, now)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(a.Secret).NotTo(Equal(b.Secret))
}

// A retry of a create whose response was lost finds its token already
// there: it gets that token back, and the Secret is left as it was.
func TestCreateReturnsTheTokenThatAlreadyExists(t *testing.T) {
	g := NewWithT(t)
	existing := tokenSecret("abcdef", "existingsecret00", "2030-01-02T02:10:00Z")
	c := newWorkload(interceptor.Funcs{}, existing.DeepCopy())

	token, err := jointoken.Worker.Create(t.Context(), c, "abcdef", "seeded", ttl, now)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(token.ID).To(Equal("abcdef"))
	g.Expect(token.Secret).To(Equal("existingsecret00"))
	g.Expect(token.Expiration).To(BeTemporally("==", time.Date(2030, 1, 2, 2, 10, 0, 0, time.UTC)))
	g.Expect(stored(t, c, "abcdef").Data).To(Equal(existing.Data))

	var all corev1.SecretList
	g.Expect(c.List(t.Context(), &all)).To(Succeed())
	g.Expect(all.Items).To(HaveLen(1))
}

func TestCreateReportsAnUnreadableExistingToken(t *testing.T) {
	g := NewWithT(t)
	c := newWorkload(interceptor.Funcs{}, tokenSecret("abcdef", "existingsecret00", "tomorrow"))
	_, err := jointoken.Worker.Create(t.Context(), c, "abcdef", "seeded", ttl, now)
	g.Expect(err).To(MatchError(ContainSubstring("invalid expiration")))
}

// A token of the same ID that another writer made (another description,
// type or usages) is not taken for the retry's own.
func TestCreateRefusesATokenItDidNotWrite(t *testing.T) {
	for name, change := range map[string]func(*corev1.Secret){
		"another description": func(s *corev1.Secret) { s.Data["description"] = []byte("someone else's") },
		"another type":        func(s *corev1.Secret) { s.Type = corev1.SecretTypeOpaque },
		"no worker usage":     func(s *corev1.Secret) { delete(s.Data, "usage-bootstrap-api-worker-calls") },
		"usage not true":      func(s *corev1.Secret) { s.Data["usage-bootstrap-authentication"] = []byte("false") },
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			foreign := tokenSecret("abcdef", "foreignsecret000", "2030-01-02T02:10:00Z")
			change(foreign)
			c := newWorkload(interceptor.Funcs{}, foreign.DeepCopy())
			_, err := jointoken.Worker.Create(t.Context(), c, "abcdef", "seeded", ttl, now)
			g.Expect(err).To(MatchError(ContainSubstring("exists but was not created by cabpk0s for this config")))
			g.Expect(errors.Is(err, jointoken.ErrNotOurs)).To(BeTrue())
			g.Expect(err.Error()).NotTo(ContainSubstring("foreignsecret000"))
			g.Expect(stored(t, c, "abcdef").Data).To(Equal(foreign.Data), "left as it is")
		})
	}
}

// A failed create says why, keeps the API error inspectable, and does not
// leak the secret it tried to write.
func TestCreateErrorKeepsTheCauseAndNotTheSecret(t *testing.T) {
	g := NewWithT(t)
	var attempted string
	c := newWorkload(interceptor.Funcs{Create: func(_ context.Context, _ client.WithWatch, obj client.Object, _ ...client.CreateOption) error {
		attempted = string(obj.(*corev1.Secret).Data["token-secret"])
		return apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, obj.GetName(), errors.New("no"))
	}})

	_, err := jointoken.Worker.Create(t.Context(), c, "abcdef", "", ttl, now)
	g.Expect(err).To(HaveOccurred())
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), err.Error())
	g.Expect(err.Error()).To(ContainSubstring("abcdef"))
	g.Expect(attempted).To(MatchRegexp(secretFormat.String()))
	g.Expect(err.Error()).NotTo(ContainSubstring(attempted))
}

func TestGetParsesTheExpiration(t *testing.T) {
	for name, tc := range map[string]struct {
		expiration string
		want       time.Time
		wantErr    bool
	}{
		"RFC3339 UTC":         {expiration: "2030-01-02T02:19:05Z", want: time.Date(2030, 1, 2, 2, 19, 5, 0, time.UTC)},
		"RFC3339 with offset": {expiration: "2030-01-02T04:19:05+02:00", want: time.Date(2030, 1, 2, 2, 19, 5, 0, time.UTC)},
		"missing: never":      {expiration: ""},
		"not a time":          {expiration: "tomorrow", wantErr: true},
		"no zone":             {expiration: "2030-01-02T02:19:05", wantErr: true},
		"date only":           {expiration: "2030-01-02", wantErr: true},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			c := newWorkload(interceptor.Funcs{}, tokenSecret("abcdef", "secretsecret0000", tc.expiration))
			token, err := jointoken.Get(t.Context(), c, "abcdef")
			if tc.wantErr {
				g.Expect(err).To(MatchError(ContainSubstring("kube-system/bootstrap-token-abcdef has an invalid expiration")))
				g.Expect(err.Error()).NotTo(ContainSubstring("secretsecret0000"))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(token.ID).To(Equal("abcdef"))
			g.Expect(token.Secret).To(Equal("secretsecret0000"))
			if tc.want.IsZero() {
				g.Expect(token.Expiration.IsZero()).To(BeTrue(), token.Expiration.String())
			} else {
				g.Expect(token.Expiration).To(BeTemporally("==", tc.want))
			}
		})
	}
}

func TestGetRejectsASecretWithoutTheToken(t *testing.T) {
	for name, key := range map[string]string{"no token-id": "token-id", "no token-secret": "token-secret"} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			s := tokenSecret("abcdef", "secretsecret0000", "")
			delete(s.Data, key)
			c := newWorkload(interceptor.Funcs{}, s)
			_, err := jointoken.Get(t.Context(), c, "abcdef")
			g.Expect(err).To(MatchError(ContainSubstring("has no token-id or token-secret")))
			g.Expect(err.Error()).NotTo(ContainSubstring("secretsecret0000"))
		})
	}
}

func TestGetOfAMissingTokenIsNotFound(t *testing.T) {
	g := NewWithT(t)
	_, err := jointoken.Get(t.Context(), newWorkload(interceptor.Funcs{}), "abcdef")
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%v", err)
}

// countPatches intercepts patches and counts them.
func countPatches(n *int) interceptor.Funcs {
	return interceptor.Funcs{Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
		*n++
		return c.Patch(ctx, obj, patch, opts...)
	}}
}

func TestExtendOnlyBelowTheRefreshThreshold(t *testing.T) {
	const refreshBelow = 10 * time.Minute
	extended := time.Date(2030, 1, 2, 2, 19, 5, 0, time.UTC) // now + ttl, to the second
	for name, tc := range map[string]struct {
		remaining time.Duration
		never     bool
		extends   bool
	}{
		"well above":           {remaining: 14 * time.Minute},
		"a second above":       {remaining: refreshBelow + time.Second},
		"exactly at threshold": {remaining: refreshBelow, extends: true},
		"below":                {remaining: refreshBelow - time.Second, extends: true},
		"already expired":      {remaining: -time.Minute, extends: true},
		"no expiration":        {never: true, extends: true},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			token := jointoken.Token{ID: "abcdef", Secret: "secretsecret0000"}
			expiration := ""
			if !tc.never {
				// now has a fractional second; keep the remaining lifetime exact.
				token.Expiration = now.Add(tc.remaining)
				expiration = token.Expiration.UTC().Format(time.RFC3339Nano)
			}
			seeded := tokenSecret("abcdef", "secretsecret0000", expiration)
			var patches int
			c := newWorkload(countPatches(&patches), seeded.DeepCopy())

			got, err := jointoken.Extend(t.Context(), c, token, ttl, refreshBelow, now)
			g.Expect(err).NotTo(HaveOccurred())
			if !tc.extends {
				g.Expect(patches).To(BeZero(), "no write while enough lifetime remains")
				g.Expect(got).To(Equal(token))
				g.Expect(stored(t, c, "abcdef").Data).To(Equal(seeded.Data))
				return
			}
			g.Expect(patches).To(Equal(1), "one write")
			g.Expect(got.ID).To(Equal(token.ID))
			g.Expect(got.Secret).To(Equal(token.Secret))
			g.Expect(got.Expiration).To(BeTemporally("==", extended))

			// Only the expiration changed, and the API server now takes
			// the token until the new one.
			want := tokenSecret("abcdef", "secretsecret0000", "2030-01-02T02:19:05Z").Data
			s := stored(t, c, "abcdef")
			g.Expect(s.Data).To(Equal(want))
			g.Expect(authenticates(s, "abcdef", "secretsecret0000", extended.Add(-time.Second))).To(Succeed())
			read, err := jointoken.Get(t.Context(), c, "abcdef")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(read.Expiration).To(BeTemporally("==", got.Expiration))
		})
	}
}

func TestExtendOfAMissingTokenIsNotFound(t *testing.T) {
	g := NewWithT(t)
	token := jointoken.Token{ID: "abcdef", Secret: "secretsecret0000", Expiration: now}
	c := newWorkload(interceptor.Funcs{})
	_, err := jointoken.Extend(t.Context(), c, token, ttl, ttl/2, now)
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%v", err)
	g.Expect(err.Error()).NotTo(ContainSubstring("secretsecret0000"))

	// and it does not create the token it could not find
	_, err = jointoken.Get(t.Context(), c, "abcdef")
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%v", err)
}

func TestDelete(t *testing.T) {
	g := NewWithT(t)
	c := newWorkload(interceptor.Funcs{}, tokenSecret("abcdef", "secretsecret0000", ""), tokenSecret("uvwxyz", "othersecret00000", ""))

	g.Expect(jointoken.Delete(t.Context(), c, "abcdef")).To(Succeed())
	_, err := jointoken.Get(t.Context(), c, "abcdef")
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%v", err)
	_, err = jointoken.Get(t.Context(), c, "uvwxyz")
	g.Expect(err).NotTo(HaveOccurred(), "other tokens stay")

	g.Expect(jointoken.Delete(t.Context(), c, "abcdef")).To(Succeed(), "a token already gone is not an error")
}

func TestDeleteReportsOtherErrors(t *testing.T) {
	g := NewWithT(t)
	c := newWorkload(interceptor.Funcs{Delete: func(_ context.Context, _ client.WithWatch, obj client.Object, _ ...client.DeleteOption) error {
		return apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, obj.GetName(), errors.New("no"))
	}}, tokenSecret("abcdef", "secretsecret0000", ""))
	err := jointoken.Delete(t.Context(), c, "abcdef")
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%v", err)
	g.Expect(err.Error()).To(ContainSubstring("revoking bootstrap token abcdef"))
}

// CreateWith creates the token data was rendered with, or brings back the
// one bootstrap data carries, with its own secret half, and refuses
// anything that is not a bootstrap token.
func TestCreateWith(t *testing.T) {
	g := NewWithT(t)
	c := newWorkload(interceptor.Funcs{})
	token, err := jointoken.Worker.CreateWith(t.Context(), c, jointoken.Token{ID: "abcdef", Secret: "0123456789abcdef"}, "seeded", ttl, now)
	g.Expect(err).NotTo(HaveOccurred())
	s := stored(t, c, "abcdef")
	g.Expect(string(s.Data["token-secret"])).To(Equal("0123456789abcdef"))
	g.Expect(authenticates(s, "abcdef", "0123456789abcdef", token.Expiration.Add(-time.Second))).To(Succeed())

	_, err = jointoken.Worker.CreateWith(t.Context(), c, jointoken.Token{ID: "ABCDEF", Secret: "short"}, "seeded", ttl, now)
	g.Expect(err).To(MatchError(ContainSubstring("not a bootstrap token")))
	g.Expect(err.Error()).NotTo(ContainSubstring("short"))
}

// TokenFromWorkerToken reads back the bootstrap token a k0s join token
// authenticates with.
func TestTokenFromWorkerToken(t *testing.T) {
	g := NewWithT(t)
	k0sToken, err := jointoken.Worker.Encode("https://cp.example.com:6443", []byte("ca"), jointoken.Token{ID: "abcdef", Secret: "0123456789abcdef"})
	g.Expect(err).NotTo(HaveOccurred())
	token, err := jointoken.Worker.FromJoinToken(k0sToken)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(token).To(Equal(jointoken.Token{ID: "abcdef", Secret: "0123456789abcdef"}))

	_, err = jointoken.Worker.FromJoinToken("bm90IGEgdG9rZW4=")
	g.Expect(err).To(HaveOccurred())
}
