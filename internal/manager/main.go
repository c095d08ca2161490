package manager

import (
	"errors"
	"flag"
	"fmt"

	"github.com/spf13/pflag"
	"k8s.io/component-base/logs"
	logsv1 "k8s.io/component-base/logs/api/v1"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
)

// Main runs the cabpk0s manager with command-line arguments (without the
// program name) until SIGTERM or SIGINT: cmd/manager, and the benchmark's
// and tests' re-executions of their own binary, which must run the very
// same wiring.
func Main(args []string) error {
	opts := &Options{}
	logOptions := logs.NewOptions()

	fs := pflag.NewFlagSet("manager", pflag.ContinueOnError)
	opts.AddFlags(fs)
	logsv1.AddFlags(logOptions, fs)
	fs.AddGoFlagSet(flag.CommandLine)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil
		}
		return err
	}

	if err := logsv1.ValidateAndApply(logOptions, nil); err != nil {
		return fmt.Errorf("invalid logging flags: %w", err)
	}
	ctrl.SetLogger(klog.Background())
	log := ctrl.Log.WithName("setup")

	restConfig, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("no management cluster to connect to: %w", err)
	}
	restConfig.QPS = opts.KubeAPIQPS
	restConfig.Burst = opts.KubeAPIBurst
	restConfig.UserAgent = controllerName

	ctrlOptions, err := opts.ControllerOptions(NewScheme())
	if err != nil {
		return fmt.Errorf("invalid flags: %w", err)
	}
	mgr, err := ctrl.NewManager(restConfig, ctrlOptions)
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}

	ctx := ctrl.SetupSignalHandler()
	if err := opts.Setup(ctx, mgr); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("webhook", mgr.GetWebhookServer().StartedChecker()); err != nil {
		return fmt.Errorf("adding the liveness check: %w", err)
	}
	if err := mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker()); err != nil {
		return fmt.Errorf("adding the readiness check: %w", err)
	}

	log.Info("Starting manager", "namespace", opts.WatchNamespace, "watchFilter", opts.WatchFilterValue, "bootstrapTokenTTL", opts.BootstrapTokenTTL)
	return mgr.Start(ctx)
}
