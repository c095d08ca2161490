package testenv

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// ControllerManager is a real kube-controller-manager (built by
// hack/envtest like kube-apiserver) running a chosen set of controllers
// against one API server, as its own process.
type ControllerManager struct {
	cmd     *exec.Cmd
	exited  chan error
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
	port, err := freeLocalPort()
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
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group, so a test binary killed mid-run is not
	// survived by it for long: Stop kills the group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting kube-controller-manager: %w", err)
	}
	cm := &ControllerManager{cmd: cmd, exited: make(chan error, 1), LogPath: logPath}
	go func() { cm.exited <- cmd.Wait() }()
	if err := cm.waitHealthy(ctx, port); err != nil {
		return nil, errors.Join(err, cm.Stop())
	}
	return cm, nil
}

func (cm *ControllerManager) waitHealthy(ctx context.Context, port int) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{
		// Its self-signed serving certificate is not worth trusting here:
		// only liveness is asked.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec
	}}
	url := "https://127.0.0.1:" + strconv.Itoa(port) + "/healthz"
	deadline := time.Now().Add(time.Minute)
	for {
		select {
		case err := <-cm.exited:
			cm.exited <- err
			if err == nil {
				err = errors.New("exit status 0")
			}
			return fmt.Errorf("kube-controller-manager exited: %w: %s", err, tail(cm.LogPath))
		default:
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kube-controller-manager was not healthy within a minute: %s", tail(cm.LogPath))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Stop stops the controller manager and waits for it.
func (cm *ControllerManager) Stop() error {
	if cm == nil || cm.cmd.Process == nil {
		return nil
	}
	_ = syscall.Kill(-cm.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-cm.exited:
	case <-time.After(stopTimeout):
		_ = syscall.Kill(-cm.cmd.Process.Pid, syscall.SIGKILL)
		<-cm.exited
	}
	if cm.dir != "" {
		return os.RemoveAll(cm.dir)
	}
	return nil
}

// tail is the end of a log file, for an error message.
func tail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	const keep = 2000
	if len(data) > keep {
		data = data[len(data)-keep:]
	}
	return string(data)
}

func freeLocalPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
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
