//go:build e2e

package e2e

import (
	. "github.com/onsi/ginkgo/v2"
)

// The quick start: a hosted k0s control plane, the seed's stand-alone
// Machine (v1beta1 shapes) and a MachineDeployment (v1beta2) of one; every
// worker joins and is checked (see verifyWorkers).
var _ = Describe("Quick start", Label("PR-Blocking"), func() {
	var spec *clusterSpec

	BeforeEach(func() {
		spec = newClusterSpec("quick-start")
	})

	AfterEach(func() {
		spec.cleanup()
	})

	It("joins the workers of a k0s cluster", func() {
		spec.createCluster("", 1, nil)
		By("Checking the workers: one stand-alone Machine and one MachineDeployment replica")
		verifyWorkers(spec.proxy, spec.result.Cluster, defaultExpectations(2))
	})
})
