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
	bootstraputil "k8s.io/cluster-bootstrap/token/util"
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
	// A valid bootstrap token is lowercase letters, digits and one dot:
	// nothing YAML would need escaped in a double-quoted string.
	if !bootstraputil.IsValidBootstrapToken(token.Bearer()) {
		return "", errors.New("not a bootstrap token (ID.SECRET, 6 and 16 lowercase letters or digits)")
	}
	tpl, err := r.kubeconfigTemplate(server, caPEM)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(&buf)
	// The token, double-quoted: a YAML string whatever its characters (an
	// all-digit ID.SECRET would read as a number unquoted).
	for _, part := range [][]byte{tpl.before, []byte(`"` + token.Bearer() + `"`), tpl.after} {
		if _, err := zw.Write(part); err != nil {
			return "", err
		}
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// kubeconfigTemplate is a join kubeconfig of the role, server and CA, split
// where the token goes. Serialising a kubeconfig (client-go's codec, JSON,
// then YAML) was a quarter of the memory a saturated manager allocated,
// for bytes that are the same for every machine of a cluster but for the
// token.
func (r Role) kubeconfigTemplate(server string, caPEM []byte) (kubeconfigTemplate, error) {
	key := r.user + "\x00" + server + "\x00" + string(caPEM)
	if tpl, ok := kubeconfigTemplates.get(key); ok {
		return tpl, nil
	}
	config := clientcmdapi.NewConfig()
	config.Clusters[k0sClusterName] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	config.AuthInfos[r.user] = &clientcmdapi.AuthInfo{Token: tokenPlaceholder}
	config.Contexts[k0sClusterName] = &clientcmdapi.Context{Cluster: k0sClusterName, AuthInfo: r.user}
	config.CurrentContext = k0sClusterName
	kubeconfig, err := clientcmd.Write(*config)
	if err != nil {
		return kubeconfigTemplate{}, fmt.Errorf("serialising the join kubeconfig: %w", err)
	}
	field := []byte("token: " + tokenPlaceholder + "\n")
	if bytes.Count(kubeconfig, field) != 1 {
		return kubeconfigTemplate{}, errors.New("serialising the join kubeconfig: the token field is not where it is expected")
	}
	at := bytes.Index(kubeconfig, field) + len("token: ")
	tpl := kubeconfigTemplate{before: kubeconfig[:at], after: kubeconfig[at+len(tokenPlaceholder):]}
	kubeconfigTemplates.put(key, tpl)
	return tpl, nil
}

// tokenPlaceholder stands for the token in a kubeconfig template: a plain
// YAML string that neither a server URL nor base64 CA data contains.
const tokenPlaceholder = "zzzzzz.zzzzzzzzzzzzzzzz"

type kubeconfigTemplate struct{ before, after []byte }

// templateCache holds the kubeconfig templates of the clusters in use: one
// per role, server and CA. It is emptied when it holds maxTemplates, which
// only CA rotations over a long life or thousands of clusters reach.
type templateCache struct {
	mu sync.Mutex
	m  map[string]kubeconfigTemplate
}

const maxTemplates = 1024

var kubeconfigTemplates templateCache

func (c *templateCache) get(key string) (kubeconfigTemplate, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	tpl, ok := c.m[key]
	return tpl, ok
}

func (c *templateCache) put(key string, tpl kubeconfigTemplate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxTemplates {
		c.m = map[string]kubeconfigTemplate{}
	}
	c.m[key] = tpl
}

// gzipWriters are reused: a compressor's state is most of a megabyte, and
// allocating one per token made it a seventh of the CPU a saturated
// manager spends. They compress at gzip's best speed: a join kubeconfig is
// mostly base64 (the CA), which the better levels shrink by 3% more at 2.5
// times the CPU, and resetting a better level's compressor clears over
// half a megabyte of tables per token.
var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed) // errs only for an invalid level
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
