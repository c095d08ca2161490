// Command manager runs the cabpk0s bootstrap provider: the K0sWorkerConfig
// controllers plus the admission and conversion webhooks. `manager render`
// (shipped as cabpk0s) prints a config's bootstrap data without a cluster.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/cabpk0s/cabpk0s/internal/manager"
	"github.com/cabpk0s/cabpk0s/internal/rendercmd"
)

// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

func main() {
	if len(os.Args) > 1 && os.Args[1] == "render" {
		os.Exit(rendercmd.Run(context.Background(), os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	if err := manager.Main(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "cabpk0s:", err)
		os.Exit(1)
	}
}
