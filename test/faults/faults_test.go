// Package faults is cabpk0s's fault-injection suite: a MachineDeployment
// scaled 0 -> 200 -> 50 -> 200 on real API servers with Cluster API's
// controllers, a quarter of its Machines booting and joining through the
// kubelet's TLS bootstrap, while two manager replicas (each its own OS
// process, with leader election) are killed, lose their lease, meet a
// restarted management API server, a workload API server down for longer
// than the token TTL, injected conflicts and server errors, a paused
// Cluster and bad input. Afterwards the invariants of docs/reliability.md
// are checked and printed as a table.
//
// The run is seeded (CABPK0S_FAULTS_SEED replays one); `make soak` adds a
// long stretch of scaling without process faults and measures goroutines
// and memory over it (CABPK0S_FAULTS_SOAK).
package faults

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util/conditions"

	"github.com/cabpk0s/cabpk0s/internal/failpoint"
	"github.com/cabpk0s/cabpk0s/internal/manager"
	"github.com/cabpk0s/cabpk0s/internal/simulation"
)

// The test binary is also the manager: a replica is this binary run again
// with roleEnv set, so it is cabpk0s with the wiring of cmd/manager plus
// the failpoint hooks, and under the race detector when the tests are.
const (
	roleEnv         = "CABPK0S_FAULTS_ROLE"
	failpointDirEnv = "CABPK0S_FAULTS_FAILPOINTS"

	seedEnv   = "CABPK0S_FAULTS_SEED"
	soakEnv   = "CABPK0S_FAULTS_SOAK"
	reportEnv = "CABPK0S_FAULTS_REPORT"
)

func TestMain(m *testing.M) {
	if os.Getenv(roleEnv) != "manager" {
		os.Exit(m.Run())
	}
	registerFailpoints(os.Getenv(failpointDirEnv))
	if err := manager.Main(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// The scenario's MachineDeployment sizes.
var phases = []int{200, 50, 200}

// settleTimeout bounds each phase; a run that cannot settle fails.
const settleTimeout = 8 * time.Minute

func TestFaults(t *testing.T) {
	seed := time.Now().UnixNano()
	if v := os.Getenv(seedEnv); v != "" {
		var err error
		if seed, err = strconv.ParseInt(v, 10, 64); err != nil {
			t.Fatalf("%s: %v", seedEnv, err)
		}
	}
	var soak time.Duration
	if v := os.Getenv(soakEnv); v != "" {
		var err error
		if soak, err = time.ParseDuration(v); err != nil {
			t.Fatalf("%s: %v", soakEnv, err)
		}
	}
	t.Logf("seed %d: replay with %s=%d", seed, seedEnv, seed)
	ctx := t.Context()
	started := time.Now()

	env := startEnvironment(t, seed)
	obs, err := observe(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := startReplicas(ctx, env, 2)
	if err != nil {
		t.Fatal(err)
	}
	sourceReplicas := rs
	stopped := false
	stopReplicas := func() {
		if !stopped {
			stopped = true
			rs.stop()
		}
	}
	t.Cleanup(stopReplicas)

	sched := newScheduler(env, rs, seed, t.Logf)
	parts := sched.parts(len(phases))

	var deadData []string
	check := func(phase string, replicas int) {
		s, err := settle(ctx, env, obs, replicas, settleTimeout, t.Logf)
		if err != nil {
			t.Fatalf("%s: %v\nreplica exits: %v", phase, err, rs.exited())
		}
		deadData = append(deadData, deadTokenData(s, obs.seen(), time.Now())...)
		t.Logf("%s settled after %s: %d Machines, %d joined so far, %d SIGKILLs", phase, time.Since(started).Round(time.Second), len(s.machines), len(obs.seen().joined), rs.sigkills())
	}
	// Each phase: scale, deal its part of the deck while the Machines
	// come and go, then settle with no fault running.
	for i, n := range phases {
		if i == 0 {
			// The first scale-up mints tokens for sure: one kill at the
			// failpoint is certain, whatever the deck deals later.
			if err := rs.armFailpoint(failpoint.JoinTokenCreated); err != nil {
				t.Fatal(err)
			}
		}
		if err := retry(ctx, func() error { return env.scale(ctx, n) }); err != nil {
			t.Fatal(err)
		}
		sched.run(ctx, parts[i])
		if err := sched.err(); err != nil {
			t.Fatalf("injecting faults: %v", err)
		}
		check(fmt.Sprintf("phase %d (%d replicas)", i+1, n), n)
	}

	// The last fault: the cluster moved with clusterctl mid-scale; the
	// rest of the run is on the target.
	source := env
	env, rs = moveMidScale(ctx, t, source, obs, rs, phases[len(phases)-1])
	all := []*replicas{sourceReplicas, rs}
	check(fmt.Sprintf("phase %d (clusterctl move mid-scale, then %d on the target)", len(phases)+1, phases[len(phases)-1]), phases[len(phases)-1])

	var growth *growthFigures
	if soak > 0 {
		var soakDeadData []string
		if growth, soakDeadData, err = soakRun(ctx, t, env, obs, rs, soak); err != nil {
			t.Fatal(err)
		}
		deadData = append(deadData, soakDeadData...)
	}

	// The final state is read with every replica stopped, so nothing
	// changes under the checks.
	final, err := settle(ctx, env, obs, phases[len(phases)-1], settleTimeout, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	stopReplicas()
	deadData = append(deadData, deadTokenData(final, obs.seen(), time.Now())...)
	creations, err := env.workload.TokenCreations()
	if err != nil {
		t.Fatal(err)
	}
	created := map[string]tokenCreated{}
	for _, c := range creations {
		if c.ByCabpk0s() {
			t := created[c.ID]
			if t.times == 0 {
				t.first = c.At
			}
			t.times++
			created[c.ID] = t
		}
	}
	var evs []string
	for _, e := range []*environment{source, env} {
		more, err := events(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, more...)
	}
	key, err := caKey(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	facts := runFacts{
		final: final, seen: obs.seen(), deadData: dedupe(deadData), creations: created,
		logFiles: logFiles(all), events: evs, caKey: key, shouldBoot: env.shouldBoot,
	}
	rows := invariants(facts)
	rows = append(rows, growth.row())
	report := reportText(seed, time.Since(started), sched, all, source, rows, soak)
	t.Log("\n" + report)
	if path := os.Getenv(reportEnv); path != "" {
		if err := writeReport(path, report); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range rows {
		if !r.ok {
			t.Errorf("%s: %s, must be %s: %s", r.name, r.got, r.mustBe, strings.Join(first(r.detail, 10), "; "))
		}
	}
	if kills := sigkills(all); kills < 20 {
		t.Errorf("only %d SIGKILLs in the run, want at least 20", kills)
	}
	if sourceReplicas.failpointKills(failpoint.JoinTokenCreated) == 0 {
		t.Error("no replica was killed between token creation and data write")
	}
}

// settle waits until the MachineDeployment has replicas Machines and no
// more, every Machine has data, every Machine that boots has joined
// (unless its config reported its token lost), and no joined Machine's
// token is live.
func settle(ctx context.Context, e *environment, o *observer, replicas int, timeout time.Duration, logf func(string, ...any)) (state, error) {
	deadline := time.Now().Add(timeout)
	why := "not read yet"
	nextLog := time.Now().Add(30 * time.Second)
	for {
		if time.Now().After(nextLog) {
			logf("waiting to settle at %d: %s", replicas, why)
			nextLog = time.Now().Add(30 * time.Second)
		}
		s, err := readState(ctx, e)
		if err == nil {
			if why = unsettled(s, e, o.seen(), replicas); why == "" {
				return s, nil
			}
		} else {
			why = err.Error()
		}
		if time.Now().After(deadline) {
			return s, fmt.Errorf("not settled after %s: %s", timeout, why)
		}
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

func unsettled(s state, e *environment, seen seen, replicas int) string {
	running, deleting := 0, 0
	var noData, notJoined []string
	for name, m := range s.machines {
		if !m.DeletionTimestamp.IsZero() {
			deleting++
			continue
		}
		if m.Labels[clusterv1.MachineDeploymentNameLabel] == deploymentName {
			running++
		}
		config, ok := s.configs[m.Spec.Bootstrap.ConfigRef.Name]
		if !ok || !ptr.Deref(config.Status.Initialization.DataSecretCreated, false) {
			noData = append(noData, name)
			continue
		}
		if !seen.lost(config.UID) && e.shouldBoot(&m) && !m.Status.NodeRef.IsDefined() {
			// Why, as far as the harness can tell: the simulated boot's
			// error, the config's condition, and whether the Machine has
			// its data and instance yet.
			notJoined = append(notJoined, fmt.Sprintf("%s (boot error %q; config %s: %s; data secret %v, provider ID %q)", name,
				m.Annotations[simulation.BootErrorAnnotation], conditions.GetReason(&config, clusterv1.ReadyCondition),
				conditions.GetMessage(&config, clusterv1.ReadyCondition), m.Spec.Bootstrap.DataSecretName != nil, m.Spec.ProviderID))
		}
	}
	var liveJoined []string
	for id, t := range s.tokens {
		name, ok := strings.CutPrefix(string(t.Data[bootstrapapi.BootstrapTokenDescriptionKey]), tokenDescriptionPrefix)
		if !ok {
			continue
		}
		config := s.configs[strings.TrimSuffix(name, ", managed by cabpk0s")]
		if m, ok := s.machines[configMachine(config)]; ok && m.Status.NodeRef.IsDefined() {
			liveJoined = append(liveJoined, id)
		}
	}
	switch {
	case running != replicas || deleting > 0:
		return fmt.Sprintf("%d of %d Machines, %d deleting", running, replicas, deleting)
	case len(noData) > 0:
		return fmt.Sprintf("%d Machines without data (%v)", len(noData), first(sorted(noData), 5))
	case len(notJoined) > 0:
		return fmt.Sprintf("%d Machines that boot have not joined (%v)", len(notJoined), first(sorted(notJoined), 5))
	case len(liveJoined) > 0:
		return fmt.Sprintf("%d joined Machines' tokens are live", len(liveJoined))
	}
	return ""
}

func logFiles(all []*replicas) []string {
	var out []string
	for _, rs := range all {
		for _, r := range rs.list {
			out = append(out, r.logPath)
		}
	}
	return out
}

func sigkills(all []*replicas) int {
	n := 0
	for _, rs := range all {
		n += rs.sigkills()
	}
	return n
}

// reportText: the faults were dealt on the source management cluster
// (all[0]); the target's leader was killed once, mid-scale.
func reportText(seed int64, took time.Duration, sched *scheduler, all []*replicas, source *environment, rows []invariant, soak time.Duration) string {
	var b strings.Builder
	kind := "short run (make test)"
	if soak > 0 {
		kind = fmt.Sprintf("soak of %s (make soak)", soak)
	}
	fmt.Fprintf(&b, "Fault suite, %s: seed %d, %s, MachineDeployment %v with %d%% of Machines joining, then moved with clusterctl mid-scale to %d on another management cluster; 2 replicas per management cluster, token TTL %s.\n\n",
		kind, seed, took.Round(time.Second), phases, bootPercent, phases[len(phases)-1], tokenTTL)
	sourceReplicas := all[0]
	b.WriteString("| fault | times |\n|---|---|\n")
	for _, f := range faultOrder {
		n := sched.count(f)
		switch f {
		case killAfterToken:
			fmt.Fprintf(&b, "| %s | %d armed (one more before the first scale-up), %d hit |\n", f, n, sourceReplicas.failpointKills(failpoint.JoinTokenCreated))
		case killAfterData:
			fmt.Fprintf(&b, "| %s | %d armed, %d hit |\n", f, n, sourceReplicas.failpointKills(failpoint.DataSecretWritten))
		case conflictsAndErrors:
			conflicts, serverErrors := source.proxy.counts()
			fmt.Fprintf(&b, "| %s | %d windows: %d conflicts, %d server errors |\n", f, n, conflicts, serverErrors)
		default:
			fmt.Fprintf(&b, "| %s | %d |\n", f, n)
		}
	}
	b.WriteString("| `clusterctl move` mid-scale, the target's leader killed while it scales | 1 |\n")
	processes, exits := 0, 0
	for _, rs := range all {
		processes += rs.processes()
		exits += len(rs.exited())
	}
	fmt.Fprintf(&b, "\n%d manager processes ran; %d were killed with SIGKILL; %d exits in all (kills, lost leases).\n\n", processes, sigkills(all), exits)
	b.WriteString(table(rows))
	return b.String()
}

func writeReport(path, report string) error {
	const begin, end = "<!-- faults:begin -->", "<!-- faults:end -->"
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	text := string(data)
	i, j := strings.Index(text, begin), strings.Index(text, end)
	if i < 0 || j < i {
		return fmt.Errorf("%s has no %s ... %s section", path, begin, end)
	}
	text = text[:i+len(begin)] + "\n" + report + text[j:]
	return os.WriteFile(path, []byte(text), 0o600)
}

func first(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func sorted(s []string) []string {
	sort.Strings(s)
	return s
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
