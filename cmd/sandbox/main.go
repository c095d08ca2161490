// Command sandbox runs cabpk0s on an embedded management plane with no
// Docker and no cloud (see internal/sandbox), applies the seed's samples and
// shows Clusters, Machines and K0sWorkerConfigs live until interrupted.
// It carries every manifest it installs, so it runs from anywhere; only
// kube-apiserver and etcd come from $KUBEBUILDER_ASSETS (or the cache
// `make envtest-assets` fills).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"go.uber.org/zap/zapcore"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/cabpk0s/cabpk0s/internal/manager"
	"github.com/cabpk0s/cabpk0s/internal/sandbox"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(1)
	}
}

func run() error {
	stateDir := flag.String("state-dir", ".sandbox", "Directory for management.kubeconfig, workload.kubeconfig, controllers.log and the ready file.")
	empty := flag.Bool("empty", false, "Apply none of the sample Machines and MachineDeployments (Cluster default/cp-test is still created).")
	controlPlaneMachines := flag.Int("control-plane-machines", 0, "Also create Cluster "+sandbox.MachinesCluster+", whose control plane is a K0sControlPlane of this many controller Machines bootstrapped by K0sControllerConfigs.")
	tokenTTL := flag.Duration("bootstrap-token-ttl", manager.DefaultBootstrapTokenTTL, "cabpk0s's join token lifetime.")
	verbosity := flag.Int("v", 2, "Verbosity of controllers.log.")
	interval := flag.Duration("refresh", 2*time.Second, "How often the status table is redrawn.")
	exitWhenReady := flag.Bool("exit-when-ready", false, "Stop everything and exit once the ready file is written (with --empty, a quick check that the sandbox comes up).")
	flag.Parse()

	if *verbosity < 0 || *verbosity > 10 {
		return fmt.Errorf("-v must be between 0 and 10")
	}
	if err := os.MkdirAll(*stateDir, 0o750); err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(*stateDir, "controllers.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	level := zapcore.Level(-int8(*verbosity))
	logger := zap.New(zap.WriteTo(logFile), zap.Level(level))
	klog.SetLogger(logger)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	fmt.Printf("cabpk0s sandbox: state in %s, controller logs in %s\n", *stateDir, logFile.Name())
	sb, err := sandbox.Start(ctx, sandbox.Options{
		StateDir: *stateDir, Empty: *empty, Logger: logger, Out: os.Stdout, BootstrapTokenTTL: *tokenTTL, ControlPlaneMachines: *controlPlaneMachines,
	})
	if err != nil {
		return err
	}
	fmt.Printf("ready: KUBECONFIG=%s kubectl get clusters,machines,k0sworkerconfigs -A\n", filepath.Join(*stateDir, "management.kubeconfig"))

	if !*exitWhenReady {
		watch(ctx, sb, *interval)
	}

	fmt.Println("\nshutting down")
	stopped := make(chan error, 1)
	go func() { stopped <- sb.Stop() }()
	select {
	case err := <-stopped:
		_ = os.Remove(filepath.Join(*stateDir, "ready"))
		return err
	case <-time.After(10 * time.Second):
		return fmt.Errorf("shutdown took longer than 10 seconds")
	}
}

// watch redraws the status table until ctx is done.
func watch(ctx context.Context, sb *sandbox.Sandbox, interval time.Duration) {
	clear := isTerminal(os.Stdout)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	last := ""
	for {
		table, err := sandbox.StatusTable(ctx, sb.Management.Client)
		if err != nil && ctx.Err() == nil {
			table = "reading status: " + err.Error() + "\n"
		}
		if table != last && ctx.Err() == nil {
			if clear {
				fmt.Print("\033[H\033[2J")
			}
			fmt.Printf("%s  (Ctrl-C to stop)\n\n%s", time.Now().Format(time.TimeOnly), table)
			last = table
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

func isTerminal(f *os.File) bool {
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
