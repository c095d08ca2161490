package simulation

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

// What a machine does with its bootstrap data, up to the kubelet: the k0s
// worker's join, done by the k0s-worker-join program (hack/envtest) through
// the kubelet's own TLS bootstrap code, so a real kube-controller-manager
// approves and signs the node's certificate and the workload API server
// decides what the token and the node may do. Only containerd, the
// kubelet's pod lifecycle and the network are not there.

// Worker is how one machine runs `k0s worker`: what the bootstrap script's
// `k0s install worker` line says, and what the machine itself is.
type Worker struct {
	// Hostname is the machine's hostname: its node name unless the kubelet
	// extra arguments set --hostname-override.
	Hostname string
	// ProviderID is what the cloud provider sets on the machine's Node.
	ProviderID string
	// K0sVersion is the k0s the machine runs; its Kubernetes minor names
	// the worker profile read.
	K0sVersion string
	// Profile is --profile; empty means default.
	Profile string
	// Labels, Taints and KubeletExtraArgs are --labels, --taints and
	// --kubelet-extra-args as the script passes them.
	Labels, Taints, KubeletExtraArgs string
	// DataDir is the machine's disk: the kubelet's credentials survive a
	// second boot there, as on a real machine.
	DataDir string
}

// Joined is the outcome of a join.
type Joined struct {
	NodeName string `json:"nodeName"`
	// NodeUser and NodeGroups are who the workload API server says the
	// node's signed client certificate is.
	NodeUser   string   `json:"nodeUser"`
	NodeGroups []string `json:"nodeGroups"`
	// ClientCertificate is the node's signed kubelet client certificate.
	ClientCertificate string `json:"clientCertificate"`
	// WorkerProfile is the worker profile ConfigMap the node read.
	WorkerProfile string `json:"workerProfile"`
	// KubeletFlags is the kubelet command line the worker would run.
	KubeletFlags []string `json:"kubeletFlags"`
}

// JoinBinary is the k0s-worker-join program `make envtest-assets` builds.
func JoinBinary() (string, error) {
	dir, err := testenv.AssetsDir()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "k0s-worker-join")
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("k0s-worker-join not found in %s: run `make envtest-assets`", dir)
	}
	return bin, nil
}

// joinTimeout bounds one join: a refused token fails within an attempt of
// the TLS bootstrap (5s); a good one is signed within a second or two.
const joinTimeout = 40 * time.Second

// Join runs the k0s worker's join for a machine with the join token.
func Join(ctx context.Context, token string, w Worker) (Joined, error) {
	var none Joined
	bin, err := JoinBinary()
	if err != nil {
		return none, err
	}
	if w.DataDir == "" || w.Hostname == "" || w.K0sVersion == "" {
		return none, errors.New("a worker needs a data directory, a hostname and a k0s version")
	}
	if err := os.MkdirAll(w.DataDir, 0o700); err != nil {
		return none, err
	}
	tokenFile := filepath.Join(w.DataDir, "k0s.token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		return none, err
	}
	defer os.Remove(tokenFile)
	profile := w.Profile
	if profile == "" {
		profile = testenv.DefaultWorkerProfile
	}
	args := []string{
		"--token-file=" + tokenFile, "--data-dir=" + w.DataDir, "--hostname=" + w.Hostname,
		"--k0s-version=" + w.K0sVersion, "--profile=" + profile, "--provider-id=" + w.ProviderID,
		"--labels=" + w.Labels, "--taints=" + w.Taints, "--kubelet-extra-args=" + w.KubeletExtraArgs,
		"--timeout=" + joinTimeout.String(),
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(lastLine(stderr.String()))
		if msg == "" {
			msg = err.Error()
		}
		return none, fmt.Errorf("k0s worker join of %s: %s", w.Hostname, msg)
	}
	var joined Joined
	if err := json.Unmarshal(stdout.Bytes(), &joined); err != nil {
		return none, fmt.Errorf("k0s-worker-join output: %w", err)
	}
	return joined, nil
}

// lastLine is the last non-empty line: the join's error, after whatever
// the libraries logged.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// Requester is who filed the certificate request the node's certificate
// was issued for, as the API server recorded it: the bootstrap token's
// identity (system:bootstrap:<id> in system:bootstrappers). c reads the
// workload cluster as an administrator.
func (j Joined) Requester(ctx context.Context, c client.Reader) (authenticationv1.UserInfo, error) {
	var none authenticationv1.UserInfo
	block, _ := pem.Decode([]byte(j.ClientCertificate))
	if block == nil {
		return none, errors.New("the join returned no certificate")
	}
	list := &certificatesv1.CertificateSigningRequestList{}
	if err := c.List(ctx, list); err != nil {
		return none, err
	}
	for _, csr := range list.Items {
		if issued, _ := pem.Decode(csr.Status.Certificate); issued != nil && bytes.Equal(issued.Bytes, block.Bytes) {
			return authenticationv1.UserInfo{Username: csr.Spec.Username, Groups: csr.Spec.Groups}, nil
		}
	}
	return none, fmt.Errorf("no certificate request issued the certificate of node %s", j.NodeName)
}
