package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util/kubeconfig"
	"sigs.k8s.io/cluster-api/util/secret"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// stopTimeout bounds how long an API server and its etcd get to stop
// before they are killed.
const stopTimeout = 3 * time.Second

// Workload is a workload cluster's API server: a real kube-apiserver that
// accepts bootstrap tokens, with the RBAC a k0s control plane gives
// system:bootstrappers. Nothing else of k0s runs.
type Workload struct {
	// Config reaches the API server as an administrator.
	Config *rest.Config
	// Client is an uncached administrator client.
	Client client.Client
	// CACert is the CA certificate that signed the API server's serving
	// certificate: what a join token must trust.
	CACert []byte

	env *envtest.Environment
}

// bootstrapperRoleBindings are the bindings k0s installs so that a worker
// authenticating with a bootstrap token can request its client certificate
// and have it approved.
var bootstrapperRoleBindings = map[string]string{
	"kubelet-bootstrap":          "system:node-bootstrapper",
	"node-autoapprove-bootstrap": "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
}

// WorkloadOptions configure StartWorkloadWith.
type WorkloadOptions struct {
	// APIServerArgs are extra kube-apiserver flags (name without dashes).
	APIServerArgs map[string]string
}

// StartWorkload starts a workload cluster API server.
func StartWorkload(ctx context.Context) (*Workload, error) {
	return StartWorkloadWith(ctx, WorkloadOptions{})
}

// StartWorkloadWith starts a workload cluster API server with options.
func StartWorkloadWith(ctx context.Context, opts WorkloadOptions) (*Workload, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets, ControlPlaneStopTimeout: stopTimeout}
	env.ControlPlane.GetAPIServer().Configure().Set("enable-bootstrap-token-auth", "true")
	for name, value := range opts.APIServerArgs {
		env.ControlPlane.GetAPIServer().Configure().Set(name, value)
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting the workload API server: %w", err)
	}
	w := &Workload{Config: cfg, CACert: env.ControlPlane.APIServer.CA, env: env}
	if w.Client, err = client.New(cfg, client.Options{}); err != nil {
		return nil, errors.Join(err, env.Stop())
	}
	for name, role := range bootstrapperRoleBindings {
		binding := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: "system:bootstrappers"}},
		}
		if err := w.Client.Create(ctx, binding); err != nil {
			return nil, errors.Join(fmt.Errorf("creating ClusterRoleBinding %s: %w", name, err), env.Stop())
		}
	}
	return w, nil
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
// <cluster>-kubeconfig (an administrator's kubeconfig), controlled by the
// Cluster so they move and go with it. The Cluster must exist (its UID is
// the owner's).
func (w *Workload) ClusterSecrets(cluster *clusterv1.Cluster) []*corev1.Secret {
	owner := *metav1.NewControllerRef(cluster, clusterv1.GroupVersion.WithKind("Cluster"))
	ca := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: cluster.Namespace, Name: secret.Name(cluster.Name, secret.ClusterCA),
			Labels:          map[string]string{clusterv1.ClusterNameLabel: cluster.Name},
			OwnerReferences: []metav1.OwnerReference{owner},
		},
		Type: clusterv1.ClusterSecretType,
		Data: map[string][]byte{secret.TLSCrtDataName: w.CACert},
	}
	kc := kubeconfig.GenerateSecretWithOwner(client.ObjectKeyFromObject(cluster), kubeconfig.FromEnvTestConfig(w.Config, cluster), owner)
	return []*corev1.Secret{ca, kc}
}

// Stop stops the API server and its etcd.
func (w *Workload) Stop() error { return stopEnvironment(w.env) }

// stopEnvironment stops an envtest environment. An API server still busy
// closing watches after stopTimeout is killed by envtest, which reports a
// "timeout waiting for process" error; for a throwaway API server that is
// a successful stop, so only other failures are returned.
func stopEnvironment(env *envtest.Environment) error {
	err := env.Stop()
	if err != nil && strings.Contains(err.Error(), "timeout waiting for process") && !strings.Contains(err.Error(), "unable to") {
		return nil
	}
	return err
}
