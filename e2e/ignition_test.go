//go:build e2e

package e2e

import (
	. "github.com/onsi/ginkgo/v2"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
)

// Ignition on AWS: Flatcar Container Linux workers bootstrapped from the
// Ignition config cabpk0s renders (the seed's v1beta1 `ignition` field on
// the stand-alone Machine, v1beta2 `provisioner` on the MachineDeployment).
var _ = Describe("Ignition (Flatcar)", func() {
	var spec *clusterSpec

	BeforeEach(func() {
		onlyOn(awsProviderName, "CAPD runs no Ignition; the flatcar flavor needs real Flatcar machines")
		spec = newClusterSpec("flatcar")
	})

	AfterEach(func() {
		spec.cleanup()
	})

	It("joins Flatcar workers bootstrapped with Ignition", func() {
		spec.createCluster("flatcar", 1, nil)
		want := defaultExpectations(2)
		want.format = bootstrapv1.ProvisioningFormatIgnition
		want.osImage = "Flatcar Container Linux"
		verifyWorkers(spec.proxy, spec.result.Cluster, want)
	})
})
