package simulation

import (
	"bytes"
	"context"
	"crypto"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	bootstrapsecretutil "k8s.io/cluster-bootstrap/util/secrets"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/cabpk0s/cabpk0s/internal/jointoken"
	"github.com/cabpk0s/cabpk0s/internal/render"
	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

// ControllerMachine is what a control-plane machine meets when its
// bootstrap data runs.
type ControllerMachine struct {
	// ClusterCA is the cluster CA (the <cluster>-ca Secret's certificate)
	// the data must bring or trust.
	ClusterCA []byte
	// EndpointHost is the Cluster's control plane endpoint host: a
	// joining controller reaches the k0s join API there.
	EndpointHost string
	// Workload is the workload cluster as its controllers' admin sees it:
	// the k0s join API reads bootstrap tokens with it, and the controller
	// registers its ControlNode with it.
	Workload client.Client
	// WorkloadConfig reaches the workload API server; the joining
	// controller's token is offered to it as a credential, to prove the
	// API server refuses it.
	WorkloadConfig *rest.Config
}

// BootedController is what a controller's boot did.
type BootedController struct {
	// Name is AUTOPILOT_HOSTNAME, the name its ControlNode got.
	Name string
	// Initialized: it was the first controller and brought the
	// certificates; otherwise it joined with a token.
	Initialized bool
	// Args are the `k0s install controller` arguments after the ones
	// every controller gets (--force, --enable-dynamic-config, --config,
	// --token-file, --env).
	Args []string
	// K0sConfig is the ClusterConfig it started with, as YAML.
	K0sConfig []byte
	// TokenID is the bootstrap token it joined with ("" for the first).
	TokenID string
}

// BootController runs a controller's bootstrap data as far as k0s's
// controller does before it serves: the data is decoded (render.Decode),
// the script's `k0s install controller` line read, and the files it names
// checked as k0s would use them. The first controller's certificates must
// form usable CAs (each key its certificate's, each self-signed, the
// cluster CA the Cluster's) and a service-account key pair, every key
// readable by root alone. A joining controller's token must be a
// controller token for the k0s join API at the endpoint, trusting the
// cluster CA, that the join API accepts (as k0s's checks it, on the
// workload cluster's bootstrap-token Secret) and the API server refuses.
// The controller then registers as k0s does: its ControlNode, named after
// AUTOPILOT_HOSTNAME.
func BootController(ctx context.Context, data []byte, format string, m ControllerMachine) (BootedController, error) {
	decoded, err := render.Decode(data, render.Format(format))
	if err != nil {
		return BootedController{}, fmt.Errorf("bootstrap data: %w", err)
	}
	files := map[string]render.DecodedFile{}
	for _, f := range decoded.Files {
		files[f.Path] = f
	}
	script, ok := files[render.ScriptPath]
	if !ok {
		return BootedController{}, fmt.Errorf("bootstrap data writes no bootstrap script %s", render.ScriptPath)
	}
	install, err := parseControllerInstall(string(script.Content))
	if err != nil {
		return BootedController{}, err
	}
	booted := BootedController{Name: install.env["AUTOPILOT_HOSTNAME"], Args: install.args}
	if booted.Name == "" {
		return booted, errors.New("k0s install controller sets no AUTOPILOT_HOSTNAME: k0s would name the controller after the machine's hostname, and K0sControlPlane would not find it")
	}
	if install.config != "" {
		f, ok := files[install.config]
		if !ok {
			return booted, fmt.Errorf("k0s install controller --config %s, which the data does not write", install.config)
		}
		if err := checkClusterConfig(f.Content); err != nil {
			return booted, err
		}
		booted.K0sConfig = f.Content
	}
	if install.tokenFile == "" {
		booted.Initialized = true
		if err := checkPKI(files, m.ClusterCA); err != nil {
			return booted, fmt.Errorf("the first controller's certificates: %w", err)
		}
	} else {
		f, ok := files[install.tokenFile]
		if !ok {
			return booted, fmt.Errorf("k0s install controller --token-file %s, which the data does not write", install.tokenFile)
		}
		if booted.TokenID, err = joinController(ctx, strings.TrimSpace(string(f.Content)), m); err != nil {
			return booted, err
		}
	}
	node := &unstructured.Unstructured{}
	node.SetGroupVersionKind(testenv.ControlNodeGVK)
	node.SetName(booted.Name)
	if err := m.Workload.Create(ctx, node); err != nil && !apierrors.IsAlreadyExists(err) {
		return booted, fmt.Errorf("registering ControlNode %s: %w", booted.Name, err)
	}
	return booted, nil
}

type controllerInstall struct {
	config, tokenFile string
	env               map[string]string
	args              []string
}

// parseControllerInstall reads `k0s install controller` from a script.
func parseControllerInstall(script string) (controllerInstall, error) {
	install := controllerInstall{env: map[string]string{}}
	args, err := installArgs(script, "controller")
	if err != nil {
		return install, err
	}
	for i := 0; i < len(args); i++ {
		value := func() string {
			if i+1 < len(args) {
				i++
				return args[i]
			}
			return ""
		}
		switch args[i] {
		case "--force", "--enable-dynamic-config":
		case "--config":
			install.config = value()
		case "--token-file":
			install.tokenFile = value()
		case "--env":
			k, v, _ := strings.Cut(value(), "=")
			install.env[k] = v
		default:
			install.args = append(install.args, args[i])
		}
	}
	return install, nil
}

// checkClusterConfig reads a k0s.yaml as k0s does: a ClusterConfig.
func checkClusterConfig(content []byte) error {
	var config struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(content, &config); err != nil {
		return fmt.Errorf("k0s.yaml is not YAML: %w", err)
	}
	if config.APIVersion != "k0s.k0sproject.io/v1beta1" || config.Kind != "ClusterConfig" {
		return fmt.Errorf("k0s.yaml is a %s %s, not a k0s.k0sproject.io/v1beta1 ClusterConfig", config.APIVersion, config.Kind)
	}
	return nil
}

// checkPKI checks the certificates k0s starts a first controller with.
func checkPKI(files map[string]render.DecodedFile, clusterCA []byte) error {
	read := func(name string, mode int) ([]byte, error) {
		f, ok := files[path.Join(render.PKIDir, name)]
		switch {
		case !ok:
			return nil, fmt.Errorf("%s is not written", name)
		case f.Mode != mode:
			return nil, fmt.Errorf("%s has mode %04o, want %04o", name, f.Mode, mode)
		}
		return f.Content, nil
	}
	var cas [][]byte
	for _, name := range []string{"ca", "etcd/ca", "front-proxy-ca"} {
		crt, err := read(name+".crt", 0o644)
		if err != nil {
			return err
		}
		key, err := read(name+".key", 0o600)
		if err != nil {
			return err
		}
		if err := checkCA(crt, key); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		cas = append(cas, crt)
	}
	if !bytes.Equal(cas[0], clusterCA) {
		return errors.New("ca.crt is not the cluster CA of the <cluster>-ca Secret: clients of the Cluster's kubeconfig would not trust the API server")
	}
	if bytes.Equal(cas[0], cas[1]) || bytes.Equal(cas[0], cas[2]) || bytes.Equal(cas[1], cas[2]) {
		return errors.New("the cluster, etcd and front-proxy CAs are not distinct")
	}
	pub, err := read("sa.pub", 0o644)
	if err != nil {
		return err
	}
	key, err := read("sa.key", 0o600)
	if err != nil {
		return err
	}
	return checkKeyPair(pub, key)
}

// checkCA: the key is the certificate's, and the certificate a CA's that
// signed itself.
func checkCA(crtPEM, keyPEM []byte) error {
	pair, err := tls.X509KeyPair(crtPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("certificate and key do not form a pair: %w", err)
	}
	crt, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return err
	}
	if !crt.IsCA || crt.KeyUsage&x509.KeyUsageCertSign == 0 {
		return errors.New("not a CA certificate")
	}
	if err := crt.CheckSignatureFrom(crt); err != nil {
		return fmt.Errorf("not self-signed: %w", err)
	}
	if time.Now().After(crt.NotAfter) {
		return errors.New("expired")
	}
	return nil
}

// checkKeyPair: the service-account private key signs what the public key
// verifies (the API server signs tokens with one, verifies with the other).
func checkKeyPair(pubPEM, keyPEM []byte) error {
	pubBlock, _ := pem.Decode(pubPEM)
	keyBlock, _ := pem.Decode(keyPEM)
	if pubBlock == nil || keyBlock == nil {
		return errors.New("sa.pub or sa.key is not PEM")
	}
	pub, err := x509.ParsePKIXPublicKey(pubBlock.Bytes)
	if err != nil {
		return fmt.Errorf("sa.pub: %w", err)
	}
	var key crypto.Signer
	if k, err := x509.ParsePKCS1PrivateKey(keyBlock.Bytes); err == nil {
		key = k
	} else if k, err := x509.ParsePKCS8PrivateKey(keyBlock.Bytes); err == nil {
		key, _ = k.(crypto.Signer)
	}
	if key == nil {
		return errors.New("sa.key is not a private key")
	}
	if !key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
		return errors.New("sa.key is not the private key of sa.pub")
	}
	return nil
}

// joinController checks a controller join token as the joining k0s and
// the k0s join API do, and returns its bootstrap token's ID.
func joinController(ctx context.Context, k0sToken string, m ControllerMachine) (string, error) {
	token, err := jointoken.Controller.FromJoinToken(k0sToken)
	if err != nil {
		return "", err
	}
	kubeconfig, err := jointoken.Decode(k0sToken)
	if err != nil {
		return "", err
	}
	cluster := kubeconfig.Clusters[kubeconfig.Contexts[kubeconfig.CurrentContext].Cluster]
	server, err := url.Parse(cluster.Server)
	if err != nil {
		return "", fmt.Errorf("the join token's server %q: %w", cluster.Server, err)
	}
	if host, port, _ := net.SplitHostPort(server.Host); server.Scheme != "https" || host != m.EndpointHost || port != "9443" {
		return "", fmt.Errorf("the join token points at %s, not the k0s join API at https://%s", cluster.Server, net.JoinHostPort(m.EndpointHost, "9443"))
	}
	if !bytes.Equal(cluster.CertificateAuthorityData, m.ClusterCA) {
		return "", errors.New("the join token does not trust the cluster CA")
	}

	// The k0s join API's check, on the Secret as the API server stores it.
	s := &corev1.Secret{}
	if err := m.Workload.Get(ctx, client.ObjectKey{Namespace: metav1.NamespaceSystem, Name: jointoken.SecretName(token.ID)}, s); err != nil {
		return "", fmt.Errorf("the k0s join API finds no bootstrap token %s: %w", token.ID, err)
	}
	switch {
	case subtle.ConstantTimeCompare([]byte(bootstrapsecretutil.GetData(s, "token-secret")), []byte(token.Secret)) != 1:
		return "", errors.New("the k0s join API refuses the token: its secret does not match")
	case bootstrapsecretutil.HasExpired(s, time.Now()):
		return "", errors.New("the k0s join API refuses the token: it has expired")
	case bootstrapsecretutil.GetData(s, "usage-controller-join") != "true" && bootstrapsecretutil.GetData(s, "usage-bootstrap-controller-join") != "true":
		return "", errors.New("the k0s join API refuses the token: it is not meant for controller joins")
	}

	// Offered to the API server, the token is no credential.
	cfg := rest.AnonymousClientConfig(m.WorkloadConfig)
	cfg.BearerToken = token.Bearer()
	clientset, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return "", err
	}
	_, err = clientset.CoreV1().Namespaces().Get(ctx, metav1.NamespaceSystem, metav1.GetOptions{})
	switch {
	case err == nil:
		return "", errors.New("the API server took the controller token as a credential")
	case !apierrors.IsUnauthorized(err):
		return "", fmt.Errorf("offering the controller token to the API server: want 401 Unauthorized: %w", err)
	}
	return token.ID, nil
}
