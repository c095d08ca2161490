package bench

import (
	"testing"

	. "github.com/onsi/gomega"
)

// TestPendingRatioAcrossSizes: CABPK measured pending at a smaller N than
// cabpk0s is compared per machine with cabpk0s's largest N, and the
// ratio's name says at which N; at an N both have, the ratio is theirs.
func TestPendingRatioAcrossSizes(t *testing.T) {
	g := NewWithT(t)
	pending := func(provider string, n int, writes float64) Result {
		return Result{Scenario: PendingScenario, Provider: provider, N: n, Pending: &PendingResult{WritesPerMachinePerTTL: writes}}
	}

	r := &Report{Results: []Result{pending(Cabpk0s, 10000, 1), pending(CABPK, 1000, 2.96)}}
	r.ComputeRatios()
	g.Expect(r.Ratios).To(ConsistOf(And(
		HaveField("Name", "pending: cabpk0s/CABPK token writes per machine per TTL (CABPK at N=1000)"),
		HaveField("N", 10000),
		HaveField("Value", BeNumerically("~", 1/2.96, 1e-9)),
	)))

	r = &Report{Results: []Result{pending(Cabpk0s, 500, 1), pending(CABPK, 500, 2), pending(Cabpk0s, 10000, 1)}}
	r.ComputeRatios()
	g.Expect(r.Ratios).To(ConsistOf(
		And(HaveField("Name", "pending: cabpk0s/CABPK token writes per machine per TTL"), HaveField("N", 500), HaveField("Value", 0.5)),
		And(HaveField("Name", "pending: cabpk0s/CABPK token writes per machine per TTL (CABPK at N=500)"), HaveField("N", 10000), HaveField("Value", 0.5)),
	))

	// Nothing to compare with: no ratio.
	r = &Report{Results: []Result{pending(Cabpk0s, 10000, 1)}}
	r.ComputeRatios()
	g.Expect(r.Ratios).To(BeEmpty())
}
