package testenv

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/rest"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util/kubeconfig"
	"sigs.k8s.io/cluster-api/util/secret"
	utilyaml "sigs.k8s.io/cluster-api/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// stopTimeout bounds how long an API server and its etcd get to stop
// before they are killed.
const stopTimeout = 3 * time.Second

// Workload is a workload cluster as a k0s control plane runs it: a real
// kube-apiserver with bootstrap-token authentication, the Node authorizer
// and NodeRestriction, whose serving and client certificates chain to the
// cluster's own CA; a real kube-controller-manager that approves and signs
// kubelet client certificates with that CA, deletes expired bootstrap
// tokens and collects garbage; and the RBAC k0s installs for joining
// workers (k0s-system-rbac.yaml, PublishWorkerProfiles). Nothing of k0s
// itself runs, and no kubelet: internal/simulation joins machines through
// the kubelet's own TLS bootstrap code.
type Workload struct {
	// Config reaches the API server as an administrator.
	Config *rest.Config
	// Client is an uncached administrator client.
	Client client.Client
	// CACert is the cluster CA: it signed the API server's serving
	// certificate and signs every client certificate the server accepts,
	// so it is what a join token must trust and what a node's certificate
	// chains to.
	CACert []byte
	// ControllerManager is the cluster's kube-controller-manager.
	ControllerManager *ControllerManager

	ca            *clusterCA
	clusterAdmin  *rest.Config
	dir           string
	tokenAuditLog string
	env           *envtest.Environment
	profilesMu    sync.Mutex
}

//go:embed k0s-system-rbac.yaml
var k0sSystemRBAC []byte

// WorkloadOptions configure StartWorkloadWith.
type WorkloadOptions struct {
	// APIServerArgs are extra kube-apiserver flags (name without dashes).
	APIServerArgs map[string]string
}

// StartWorkload starts a workload cluster.
func StartWorkload(ctx context.Context) (*Workload, error) {
	return StartWorkloadWith(ctx, WorkloadOptions{})
}

// StartWorkloadWith starts a workload cluster with options.
func StartWorkloadWith(ctx context.Context, opts WorkloadOptions) (w *Workload, err error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	w = &Workload{}
	if w.dir, err = os.MkdirTemp("", "cabpk0s-workload-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, w.Stop())
		}
	}()
	if w.ca, err = newClusterCA("k0s-workload-ca"); err != nil {
		return nil, err
	}
	w.CACert = w.ca.CertPEM
	apiServer, err := w.apiServer()
	if err != nil {
		return nil, err
	}
	auditArgs, auditLog, err := writeTokenAuditPolicy(w.dir)
	if err != nil {
		return nil, err
	}
	w.tokenAuditLog = auditLog
	args := map[string]string{
		"enable-bootstrap-token-auth": "true",
		"authorization-mode":          "Node,RBAC",
		"enable-admission-plugins":    "NodeRestriction",
	}
	maps.Copy(args, auditArgs)
	if opts.APIServerArgs["audit-log-path"] != "" {
		w.tokenAuditLog = opts.APIServerArgs["audit-log-path"]
	}
	maps.Copy(args, opts.APIServerArgs)
	for name, value := range args {
		apiServer.Configure().Set(name, value)
	}
	w.env = &envtest.Environment{
		BinaryAssetsDirectory: assets, ControlPlaneStopTimeout: stopTimeout, ControlPlane: envtest.ControlPlane{APIServer: apiServer},
		// What k0s controllers publish about themselves.
		CRDs: []*apiextensionsv1.CustomResourceDefinition{ControlNodeCRD()},
	}
	cfg, err := w.env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting the workload API server: %w", err)
	}
	w.Config = cfg
	if w.Client, err = client.New(cfg, client.Options{}); err != nil {
		return nil, err
	}
	objs, err := utilyaml.ToUnstructured(k0sSystemRBAC)
	if err != nil {
		return nil, fmt.Errorf("k0s-system-rbac.yaml: %w", err)
	}
	for i := range objs {
		if err := w.Client.Create(ctx, &objs[i]); err != nil {
			return nil, fmt.Errorf("creating %s %s: %w", objs[i].GetKind(), objs[i].GetName(), err)
		}
	}
	admin, err := w.env.AddUser(envtest.User{Name: ClusterAdminUser, Groups: []string{"system:masters"}}, cfg)
	if err != nil {
		return nil, err
	}
	w.clusterAdmin = admin.Config()
	kcm, err := w.env.AddUser(envtest.User{Name: ControllerManagerUser, Groups: []string{"system:masters"}}, cfg)
	if err != nil {
		return nil, err
	}
	kcmKubeconfig, err := kcm.KubeConfig()
	if err != nil {
		return nil, err
	}
	w.ControllerManager, err = StartControllerManager(ctx, ControllerManagerOptions{
		Kubeconfig:     kcmKubeconfig,
		Controllers:    WorkloadControllers,
		SigningCertPEM: w.ca.CertPEM,
		SigningKeyPEM:  w.ca.KeyPEM,
		Dir:            filepath.Join(w.dir, "controller-manager"),
	})
	if err != nil {
		return nil, fmt.Errorf("starting the workload controller manager: %w", err)
	}
	return w, nil
}

// apiServer is an envtest API server whose certificates come from the
// cluster CA: its serving certificate, written where envtest looks before
// it makes one of its own, and every client certificate (clusterCAAuthn).
func (w *Workload) apiServer() (*envtest.APIServer, error) {
	certDir := filepath.Join(w.dir, "apiserver")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	var err error
	if files["apiserver.crt"], files["apiserver.key"], err = w.ca.issue("kube-apiserver", nil, []string{"localhost", "127.0.0.1", "::1"}); err != nil {
		return nil, err
	}
	// envtest writes the service account signing key with its serving
	// certificate, so it is ours to write too.
	sa, err := newClusterCA("service-account-signer")
	if err != nil {
		return nil, err
	}
	files["sa-signer.crt"], files["sa-signer.key"] = sa.CertPEM, sa.KeyPEM
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(certDir, name), data, 0o600); err != nil {
			return nil, err
		}
	}
	server := &envtest.APIServer{CertDir: certDir}
	server.SecureServing = envtest.SecureServing{
		ListenAddr: envtest.ListenAddr{Address: "127.0.0.1"},
		CA:         w.ca.CertPEM,
		Authn:      &clusterCAAuthn{ca: w.ca},
	}
	return server, nil
}

// Endpoint is the host and port workers join through.
func (w *Workload) Endpoint() (string, int32, error) {
	u, err := url.Parse(w.Config.Host)
	if err != nil {
		return "", 0, err
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return "", 0, err
	}
	p, err := strconv.ParseInt(port, 10, 32)
	return host, int32(p), err
}

// ClusterSecrets are the Secrets Cluster API expects of a Cluster whose
// control plane is this API server, as a control plane provider publishes
// them: <cluster>-ca (the CA a join token must trust) and
// <cluster>-kubeconfig (an administrator's kubeconfig, as ClusterAdminUser), controlled by the
// Cluster so they move and go with it. The Cluster must exist (its UID is
// the owner's).
func (w *Workload) ClusterSecrets(cluster *clusterv1.Cluster) []*corev1.Secret {
	return w.clusterSecrets(cluster, w.clusterAdmin)
}

// ClusterSecretsAs are ClusterSecrets with a kubeconfig of an
// administrator of its own, user (in system:masters, with a client
// certificate of its own): clients of two such Clusters share no
// connection, as clients of two workload clusters would not.
func (w *Workload) ClusterSecretsAs(cluster *clusterv1.Cluster, user string) ([]*corev1.Secret, error) {
	admin, err := w.env.AddUser(envtest.User{Name: user, Groups: []string{"system:masters"}}, w.Config)
	if err != nil {
		return nil, fmt.Errorf("adding workload administrator %s: %w", user, err)
	}
	return w.clusterSecrets(cluster, admin.Config()), nil
}

func (w *Workload) clusterSecrets(cluster *clusterv1.Cluster, admin *rest.Config) []*corev1.Secret {
	owner := *metav1.NewControllerRef(cluster, clusterv1.GroupVersion.WithKind("Cluster"))
	ca := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: cluster.Namespace, Name: secret.Name(cluster.Name, secret.ClusterCA),
			Labels:          map[string]string{clusterv1.ClusterNameLabel: cluster.Name},
			OwnerReferences: []metav1.OwnerReference{owner},
		},
		Type: clusterv1.ClusterSecretType,
		Data: map[string][]byte{secret.TLSCrtDataName: w.ca.CertPEM, secret.TLSKeyDataName: w.ca.KeyPEM},
	}
	kc := kubeconfig.GenerateSecretWithOwner(client.ObjectKeyFromObject(cluster), kubeconfig.FromEnvTestConfig(admin, cluster), owner)
	return []*corev1.Secret{ca, kc}
}

// StopAPIServer stops the API server alone, as a control plane outage
// does: etcd and the controller manager keep running, and StartAPIServer
// brings it back with its state, address and certificates.
func (w *Workload) StopAPIServer() error {
	return ignoreStopTimeout(w.env.ControlPlane.APIServer.Stop())
}

// StartAPIServer starts the API server StopAPIServer stopped.
func (w *Workload) StartAPIServer() error {
	return w.env.ControlPlane.APIServer.Start()
}

// Stop stops the controller manager, the API server and its etcd.
func (w *Workload) Stop() error {
	err := w.ControllerManager.Stop()
	if w.env != nil {
		err = errors.Join(err, stopEnvironment(w.env))
	}
	return errors.Join(err, os.RemoveAll(w.dir))
}

// stopEnvironment stops an envtest environment. An API server still busy
// closing watches after stopTimeout is killed by envtest, which reports a
// "timeout waiting for process" error; for a throwaway API server that is
// a successful stop, so only other failures are returned.
func stopEnvironment(env *envtest.Environment) error {
	return ignoreStopTimeout(env.Stop())
}

func ignoreStopTimeout(err error) error {
	var agg kerrors.Aggregate
	if !errors.As(err, &agg) {
		if err == nil || stoppedAnyway(err) {
			return nil
		}
		return err
	}
	var kept []error
	for _, e := range agg.Errors() {
		if !stoppedAnyway(e) {
			kept = append(kept, e)
		}
	}
	return errors.Join(kept...)
}

// stoppedAnyway: envtest killed a process that outlived the stop timeout,
// or found it gone when it meant to kill it (it ended just then).
func stoppedAnyway(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "timeout waiting for process") ||
		strings.HasPrefix(msg, "unable to kill process") && errors.Is(err, syscall.ESRCH)
}
