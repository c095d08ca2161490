package testenv

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/cabpk0s/cabpk0s/internal/childprocess"
)

// ControllerManager is a real kube-controller-manager (built by
// hack/envtest like kube-apiserver) running a chosen set of controllers
// against one API server, as its own process.
type ControllerManager struct {
	proc    *childprocess.Process
	LogPath string
	// dir is removed on Stop when the controller manager made it.
	dir string
}

// ControllerManagerOptions configure StartControllerManager.
type ControllerManagerOptions struct {
	// Kubeconfig reaches the API server as the controller manager.
	Kubeconfig []byte
	// Controllers are kube-controller-manager --controllers names.
	Controllers []string
	// SigningCertPEM and SigningKeyPEM, when set, are the CA the
	// csrsigning controller signs with (--cluster-signing-*-file).
	SigningCertPEM, SigningKeyPEM []byte
	// Dir receives the kubeconfig, the CA files and the log.
	Dir string
}

// Controller sets of the clusters the harness runs.
var (
	// WorkloadControllers approve and sign kubelet client certificates,
	// delete expired bootstrap tokens, sign cluster-info and collect
	// garbage, as a k0s control plane's controller manager does for joins.
	WorkloadControllers = []string{"csrapproving", "csrsigning", "tokencleaner", "bootstrapsigner", "garbagecollector"}
	// ManagementControllers are what a management cluster's controller
	// manager does that matters to providers: objects go with their owners
	// and namespaces with their contents.
	ManagementControllers = []string{"garbagecollector", "namespace"}
)

// StartControllerManager starts kube-controller-manager and waits until it
// is healthy.
func StartControllerManager(ctx context.Context, opts ControllerManagerOptions) (*ControllerManager, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(assets, "kube-controller-manager")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("kube-controller-manager not found in %s: run `make envtest-assets`", assets)
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, err
	}
	kubeconfig := filepath.Join(opts.Dir, "controller-manager.kubeconfig")
	if err := os.WriteFile(kubeconfig, opts.Kubeconfig, 0o600); err != nil {
		return nil, err
	}
	port, err := childprocess.FreePort()
	if err != nil {
		return nil, err
	}
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--controllers=" + strings.Join(opts.Controllers, ","),
		"--leader-elect=false",
		"--use-service-account-credentials=false",
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + filepath.Join(opts.Dir, "serving"),
		// Newly installed CRDs are watched (for the garbage collector) soon.
		"--v=1",
	}
	if opts.SigningCertPEM != nil {
		cert, key := filepath.Join(opts.Dir, "signing-ca.crt"), filepath.Join(opts.Dir, "signing-ca.key")
		if err := os.WriteFile(cert, opts.SigningCertPEM, 0o600); err != nil {
			return nil, err
		}
		if err := os.WriteFile(key, opts.SigningKeyPEM, 0o600); err != nil {
			return nil, err
		}
		args = append(args, "--cluster-signing-cert-file="+cert, "--cluster-signing-key-file="+key)
	}
	logPath := filepath.Join(opts.Dir, "kube-controller-manager.log")
	proc, err := childprocess.Start(childprocess.Command{Path: bin}, args, logPath)
	if err != nil {
		return nil, err
	}
	cm := &ControllerManager{proc: proc, LogPath: logPath}
	healthClient := &http.Client{Timeout: time.Second, Transport: &http.Transport{
		// Its self-signed serving certificate is not worth trusting here:
		// only liveness is asked.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec
	}}
	url := "https://127.0.0.1:" + strconv.Itoa(port) + "/healthz"
	if err := proc.WaitReady(ctx, childprocess.HTTPProbe(healthClient, url), time.Minute); err != nil {
		return nil, errors.Join(err, cm.Stop())
	}
	return cm, nil
}

// Stop stops the controller manager and waits for it.
func (cm *ControllerManager) Stop() error {
	if cm == nil || cm.proc == nil {
		return nil
	}
	cm.proc.Stop(stopTimeout)
	if cm.dir != "" {
		return os.RemoveAll(cm.dir)
	}
	return nil
}

// startManagementControllerManager runs the controllers a management
// cluster's controller manager runs that providers rely on
// (ManagementControllers), against env, with files under a new temporary
// directory.
func startManagementControllerManager(ctx context.Context, env *envtest.Environment, cfg *rest.Config) (*ControllerManager, error) {
	user, err := env.AddUser(envtest.User{Name: ControllerManagerUser, Groups: []string{"system:masters"}}, cfg)
	if err != nil {
		return nil, err
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "cabpk0s-management-kcm-")
	if err != nil {
		return nil, err
	}
	cm, err := StartControllerManager(ctx, ControllerManagerOptions{Kubeconfig: kubeconfig, Controllers: ManagementControllers, Dir: dir})
	if err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	cm.dir = dir
	return cm, nil
}
