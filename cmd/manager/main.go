// Command manager runs the cabpk0s bootstrap provider: the K0sWorkerConfig
// controllers plus the admission and conversion webhooks.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/spf13/pflag"
	"k8s.io/component-base/logs"
	logsv1 "k8s.io/component-base/logs/api/v1"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/cabpk0s/cabpk0s/internal/manager"
)

// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "cabpk0s:", err)
		os.Exit(1)
	}
}

func run() error {
	opts := &manager.Options{}
	logOptions := logs.NewOptions()

	fs := pflag.CommandLine
	opts.AddFlags(fs)
	logsv1.AddFlags(logOptions, fs)
	fs.AddGoFlagSet(flag.CommandLine)
	pflag.Parse()

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
	restConfig.UserAgent = "cabpk0s-manager"

	ctrlOptions, err := opts.ControllerOptions(manager.NewScheme())
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
