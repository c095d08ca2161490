package jointoken

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"sync"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// k0sClusterName is the cluster and context inside a join token's kubeconfig.
const k0sClusterName = "k0s"

// Encode builds the token `k0s token create --role=<role>` prints: a
// kubeconfig (cluster and context "k0s", user "kubelet-bootstrap" for a
// worker or "controller-bootstrap" for a controller, authenticating with
// the bootstrap token, trusting the cluster CA), gzipped and
// base64-encoded. server is the API server for a worker, the k0s join API
// (port 9443) for a controller.
func (r Role) Encode(server string, caPEM []byte, token Token) (string, error) {
	config := clientcmdapi.NewConfig()
	config.Clusters[k0sClusterName] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	config.AuthInfos[r.user] = &clientcmdapi.AuthInfo{Token: token.Bearer()}
	config.Contexts[k0sClusterName] = &clientcmdapi.Context{Cluster: k0sClusterName, AuthInfo: r.user}
	config.CurrentContext = k0sClusterName
	kubeconfig, err := clientcmd.Write(*config)
	if err != nil {
		return "", fmt.Errorf("serialising the join kubeconfig: %w", err)
	}

	var buf bytes.Buffer
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(&buf)
	if _, err := zw.Write(kubeconfig); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// gzipWriters are reused: a compressor's state is most of a megabyte, and
// allocating one per token made it a seventh of the CPU a saturated
// manager spends.
var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(nil, gzip.BestCompression) // errs only for an invalid level
	return zw
}}

// Decode parses a k0s join token back into its kubeconfig, as a joining
// machine does.
func Decode(token string) (*clientcmdapi.Config, error) {
	compressed, err := base64.StdEncoding.DecodeString(token)
	if err != nil {
		return nil, fmt.Errorf("join token is not base64: %w", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(compressed))
	if err != nil {
		return nil, fmt.Errorf("join token is not gzip: %w", err)
	}
	kubeconfig, err := io.ReadAll(io.LimitReader(zr, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("join token is not gzip: %w", err)
	}
	return clientcmd.Load(kubeconfig)
}

// FromJoinToken returns the bootstrap token a k0s join token of the role
// authenticates with (without its expiry, which the token does not carry).
func (r Role) FromJoinToken(k0sToken string) (Token, error) {
	config, err := Decode(k0sToken)
	if err != nil {
		return Token{}, err
	}
	auth, ok := config.AuthInfos[r.user]
	if !ok {
		return Token{}, fmt.Errorf("join token has no %s user: not a %s token", r.user, r.name)
	}
	id, secret, err := splitToken(auth.Token)
	if err != nil {
		return Token{}, errors.New("join token does not carry a bootstrap token")
	}
	return Token{ID: id, Secret: secret}, nil
}
