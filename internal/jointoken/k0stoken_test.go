package jointoken_test

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"io"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cabpk0s/cabpk0s/internal/jointoken"
)

const (
	testServer = "https://cp.example.com:9443"
	testCA     = "-----BEGIN CERTIFICATE-----\nMIIBdummyCAforTests\n-----END CERTIFICATE-----\n"
)

var testToken = jointoken.Token{ID: "abcdef", Secret: "0123456789abcdef"}

// decodeLikeK0s reads a join token the way a k0s worker does, without the
// package's own decoder: standard base64, gzip, then a kubeconfig loaded by
// client-go.
func decodeLikeK0s(t *testing.T, token string) []byte {
	t.Helper()
	g := NewWithT(t)
	compressed, err := base64.StdEncoding.DecodeString(token)
	g.Expect(err).NotTo(HaveOccurred(), "a k0s token is standard (not URL-safe) base64")
	zr, err := gzip.NewReader(bytes.NewReader(compressed))
	g.Expect(err).NotTo(HaveOccurred(), "a k0s token is gzip'd")
	kubeconfig, err := io.ReadAll(zr)
	g.Expect(err).NotTo(HaveOccurred())
	return kubeconfig
}

func TestEncodeWorkerTokenIsWhatK0sTokenCreateWrites(t *testing.T) {
	g := NewWithT(t)
	token, err := jointoken.Worker.Encode(testServer, []byte(testCA), testToken)
	g.Expect(err).NotTo(HaveOccurred())

	config, err := clientcmd.Load(decodeLikeK0s(t, token))
	g.Expect(err).NotTo(HaveOccurred())

	g.Expect(config.CurrentContext).To(Equal("k0s"))
	g.Expect(config.Contexts).To(HaveLen(1))
	g.Expect(config.Contexts).To(HaveKey("k0s"))
	g.Expect(config.Contexts["k0s"].Cluster).To(Equal("k0s"))
	g.Expect(config.Contexts["k0s"].AuthInfo).To(Equal("kubelet-bootstrap"))

	g.Expect(config.Clusters).To(HaveLen(1))
	g.Expect(config.Clusters).To(HaveKey("k0s"))
	g.Expect(config.Clusters["k0s"].Server).To(Equal(testServer))
	g.Expect(string(config.Clusters["k0s"].CertificateAuthorityData)).To(Equal(testCA))

	g.Expect(config.AuthInfos).To(HaveLen(1))
	g.Expect(config.AuthInfos).To(HaveKey("kubelet-bootstrap"))
	g.Expect(config.AuthInfos["kubelet-bootstrap"].Token).To(Equal("abcdef.0123456789abcdef"))

	// What a client built from it (as the worker's kubelet bootstrap is)
	// talks to, and how it authenticates.
	rest, err := clientcmd.NewDefaultClientConfig(*config, nil).ClientConfig()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(rest.Host).To(Equal(testServer))
	g.Expect(rest.BearerToken).To(Equal("abcdef.0123456789abcdef"))
	g.Expect(string(rest.CAData)).To(Equal(testCA))
}

func TestDecodeWorkerTokenRoundTrip(t *testing.T) {
	g := NewWithT(t)
	token, err := jointoken.Worker.Encode(testServer, []byte(testCA), testToken)
	g.Expect(err).NotTo(HaveOccurred())

	decoded, err := jointoken.Decode(token)
	g.Expect(err).NotTo(HaveOccurred())
	independent, err := clientcmd.Load(decodeLikeK0s(t, token))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(decoded).To(Equal(independent))
	g.Expect(decoded.AuthInfos["kubelet-bootstrap"].Token).To(Equal(testToken.Bearer()))
}

// k0sWrittenKubeconfig is the kubeconfig k0s's own token template produces
// (pkg/token in k0s), as text, so decoding is checked against a token this
// package did not write.
const k0sWrittenKubeconfig = `apiVersion: v1
clusters:
- cluster:
    server: https://10.0.0.1:9443
    certificate-authority-data: ` + "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJkdW1teUNBZm9yVGVzdHMKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=" + `
  name: k0s
contexts:
- context:
    cluster: k0s
    user: kubelet-bootstrap
  name: k0s
current-context: k0s
kind: Config
preferences: {}
users:
- name: kubelet-bootstrap
  user:
    token: uvwxyz.abcdefghijklmnop
`

// encodeLikeK0s is k0s's token.JoinEncode: gzip at best compression, then
// standard base64.
func encodeLikeK0s(t *testing.T, kubeconfig string) string {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	_, err = zw.Write([]byte(kubeconfig))
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	NewWithT(t).Expect(zw.Close()).To(Succeed())
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

func TestDecodeWorkerTokenReadsATokenK0sWrote(t *testing.T) {
	g := NewWithT(t)
	config, err := jointoken.Decode(encodeLikeK0s(t, k0sWrittenKubeconfig))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(config.CurrentContext).To(Equal("k0s"))
	g.Expect(config.Clusters["k0s"].Server).To(Equal("https://10.0.0.1:9443"))
	g.Expect(string(config.Clusters["k0s"].CertificateAuthorityData)).To(Equal(testCA))
	g.Expect(config.AuthInfos["kubelet-bootstrap"].Token).To(Equal("uvwxyz.abcdefghijklmnop"))
}

func TestDecodeWorkerTokenRejectsWhatIsNotAToken(t *testing.T) {
	for name, tc := range map[string]struct {
		token, want string
	}{
		"not base64":  {token: "not base64!", want: "not base64"},
		"URL base64":  {token: base64.URLEncoding.EncodeToString([]byte{0xfb, 0xff}), want: "not base64"},
		"not gzip":    {token: base64.StdEncoding.EncodeToString([]byte("apiVersion: v1")), want: "not gzip"},
		"truncated":   {token: truncatedGzip(t), want: "not gzip"},
		"no kubeconf": {token: encodeLikeK0s(t, "clusters: [this is not a kubeconfig"), want: ""},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := jointoken.Decode(tc.token)
			g.Expect(err).To(HaveOccurred())
			g.Expect(err.Error()).To(ContainSubstring(tc.want))
		})
	}
}

// truncatedGzip is a token whose gzip stream stops half way.
func truncatedGzip(t *testing.T) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(encodeLikeK0s(t, k0sWrittenKubeconfig))
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	return base64.StdEncoding.EncodeToString(raw[:len(raw)/2])
}

// TestEncodeKeepsEveryTokenAString: the kubeconfig is serialised once per
// cluster and the token set into it; a token YAML would read as a number
// if it were written plain (all digits, or digits around an "e") still
// decodes to itself, and each cluster's server and CA stay its own.
func TestEncodeKeepsEveryTokenAString(t *testing.T) {
	g := NewWithT(t)
	for _, bearer := range []string{"123456.1234567890123456", "123456.123e456789012345", "000000.0000000000000000", "abcdef.0123456789abcdef"} {
		id, secret, _ := strings.Cut(bearer, ".")
		for _, server := range []string{"https://10.0.0.1:6443", "https://10.0.0.2:6443"} {
			token, err := jointoken.Worker.Encode(server, []byte(testCA), jointoken.Token{ID: id, Secret: secret})
			g.Expect(err).NotTo(HaveOccurred())
			config, err := clientcmd.Load(decodeLikeK0s(t, token))
			g.Expect(err).NotTo(HaveOccurred(), bearer)
			g.Expect(config.AuthInfos["kubelet-bootstrap"].Token).To(Equal(bearer))
			g.Expect(config.Clusters["k0s"].Server).To(Equal(server))
		}
	}
	_, err := jointoken.Worker.Encode(testServer, []byte(testCA), jointoken.Token{ID: "ABCDEF", Secret: "0123456789abcdef"})
	g.Expect(err).To(MatchError(ContainSubstring("not a bootstrap token")))
}
