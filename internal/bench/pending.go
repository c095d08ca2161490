package bench

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

// The pending scenario: what machines that never join cost. The N
// configs of the saturation scenario get their data, then the provider is
// watched for Periods token TTLs (shortened with --bootstrap-token-ttl, so
// several fit in a run) while nothing else happens: every write it makes
// to the workload cluster keeps a pending machine's token alive. The floor
// is one write per machine per TTL.

// pendingClientQPS is the workload client rate both providers get in the
// pending scenario: with a TTL of minutes and thousands of pending
// machines, the default (20 per second) cannot refresh them all, and the
// scenario measures the refresh policy, not the rate limit.
const pendingClientQPS = 200

// pendingArgs are the provider flags of the pending scenario (cabpk0s and
// CABPK share their names).
func pendingArgs(o RunOptions) []string {
	if o.Scenario != PendingScenario {
		return nil
	}
	return []string{
		"--bootstrap-token-ttl", o.TokenTTL.String(),
		"--clustercache-client-qps", strconv.Itoa(pendingClientQPS), "--clustercache-client-burst", strconv.Itoa(2 * pendingClientQPS),
	}
}

// PendingResult is what the pending scenario measured after the data was
// written.
type PendingResult struct {
	TTLSeconds    float64 `json:"ttlSeconds"`
	Periods       int     `json:"periods"`
	WindowSeconds float64 `json:"windowSeconds"`
	// Workload counts the provider's requests to the workload API server
	// in the window, by "verb resource".
	Workload Requests `json:"workloadRequests"`
	// Management counts its requests to the management API server.
	Management Requests `json:"managementRequests"`
	// WritesPerMachinePerTTL is the workload writes over the pending
	// machines (N and the warm-up's) and Periods.
	WritesPerMachinePerTTL float64 `json:"writesPerMachinePerTTL"`
	// CPUSecondsPerPeriod is the provider's CPU time per TTL.
	CPUSecondsPerPeriod float64 `json:"cpuSecondsPerPeriod"`
	// TokensExpired counts the bootstrap-token deletions by the workload's
	// token cleaner in the window: a pending machine's token the provider
	// let expire.
	TokensExpired int `json:"tokensExpired"`
}

// watchPending measures the window of o.Periods TTLs after the last data
// secret.
func watchPending(ctx context.Context, o RunOptions, p provider, e *environment, proc *Process, progress func(string, ...any)) (*PendingResult, error) {
	window := time.Duration(o.Periods) * o.TokenTTL
	progress("watching %d pending machines for %d token TTLs of %s", o.N, o.Periods, o.TokenTTL)
	before, err := proc.Usage()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := sleep(ctx, window); err != nil {
		return nil, err
	}
	end := time.Now()
	after, err := proc.Usage()
	if err != nil {
		return nil, err
	}
	r := &PendingResult{TTLSeconds: o.TokenTTL.Seconds(), Periods: o.Periods, WindowSeconds: end.Sub(start).Seconds()}
	if r.Management, err = e.managementAudit.Count(Client{Username: providerUser}, start, end); err != nil {
		return nil, err
	}
	if r.Workload, err = e.workloadAudit.Count(Client{UserAgentContains: p.workloadAgent}, start, end); err != nil {
		return nil, err
	}
	cleaned, err := e.workloadAudit.Count(Client{Username: testenv.ControllerManagerUser}, start, end)
	if err != nil {
		return nil, err
	}
	for key, n := range cleaned {
		if strings.HasPrefix(key, "delete secrets") {
			r.TokensExpired += n
		}
	}
	// The warm-up machine is pending too.
	r.WritesPerMachinePerTTL = float64(r.Workload.Writes()) / float64(o.N+1) / float64(o.Periods)
	r.CPUSecondsPerPeriod = (after.CPUSeconds - before.CPUSeconds) / float64(o.Periods)
	return r, nil
}
