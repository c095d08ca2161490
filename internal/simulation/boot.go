package simulation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/events"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cabpk0s/cabpk0s/internal/jointoken"
	"github.com/cabpk0s/cabpk0s/internal/render"
	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

// BootErrorAnnotation on a Machine says why the simulated boot could not
// join it; it is removed once the Machine joins.
const BootErrorAnnotation = "sandbox.cabpk0s.io/boot-error"

// BootSimulator stands in for a machine booting with its bootstrap data:
// it reads the data Secret, finds the k0s join token in it, authenticates
// with that token against the workload API server and requests the node's
// client certificate as the bootstrap identity — the steps a k0s worker
// takes — and only then registers the Node with the Machine's provider ID
// (standing in for the kubelet after TLS bootstrap). Broken data or a token
// the API server refuses leave the Machine unjoined, with the reason in
// BootErrorAnnotation and an event.
type BootSimulator struct {
	Client   client.Client
	Workload *testenv.Workload
	Recorder events.EventRecorder
	// ValidateCloudConfig, when set, checks single-part cloud-config before
	// booting, as a real machine's cloud-init would parse it (for example
	// fixtures.ValidateCloudConfig, which runs cloud-init itself).
	ValidateCloudConfig func(data []byte) error
}

// SetupWithManager registers the simulator.
func (s *BootSimulator) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).Named("simulated-machine-boot").For(&clusterv1.Machine{}).Complete(s)
}

// Reconcile boots one Machine whose bootstrap data and instance are ready.
func (s *BootSimulator) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	m := &clusterv1.Machine{}
	if err := s.Client.Get(ctx, req.NamespacedName, m); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	dataSecret := ""
	if m.Spec.Bootstrap.DataSecretName != nil {
		dataSecret = *m.Spec.Bootstrap.DataSecretName
	}
	if !m.DeletionTimestamp.IsZero() || m.Status.NodeRef.IsDefined() || dataSecret == "" || m.Spec.ProviderID == "" {
		return ctrl.Result{}, nil
	}

	err := s.boot(ctx, m, dataSecret)
	if err == nil {
		return ctrl.Result{}, s.setBootError(ctx, m, "")
	}
	s.Recorder.Eventf(m, nil, corev1.EventTypeWarning, "SimulatedBootFailed", "Boot", "%s", err.Error())
	return ctrl.Result{RequeueAfter: 30 * time.Second}, s.setBootError(ctx, m, err.Error())
}

func (s *BootSimulator) boot(ctx context.Context, m *clusterv1.Machine, dataSecret string) error {
	return s.bootInstance(ctx, m.Namespace, dataSecret, m.Spec.ProviderID, m.Name)
}

// bootInstance boots one instance with providerID from the bootstrap data
// in namespace/dataSecret; its Node is called nodeName.
func (s *BootSimulator) bootInstance(ctx context.Context, namespace, dataSecret, providerID, nodeName string) error {
	if exists, err := s.nodeExists(ctx, providerID); err != nil || exists {
		return err
	}
	secret := &corev1.Secret{}
	if err := s.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: dataSecret}, secret); err != nil {
		return fmt.Errorf("reading bootstrap data Secret %s: %w", dataSecret, err)
	}
	format := string(secret.Data["format"])
	value := secret.Data["value"]
	multipart := bytes.HasPrefix(value, []byte("MIME-Version:")) || bytes.HasPrefix(value, []byte("Content-Type: multipart/"))
	if s.ValidateCloudConfig != nil && format == string(render.FormatCloudConfig) && !multipart {
		if err := s.ValidateCloudConfig(secret.Data["value"]); err != nil {
			return err
		}
	}
	token, err := JoinTokenFromBootstrapData(secret.Data["value"], format)
	if err != nil {
		return fmt.Errorf("bootstrap data: %w", err)
	}
	if _, err := JoinAsWorker(ctx, token, nodeName); err != nil {
		return err
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: nodeName},
		Spec: corev1.NodeSpec{
			ProviderID: providerID,
			Taints:     []corev1.Taint{{Key: clusterv1.NodeUninitializedTaint.Key, Effect: clusterv1.NodeUninitializedTaint.Effect}},
		},
	}
	if err := s.Workload.Client.Create(ctx, node); err != nil {
		return fmt.Errorf("registering Node %s: %w", nodeName, err)
	}
	// What a healthy kubelet reports, so Cluster API sees the Machine ready
	// and available (rollouts with maxUnavailable 0 wait for that).
	now := metav1.Now()
	condition := func(t corev1.NodeConditionType, status corev1.ConditionStatus) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: status, LastHeartbeatTime: now, LastTransitionTime: now, Reason: "SimulatedKubelet"}
	}
	node.Status.Conditions = []corev1.NodeCondition{
		condition(corev1.NodeReady, corev1.ConditionTrue),
		condition(corev1.NodeMemoryPressure, corev1.ConditionFalse),
		condition(corev1.NodeDiskPressure, corev1.ConditionFalse),
		condition(corev1.NodePIDPressure, corev1.ConditionFalse),
	}
	if err := s.Workload.Client.Status().Update(ctx, node); err != nil {
		return fmt.Errorf("reporting Node %s ready: %w", nodeName, err)
	}
	return nil
}

func (s *BootSimulator) nodeExists(ctx context.Context, providerID string) (bool, error) {
	nodes := &corev1.NodeList{}
	if err := s.Workload.Client.List(ctx, nodes); err != nil {
		return false, err
	}
	for _, n := range nodes.Items {
		if n.Spec.ProviderID == providerID {
			return true, nil
		}
	}
	return false, nil
}

func (s *BootSimulator) setBootError(ctx context.Context, m *clusterv1.Machine, message string) error {
	if m.Annotations[BootErrorAnnotation] == message {
		return nil
	}
	base := m.DeepCopy()
	if message == "" {
		delete(m.Annotations, BootErrorAnnotation)
	} else {
		if m.Annotations == nil {
			m.Annotations = map[string]string{}
		}
		m.Annotations[BootErrorAnnotation] = message
	}
	return s.Client.Patch(ctx, m, client.MergeFrom(base))
}

// JoinAsWorker does with a k0s join token what a joining worker does:
// connect to the API server the token names, trusting the CA it carries,
// authenticate as the bootstrap identity and request the node's kubelet
// client certificate.
// It returns who the API server says the token is.
func JoinAsWorker(ctx context.Context, k0sToken, nodeName string) (authenticationv1.UserInfo, error) {
	var none authenticationv1.UserInfo
	kubeconfig, err := jointoken.DecodeWorkerToken(k0sToken)
	if err != nil {
		return none, fmt.Errorf("join token: %w", err)
	}
	if kubeconfig.CurrentContext != "k0s" || kubeconfig.Contexts["k0s"] == nil || kubeconfig.Contexts["k0s"].AuthInfo != "kubelet-bootstrap" {
		return none, errors.New("join token is not a k0s worker token (context k0s, user kubelet-bootstrap)")
	}
	cfg, err := clientcmd.NewDefaultClientConfig(*kubeconfig, nil).ClientConfig()
	if err != nil {
		return none, fmt.Errorf("join token kubeconfig: %w", err)
	}
	cfg.Timeout = 10 * time.Second
	clientset, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return none, err
	}
	review, err := clientset.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return none, fmt.Errorf("the workload API server refused the join token: %w", err)
	}
	user := review.Status.UserInfo
	if !strings.HasPrefix(user.Username, "system:bootstrap:") {
		return none, fmt.Errorf("the join token authenticates as %q, not as a bootstrap token", user.Username)
	}
	csr, err := nodeCertificateRequest(nodeName)
	if err != nil {
		return none, err
	}
	_, err = clientset.CertificatesV1().CertificateSigningRequests().Create(ctx, &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "node-csr-"},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    csr,
			SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName,
			Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return none, fmt.Errorf("the bootstrap identity cannot request a node certificate: %w", err)
	}
	return user, nil
}

// JoinTokenFromBootstrapData finds the k0s join token a machine would
// write from its bootstrap data: cloud-config, MIME multi-part
// cloud-config, or Ignition.
func JoinTokenFromBootstrapData(data []byte, format string) (string, error) {
	decoded, err := render.Decode(data, render.Format(format))
	if err != nil {
		return "", err
	}
	for i := len(decoded.Files) - 1; i >= 0; i-- {
		if f := decoded.Files[i]; path.Base(f.Path) == render.TokenFileName {
			return strings.TrimSpace(string(f.Content)), nil
		}
	}
	return "", errors.New("no k0s.token file is written")
}

// BootstrapFiles returns the files bootstrap data writes, by path: the
// content of the last write to each (see render.Decode).
func BootstrapFiles(data []byte, format string) (map[string]string, error) {
	decoded, err := render.Decode(data, render.Format(format))
	if err != nil {
		return nil, err
	}
	files := make(map[string]string, len(decoded.Files))
	for _, f := range decoded.Files {
		files[f.Path] = string(f.Content)
	}
	return files, nil
}
