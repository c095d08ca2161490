// Command manager runs the cabpk0s bootstrap provider: the K0sWorkerConfig
// controllers plus the admission and conversion webhooks.
package main

import (
	"fmt"
	"os"

	"github.com/cabpk0s/cabpk0s/internal/manager"
)

// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

func main() {
	if err := manager.Main(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "cabpk0s:", err)
		os.Exit(1)
	}
}
