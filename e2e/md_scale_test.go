//go:build e2e

package e2e

import (
	. "github.com/onsi/ginkgo/v2"
)

// MachineDeployment scale: 1 -> 3 -> 1. New Machines get fresh join
// tokens; deleted ones leave no Node behind.
var _ = Describe("MachineDeployment scale", func() {
	var spec *clusterSpec

	BeforeEach(func() {
		spec = newClusterSpec("md-scale")
	})

	AfterEach(func() {
		spec.cleanup()
	})

	It("scales a MachineDeployment up and down", func() {
		spec.createCluster("", 1, nil)
		cluster := spec.result.Cluster
		for _, replicas := range []int32{3, 1} {
			scaleWorkers(spec.proxy, cluster, spec.name, replicas)
		}
	})
})
