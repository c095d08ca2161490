package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"

	"github.com/cabpk0s/cabpk0s/internal/manager"
)

// roleEnv makes the test binary run as a provider process: the benchmark
// starts providers as programs of their own, and the test's are this very
// binary, so cabpk0s runs with the same wiring as cmd/manager (and under
// the race detector when the tests do).
const roleEnv = "CABPK0S_BENCH_TEST_ROLE"

func TestMain(m *testing.M) {
	var err error
	switch os.Getenv(roleEnv) {
	case "":
		os.Exit(m.Run())
	case "manager":
		err = manager.Main(os.Args[1:])
	case "floor":
		err = FloorMain(context.Background(), os.Args[1:])
	default:
		err = fmt.Errorf("unknown role %q", os.Getenv(roleEnv))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// TestRequestsPerMachine runs the benchmark's machinery at a small N, in
// every scenario, and holds cabpk0s to its request budget: per machine,
// the floor's three writes (the token ID and its finalizer are reserved at
// admission, before the token exists), and no read the cache could serve. The floor's own
// count proves the audit log attribution: it does exactly three writes by
// construction. A restart with every config settled writes nothing and
// reads nothing its caches hold; machines spread over two Clusters get a
// connection per Cluster; pending machines cost one token write each per
// TTL and nothing else.
func TestRequestsPerMachine(t *testing.T) {
	const n = 3
	// The pending scenario's TTL: two of them fit in the test.
	const pendingTTL = 20 * time.Second
	commands := testCommands(t)
	for _, scenario := range Scenarios() {
		for _, tc := range []struct {
			provider           string
			management, wantWL Requests
		}{
			{
				provider:   Floor,
				management: Requests{"create secrets": n, "patch k0sworkerconfigs/status": n},
				wantWL:     Requests{"create secrets": n},
			},
			{
				provider:   Cabpk0s,
				management: Requests{"create secrets": n, "patch k0sworkerconfigs/status": n},
				wantWL:     Requests{"create secrets": n},
			},
		} {
			clusters, periods := 0, 0
			if scenario == ClustersScenario || scenario == PendingScenario {
				if tc.provider == Floor {
					continue // the floor serves one cluster and refreshes nothing
				}
				clusters, periods = 2, 2
			}
			t.Run(scenario+"/"+tc.provider, func(t *testing.T) {
				g := NewWithT(t)
				dir := t.TempDir()
				result, err := Run(context.Background(), RunOptions{
					Scenario: scenario, Provider: tc.provider, N: n, Clusters: clusters, Restart: tc.provider == Cabpk0s && scenario == SaturationScenario,
					TokenTTL: pendingTTL, Periods: periods, Profile: time.Second,
					Commands: commands, Dir: dir,
					Timeout: 2 * time.Minute, Settle: 2 * time.Second, Log: logr.Discard(),
				})
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(result.Scenario).To(Equal(scenario))
				g.Expect(result.WallSeconds).To(BeNumerically(">", 0))
				g.Expect(result.MachinesPerSecond).To(BeNumerically("~", n/result.WallSeconds, 1e-9))
				g.Expect(result.PeakRSSBytes).To(BeNumerically(">", 0))

				g.Expect(writes(result.Management)).To(Equal(tc.management), "management writes")
				g.Expect(writes(result.Workload)).To(Equal(tc.wantWL), "workload writes")
				for _, r := range []Requests{result.Management, result.Workload} {
					for key := range r {
						g.Expect(key).NotTo(HavePrefix("get secrets"), "Secrets read per machine")
						g.Expect(key).NotTo(HavePrefix("list "), "lists during the scale-up")
					}
				}
				if tc.provider == Cabpk0s {
					// The metrics agree with the audit log: they count from the
					// process's start, so the warm-up machine is one more.
					made := float64(result.Workload["create secrets"] + 1)
					g.Expect(result.Metrics).To(HaveKeyWithValue(`cabpk0s_join_token_operations_total{operation=created}`, made))
					g.Expect(result.Metrics).To(HaveKeyWithValue(`cabpk0s_bootstrap_data_renders_total{result=written}`, float64(result.Management["create secrets"]+1)))
					g.Expect(result.Metrics).To(HaveKeyWithValue(`cabpk0s_bootstrap_data_ready_seconds_count`, made))
					live := 0.0
					for key, v := range result.Metrics {
						if strings.HasPrefix(key, "cabpk0s_join_tokens_live{") {
							live += v
						}
					}
					g.Expect(live).To(Equal(made), "no machine joins in the benchmark: %v", result.Metrics)
				}
				if scenario == ScaleScenario {
					return
				}
				g.Expect(result.Ready).NotTo(BeEmpty())
				g.Expect(result.Ready[len(result.Ready)-1].Ready).To(Equal(n), "the ready curve ends with every machine")
				g.Expect(result.WriteSeconds).To(BeNumerically(">", 0))
				if scenario == PendingScenario {
					pr := result.Pending
					g.Expect(pr).NotTo(BeNil())
					t.Logf("pending: %d workload writes over %d TTLs (%.2f per machine per TTL): %v", pr.Workload.Writes(), pr.Periods, pr.WritesPerMachinePerTTL, pr.Workload)
					// One extension per pending machine per TTL, and nothing
					// else: no read per token, no write to the management cluster.
					// The warm-up machine is pending too.
					g.Expect(pr.Workload.Writes()).To(BeNumerically("<=", (n+1)*periods), "token writes: %v", pr.Workload)
					g.Expect(pr.Workload.Writes()).To(BeNumerically(">=", (n+1)*(periods-1)), "the tokens are kept alive: %v", pr.Workload)
					g.Expect(pr.WritesPerMachinePerTTL).To(BeNumerically("<=", 1))
					g.Expect(objectGets(pr.Workload)).To(BeZero(), "no token read: %v", pr.Workload)
					g.Expect(pr.Management.Writes()).To(BeZero(), "nothing written to the management cluster: %v", pr.Management)
					g.Expect(pr.TokensExpired).To(BeZero())
					g.Expect(pr.CPUSecondsPerPeriod).To(BeNumerically(">", 0))
				}
				if tc.provider == Cabpk0s && (scenario == SaturationScenario || scenario == ClustersScenario) {
					for _, file := range []string{"cpu.pprof", "heap.pprof"} {
						profile, err := os.ReadFile(filepath.Join(dir, file))
						g.Expect(err).NotTo(HaveOccurred())
						g.Expect(profile).To(HavePrefix("\x1f\x8b"), "%s is a gzipped pprof profile", file)
					}
				}
				if scenario == ClustersScenario {
					g.Expect(result.Clusters).To(Equal(clusters))
					t.Logf("clusters: %d connections to the workload API server for %d Clusters and the warm-up's", result.WorkloadConnections, clusters)
					// A connection per Cluster (the warm-up's too): Clusters that
					// share a workload API server are not folded into one.
					g.Expect(result.WorkloadConnections).To(BeNumerically(">=", clusters+1), "connections to the workload API server")
				}
				if tc.provider != Cabpk0s || scenario != SaturationScenario {
					g.Expect(result.Restart).To(BeNil())
					return
				}
				restart := result.Restart
				g.Expect(restart).NotTo(BeNil())
				g.Expect(restart.Configs).To(Equal(n + 1))
				g.Expect(restart.Reconciles).To(BeNumerically(">=", n+1), "every config is looked at again")
				g.Expect(restart.Management.Writes()+restart.Workload.Writes()).To(BeZero(), "a settled config needs no write: %v %v", restart.Management, restart.Workload)
				g.Expect(objectGets(restart.Management)).To(BeZero(), "no uncached read of the management cluster: %v", restart.Management)
				// A restarted process finds the pending tokens in its cache of
				// the workload's bootstrap tokens: one list and one watch, no
				// read per config.
				g.Expect(objectGets(restart.Workload)).To(BeZero(), "no uncached read of the workload cluster: %v", restart.Workload)
				g.Expect(restart.Workload["list secrets"]).To(BeNumerically("<=", 1), "the token cache's one list: %v", restart.Workload)
				g.Expect(restart.InitialListSeconds).To(BeNumerically(">", 0))
				g.Expect(restart.IdleSeconds).To(BeNumerically(">=", restart.InitialListSeconds))
			})
		}
	}
}

// TestOverBudget: a provider that is not done within the budget is
// reported with what it finished, at the rate it managed, and not
// restarted on configs that are not settled; the run does not fail.
func TestOverBudget(t *testing.T) {
	g := NewWithT(t)
	const n, budget = 3, time.Millisecond
	result, err := Run(context.Background(), RunOptions{
		Scenario: SaturationScenario, Provider: Cabpk0s, N: n, Restart: true,
		Commands: testCommands(t), Dir: t.TempDir(),
		Timeout: 2 * time.Minute, Budget: budget, Settle: time.Second, Log: logr.Discard(),
	})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(result.Unfinished).To(BeTrue(), "three configs cannot have data a millisecond after the first is written")
	g.Expect(result.Finished).To(BeNumerically("<", n))
	g.Expect(result.WallSeconds).To(Equal(budget.Seconds()))
	g.Expect(result.MachinesPerSecond).To(Equal(float64(result.Finished) / budget.Seconds()))
	g.Expect(result.Restart).To(BeNil(), "unsettled configs are not a restart's measure")
	g.Expect(result.rate()).To(HaveSuffix(fmt.Sprintf("(%d of %d within 0 s)", result.Finished, n)))
}

// testCommands runs the providers as this very test binary (see TestMain).
func testCommands(t *testing.T) Commands {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Commands{
		Manager: Command{Path: self, Env: []string{roleEnv + "=manager"}},
		Floor:   Command{Path: self, Env: []string{roleEnv + "=floor"}},
	}
}

func writes(r Requests) Requests {
	out := Requests{}
	for key, v := range r {
		verb, _, _ := strings.Cut(key, " ")
		switch verb {
		case "create", "update", "patch", "delete":
			out[key] = v
		}
	}
	return out
}

// TestPendingFillIsNotBudgeted: the pending scenario measures what comes
// after the data, so filling it is not held to the budget: with a budget
// no provider could meet, every config still gets its data and the
// pending window is measured.
func TestPendingFillIsNotBudgeted(t *testing.T) {
	g := NewWithT(t)
	const n = 3
	result, err := Run(context.Background(), RunOptions{
		Scenario: PendingScenario, Provider: Cabpk0s, N: n,
		Commands: testCommands(t), Dir: t.TempDir(),
		Timeout: 2 * time.Minute, Budget: time.Millisecond, Settle: time.Second, Log: logr.Discard(),
		TokenTTL: 20 * time.Second, Periods: 1,
	})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(result.Unfinished).To(BeFalse())
	g.Expect(result.Pending).NotTo(BeNil())
	g.Expect(result.Pending.Periods).To(Equal(1))
}
