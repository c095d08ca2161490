// Package sandboxe2e is the local end-to-end suite: the seed's scenarios on
// the embedded management plane (internal/sandbox), with real API servers,
// Cluster API's controllers and cabpk0s, and simulated machines whose join
// tokens must really authenticate.
package sandboxe2e

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.uber.org/zap/zapcore"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/cabpk0s/cabpk0s/internal/sandbox"
)

var (
	sb *sandbox.Sandbox
	// mgmt and wl are uncached clients of the management and workload clusters.
	mgmt, wl client.Client
)

func TestSandboxE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "cabpk0s sandbox e2e")
}

var _ = BeforeSuite(func(ctx SpecContext) {
	SetDefaultEventuallyTimeout(90 * time.Second)
	SetDefaultEventuallyPollingInterval(500 * time.Millisecond)
	var err error
	sb, err = sandbox.Start(context.Background(), sandbox.Options{
		StateDir:          GinkgoT().TempDir(),
		Empty:             true,
		Logger:            zap.New(zap.WriteTo(GinkgoWriter), zap.Level(zapcore.InfoLevel)),
		Out:               GinkgoWriter,
		BootstrapTokenTTL: time.Minute,
	})
	Expect(err).NotTo(HaveOccurred())
	mgmt, wl = sb.Management.Client, sb.Workload.Client
}, NodeTimeout(5*time.Minute))

var _ = AfterSuite(func() {
	if sb != nil {
		Expect(sb.Stop()).To(Succeed())
	}
})
