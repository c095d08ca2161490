// Package bench measures bootstrap throughput and cost: a MachineDeployment
// scaled from 0 to N on real API servers, with cabpk0s, with Cluster API's
// kubeadm bootstrap provider (CABPK), and with "the floor" — a plain client
// doing only the writes bootstrapping needs — each as its own process, so
// its CPU time and memory are its own, and its requests counted from the
// API servers' audit logs.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/internal/childprocess"
)

// Provider names.
const (
	Cabpk0s = "cabpk0s"
	CABPK   = "CABPK"
	Floor   = "floor"
)

// Commands are the programs the providers run as.
type Commands struct {
	// Manager runs cabpk0s's manager (cmd/manager, or manager.Main).
	Manager Command
	// CABPK runs Cluster API's kubeadm bootstrap provider.
	CABPK Command
	// Floor runs FloorMain with the arguments it is given.
	Floor Command
}

// RunOptions configure one measurement.
type RunOptions struct {
	// Scenario is one of Scenarios(); empty means ScaleScenario.
	Scenario string
	Provider string
	N        int
	// Clusters is how many workload clusters the clusters scenario
	// spreads the N machines over.
	Clusters int
	// Profile is how long cabpk0s's CPU, and the API servers' for every
	// provider, is profiled from the first config written
	// (saturation and clusters scenarios; 0 for no profiles).
	Profile time.Duration
	// TokenTTL and Periods shape the pending scenario: the providers'
	// token TTL, and how many of them the run watches.
	TokenTTL time.Duration
	Periods  int
	// Restart measures a restart of the provider once the N configs are
	// settled (not for the floor, which keeps no state to settle).
	Restart  bool
	Commands Commands
	// Dir receives audit logs, kubeconfigs and the provider's log.
	Dir string
	// Timeout bounds the wait for N data secrets.
	Timeout time.Duration
	// Budget bounds the measured window of the saturation and clusters
	// scenarios and of a restart (0: Timeout): a provider that has not
	// finished by then is reported with what it did (Result.Finished,
	// RestartResult.NotIdle) rather than waited for, so one slow provider
	// cannot take the whole benchmark's time.
	Budget time.Duration
	// Settle is how long requests are still counted after the last data
	// secret, so follow-up work (status, token checks) shows.
	Settle time.Duration
	// Log receives the harness's logs; Progress one line per stage.
	Log      logr.Logger
	Progress io.Writer
}

// Result is one provider's figures at one N.
type Result struct {
	Scenario string `json:"scenario,omitempty"`
	Provider string `json:"provider"`
	N        int    `json:"n"`
	// Clusters is how many workload clusters the machines were spread
	// over (clusters scenario).
	Clusters int `json:"clusters,omitempty"`
	// WorkloadConnections is the provider's open connections to the
	// workload API server at the end (saturation and clusters scenarios):
	// one per Cluster it keeps a client for.
	WorkloadConnections int `json:"workloadConnections,omitempty"`
	// FromScenario names the run a result was taken from when it was not
	// measured on its own: the clusters scenario's one Cluster is the
	// saturation run at the same N (see OneClusterResult).
	FromScenario string `json:"fromScenario,omitempty"`
	// WallSeconds is from the scale-up (saturation: the first config
	// written) to the last data secret.
	WallSeconds float64 `json:"wallSeconds"`
	// WriteSeconds is how long the harness took to write the N configs
	// (saturation only): a provider cannot finish before it.
	WriteSeconds float64 `json:"writeSeconds,omitempty"`
	// MachinesPerSecond is N over WallSeconds.
	MachinesPerSecond float64 `json:"machinesPerSecond,omitempty"`
	// Unfinished is true when the provider did not produce all N data
	// secrets within the budget; Finished is then how many it did,
	// WallSeconds the budget, MachinesPerSecond Finished over it, and the
	// latencies are those of the finished machines only.
	Unfinished bool `json:"unfinished,omitempty"`
	Finished   int  `json:"finished,omitempty"`
	// Ready is the count of data secrets over time (saturation only).
	Ready []ReadyPoint `json:"ready,omitempty"`
	// Restart is the provider restarted with the N configs settled.
	Restart *RestartResult `json:"restart,omitempty"`
	// Pending is the pending scenario's window after the last data secret.
	Pending *PendingResult `json:"pending,omitempty"`
	// P50Seconds and P99Seconds are per-machine latencies, from the
	// config's creation (as the harness saw it) to its data secret.
	P50Seconds float64 `json:"p50Seconds"`
	P99Seconds float64 `json:"p99Seconds"`
	// Management and Workload count the provider's requests to each API
	// server, by "verb resource", from the scale-up until Settle after
	// the last data secret.
	Management Requests `json:"managementRequests"`
	Workload   Requests `json:"workloadRequests"`
	// CPUSeconds is the provider's CPU time in the same window.
	CPUSeconds float64 `json:"cpuSeconds"`
	// PeakRSSBytes is the provider process's peak resident memory.
	PeakRSSBytes int64 `json:"peakRSSBytes"`
	// Metrics are cabpk0s's own metrics at the end, counting from the
	// process's start (the warm-up machine included); cabpk0s only.
	Metrics map[string]float64 `json:"metrics,omitempty"`
}

// PerMachine divides a count by N.
func (r Result) PerMachine(count int) float64 { return float64(count) / float64(r.N) }

// scenario is the result's scenario, ScaleScenario for reports written
// before there were others.
func (r Result) scenario() string {
	if r.Scenario == "" {
		return ScaleScenario
	}
	return r.Scenario
}

// ReadyPoint is how many data secrets existed Seconds after the start.
type ReadyPoint struct {
	Seconds float64 `json:"s"`
	Ready   int     `json:"ready"`
}

// addrs are where a provider process serves its probes and metrics.
type addrs struct {
	health, metrics string
	// pprof is where cabpk0s serves pprof (saturation and clusters
	// scenarios), empty for none.
	pprof string
}

type provider struct {
	configGVK   schema.GroupVersionKind
	templateGVK schema.GroupVersionKind
	version     string
	// workloadAgent picks the provider's requests out of the workload API
	// server's log: they use the Cluster's kubeconfig, like the harness's
	// own ClusterCache, and differ only by user agent.
	workloadAgent string
	// start runs the provider, logging to <Dir>/<logName>.log.
	start func(o RunOptions, e *environment, a addrs, logName string) (*Process, error)
	// metrics: the provider serves cabpk0s's metrics, scraped at the end.
	metrics bool
	// configSpec is the spec of a config the saturation scenario writes.
	configSpec map[string]any
}

// kubeadmJoinSpec is the KubeadmConfig spec of every benchmark machine: a
// worker joining with an external cloud provider, as CAPA's are.
func kubeadmJoinSpec() map[string]any {
	return map[string]any{
		"joinConfiguration": map[string]any{"nodeRegistration": map[string]any{"kubeletExtraArgs": []any{map[string]any{"name": "cloud-provider", "value": "external"}}}},
	}
}

var providers = map[string]provider{
	Cabpk0s: {
		configGVK: bootstrapv1.GroupVersion.WithKind("K0sWorkerConfig"), templateGVK: bootstrapv1.GroupVersion.WithKind("K0sWorkerConfigTemplate"),
		version: machineVersion + "+k0s.0", workloadAgent: "cabpk0s-manager", metrics: true, configSpec: map[string]any{},
		start: func(o RunOptions, e *environment, a addrs, logName string) (*Process, error) {
			return startManager(o.Commands.Manager, o, e, a, logName)
		},
	},
	CABPK: {
		configGVK: KubeadmConfigGVK, templateGVK: KubeadmConfigTemplateGVK,
		version: machineVersion, workloadAgent: "cluster-api-kubeadm-bootstrap-manager", configSpec: kubeadmJoinSpec(),
		start: func(o RunOptions, e *environment, a addrs, logName string) (*Process, error) {
			return startManager(o.Commands.CABPK, o, e, a, logName)
		},
	},
	Floor: {
		configGVK: bootstrapv1.GroupVersion.WithKind("K0sWorkerConfig"), templateGVK: bootstrapv1.GroupVersion.WithKind("K0sWorkerConfigTemplate"),
		version: machineVersion + "+k0s.0", workloadAgent: FloorUserAgent, configSpec: map[string]any{},
		start: func(o RunOptions, e *environment, a addrs, logName string) (*Process, error) {
			args := []string{"--kubeconfig", e.providerKubeconfig, "--health-addr", a.health,
				"--namespace", namespace, "--cluster", clusterName}
			return StartProcess(o.Commands.Floor, args, filepath.Join(o.Dir, logName+".log"), a.health)
		},
	},
}

// startManager runs cabpk0s or CABPK with its defaults; only what a
// process needs to run beside others on one machine is set, and metrics
// served over plain HTTP (both have Cluster API's diagnostics flags).
func startManager(cmd Command, o RunOptions, e *environment, a addrs, logName string) (*Process, error) {
	webhookAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	_, webhookPort, err := net.SplitHostPort(webhookAddr)
	if err != nil {
		return nil, err
	}
	args := []string{
		"--kubeconfig", e.providerKubeconfig,
		"--health-addr", a.health,
		"--webhook-port", webhookPort,
		"--webhook-cert-dir", e.management.WebhookCertDir(),
		"--diagnostics-address", a.metrics, "--insecure-diagnostics",
	}
	args = append(args, pendingArgs(o)...)
	if a.pprof != "" {
		args = append(args, "--profiler-address", a.pprof)
	}
	return StartProcess(cmd, args, filepath.Join(o.Dir, logName+".log"), a.health)
}

// Providers lists the provider names Run accepts.
func Providers() []string { return []string{Cabpk0s, CABPK, Floor} }

// Run measures one provider at one N on a fresh environment.
func Run(ctx context.Context, o RunOptions) (result Result, retErr error) {
	p, ok := providers[o.Provider]
	if !ok {
		return Result{}, fmt.Errorf("unknown provider %q (want one of %v)", o.Provider, Providers())
	}
	if o.Scenario == "" {
		o.Scenario = ScaleScenario
	}
	if !slices.Contains(Scenarios(), o.Scenario) {
		return Result{}, fmt.Errorf("unknown scenario %q (want one of %v)", o.Scenario, Scenarios())
	}
	if o.Scenario == ClustersScenario && (o.Clusters < 1 || o.Provider == Floor) {
		return Result{}, fmt.Errorf("the clusters scenario needs -clusters >= 1 and cabpk0s or CABPK (the floor serves one cluster), not %d clusters with %s", o.Clusters, o.Provider)
	}
	if o.Scenario == PendingScenario && (o.TokenTTL <= 0 || o.Periods < 1 || o.Provider == Floor) {
		return Result{}, fmt.Errorf("the pending scenario needs a token TTL, at least one period and cabpk0s or CABPK (the floor refreshes nothing), not %s, %d with %s", o.TokenTTL, o.Periods, o.Provider)
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if err := os.MkdirAll(o.Dir, 0o750); err != nil {
		return Result{}, err
	}
	progress := func(format string, args ...any) {
		size := fmt.Sprintf("N=%d", o.N)
		if o.Scenario == ClustersScenario {
			size += fmt.Sprintf(" C=%d", o.Clusters)
		}
		fmt.Fprintf(o.Progress, "  %s %s %s: %s\n", o.Scenario, o.Provider, size, fmt.Sprintf(format, args...))
	}

	progress("starting API servers and the harness")
	// Saturation runs none of Cluster API's controllers: nothing but the
	// provider works once the objects are written.
	e, err := startEnvironment(ctx, o.Dir, o.Log, o.Scenario == ScaleScenario)
	if err != nil {
		return Result{}, err
	}
	defer func() { retErr = errors.Join(retErr, e.stop()) }()
	if o.Scenario == ClustersScenario {
		progress("creating %d Clusters", o.Clusters)
		if err := e.createClusters(ctx, o.Clusters); err != nil {
			return Result{}, err
		}
	}

	var a addrs
	if a.health, err = freeAddr(); err == nil {
		a.metrics, err = freeAddr()
	}
	if err == nil && o.Profile > 0 && o.Provider == Cabpk0s && (o.Scenario == SaturationScenario || o.Scenario == ClustersScenario) {
		a.pprof, err = freeAddr()
	}
	if err != nil {
		return Result{}, err
	}
	proc, err := p.start(o, e, a, o.Provider)
	if err != nil {
		return Result{}, err
	}
	defer func() { retErr = errors.Join(retErr, proc.Stop()) }()
	if err := proc.WaitReady(ctx, 2*time.Minute); err != nil {
		return Result{}, err
	}

	tracker, err := trackConfigs(ctx, e, p.configGVK)
	if err != nil {
		return Result{}, err
	}
	// One machine first, so caches, informers and the workload cluster
	// connection are warm and startup is not measured.
	progress("warming up with one machine")
	if err := warmUp(ctx, o, p, e, tracker); err != nil {
		return Result{}, fmt.Errorf("warm-up: %w", err)
	}

	if o.Scenario != ScaleScenario {
		var prof *profiler
		if o.Profile > 0 && (o.Scenario == SaturationScenario || o.Scenario == ClustersScenario) {
			prof = &profiler{addr: a.pprof, dir: o.Dir, cpu: o.Profile, apiServers: map[string]*rest.Config{"management": e.management.Config, "workload": e.workload.Config}}
		}
		result, err = runSaturation(ctx, o, p, e, proc, tracker, prof, progress)
		if err == nil && o.Scenario == PendingScenario {
			result.Pending, err = watchPending(ctx, o, p, e, proc, progress)
		}
	} else {
		result, err = runScale(ctx, o, p, e, proc, tracker, progress)
	}
	if err != nil {
		return Result{}, err
	}
	if p.metrics {
		if result.Metrics, err = scrapeMetrics(ctx, a.metrics); err != nil {
			return Result{}, err
		}
	}
	if o.Restart && o.Provider != Floor && result.Unfinished {
		progress("not restarting: only %d of %d configs have their data", result.Finished, o.N)
	} else if o.Restart && o.Provider != Floor {
		progress("restarting the provider with %d settled configs", o.N+1)
		restart, restarted, err := measureRestart(ctx, o, p, e, proc, a, o.N+1)
		proc = restarted
		if err != nil {
			return Result{}, fmt.Errorf("restart: %w", err)
		}
		result.Restart = restart
	}
	return result, nil
}

// warmUp bootstraps one machine the way the scenario makes them.
func warmUp(ctx context.Context, o RunOptions, p provider, e *environment, tracker *configTracker) error {
	if o.Scenario != ScaleScenario {
		if err := markClusterReady(ctx, e.management.Client, clusterName); err != nil {
			return err
		}
		machines, err := createMachines(ctx, e.management.Client, warmupMD, 1, p.configGVK, p.version, oneCluster)
		if err != nil {
			return err
		}
		if err := createConfigs(ctx, e.management.Client, warmupMD, 1, p.configGVK, p.configSpec, machines, oneCluster); err != nil {
			return err
		}
	} else if err := e.createMachineDeployment(ctx, warmupMD, 1, p.templateGVK, p.version); err != nil {
		return err
	}
	return tracker.wait(ctx, warmupMD, 1, 2*time.Minute)
}

// runScale scales a MachineDeployment from 0 to N and waits for N data
// secrets.
func runScale(ctx context.Context, o RunOptions, p provider, e *environment, proc *Process, tracker *configTracker, progress func(string, ...any)) (Result, error) {
	if err := e.createMachineDeployment(ctx, measuredMD, 0, p.templateGVK, p.version); err != nil {
		return Result{}, err
	}
	before, err := proc.Usage()
	if err != nil {
		return Result{}, err
	}
	progress("scaling MachineDeployment %s from 0 to %d", measuredMD, o.N)
	start := time.Now()
	if err := e.scale(ctx, measuredMD, int32(o.N)); err != nil { //nolint:gosec // N is a small count
		return Result{}, err
	}
	if err := tracker.wait(ctx, measuredMD, o.N, o.Timeout); err != nil {
		return Result{}, err
	}
	_, last := tracker.latencies(measuredMD)
	progress("%d data secrets in %s; counting follow-up requests for %s", o.N, last.Sub(start).Round(time.Millisecond), o.Settle)
	return measured(ctx, o, p, e, proc, tracker, measuredMD, start, before)
}

// measured waits for the follow-up requests and gathers what every
// scenario reports for the machines of pool, counted from start, when the
// provider had used before.
func measured(ctx context.Context, o RunOptions, p provider, e *environment, proc *Process, tracker *configTracker, pool string, start time.Time, before childprocess.Usage) (Result, error) {
	latencies, last := tracker.latencies(pool)
	unfinished := len(latencies) < o.N
	if unfinished {
		last = start.Add(o.budget())
	}
	if err := sleep(ctx, o.Settle); err != nil {
		return Result{}, err
	}
	end := time.Now()
	after, err := proc.Usage()
	if err != nil {
		return Result{}, err
	}
	wall := last.Sub(start)
	result := Result{
		Scenario:          o.Scenario,
		Provider:          o.Provider,
		N:                 o.N,
		WallSeconds:       wall.Seconds(),
		MachinesPerSecond: float64(o.N) / wall.Seconds(),
		Unfinished:        unfinished,
		P50Seconds:        percentile(latencies, 50).Seconds(),
		P99Seconds:        percentile(latencies, 99).Seconds(),
		CPUSeconds:        after.CPUSeconds - before.CPUSeconds,
		PeakRSSBytes:      after.PeakRSSBytes,
	}
	if unfinished {
		result.Finished = len(latencies)
		result.MachinesPerSecond = float64(result.Finished) / wall.Seconds()
	}
	if err := countRequests(&result, e, p, start, end); err != nil {
		return Result{}, err
	}
	return result, nil
}

// budget is how long a measured window may last.
func (o RunOptions) budget() time.Duration {
	if o.Budget > 0 {
		return min(o.Budget, o.Timeout)
	}
	return o.Timeout
}

// waitWithin waits for n data secrets of pool, or until budget passed
// since start, whichever comes first; how many there are is the tracker's.
func (t *configTracker) waitWithin(ctx context.Context, pool string, n int, start time.Time, budget time.Duration) error {
	deadline := time.After(time.Until(start.Add(budget)))
	for {
		if t.readyCount(pool) >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return nil
		case <-t.changed:
		case <-time.After(time.Second):
		}
	}
}

// countRequests fills the result's request counts for [start, end].
func countRequests(result *Result, e *environment, p provider, start, end time.Time) error {
	var err error
	if result.Management, err = e.managementAudit.Count(Client{Username: providerUser}, start, end); err != nil {
		return err
	}
	result.Workload, err = e.workloadAudit.Count(Client{UserAgentContains: p.workloadAgent}, start, end)
	return err
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100
	return sorted[max(rank, 1)-1]
}

// configTracker records when the harness first saw each bootstrap config
// and when it first saw its data secret reported, from an informer.
type configTracker struct {
	mu      sync.Mutex
	seen    map[string]time.Time
	ready   map[string]time.Time
	pool    map[string]string
	changed chan struct{}
}

func trackConfigs(ctx context.Context, e *environment, gvk schema.GroupVersionKind) (*configTracker, error) {
	t := &configTracker{seen: map[string]time.Time{}, ready: map[string]time.Time{}, pool: map[string]string{}, changed: make(chan struct{}, 1)}
	c, err := cache.New(e.management.Config, cache.Options{Scheme: e.management.Scheme, DefaultNamespaces: map[string]cache.Config{namespace: {}}})
	if err != nil {
		return nil, err
	}
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(gvk)
	informer, err := c.GetInformer(ctx, obj)
	if err != nil {
		return nil, err
	}
	observe := func(o any) {
		u, ok := o.(*unstructured.Unstructured)
		if !ok {
			return
		}
		now := time.Now()
		t.mu.Lock()
		defer t.mu.Unlock()
		name := u.GetName()
		if _, ok := t.seen[name]; !ok {
			t.seen[name] = now
			t.pool[name] = u.GetLabels()[poolLabel]
			if t.pool[name] == "" {
				t.pool[name] = u.GetLabels()[clusterv1.MachineDeploymentNameLabel]
			}
		}
		if created, _, _ := unstructured.NestedBool(u.Object, "status", "initialization", "dataSecretCreated"); created {
			if _, ok := t.ready[name]; !ok {
				t.ready[name] = now
				select {
				case t.changed <- struct{}{}:
				default:
				}
			}
		}
	}
	if _, err := informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    observe,
		UpdateFunc: func(_, o any) { observe(o) },
	}); err != nil {
		return nil, err
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		return nil, errors.New("bootstrap config informer did not sync")
	}
	return t, nil
}

func (t *configTracker) readyCount(pool string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for name := range t.ready {
		if t.pool[name] == pool {
			n++
		}
	}
	return n
}

func (t *configTracker) wait(ctx context.Context, pool string, n int, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		if got := t.readyCount(pool); got >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("only %d of %d data secrets of MachineDeployment %s after %s", t.readyCount(pool), n, pool, timeout)
		case <-t.changed:
		case <-time.After(time.Second):
		}
	}
}

// latencies returns the pool's per-config latencies, sorted, and when the
// last data secret was seen.
func (t *configTracker) latencies(pool string) ([]time.Duration, time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []time.Duration
	var last time.Time
	for name, ready := range t.ready {
		if t.pool[name] != pool {
			continue
		}
		out = append(out, ready.Sub(t.seen[name]))
		if ready.After(last) {
			last = ready
		}
	}
	slices.Sort(out)
	return out, last
}

// readyCurve is the pool's count of data secrets over time since start,
// at most points of it, evenly spaced by count.
func (t *configTracker) readyCurve(pool string, start time.Time, points int) []ReadyPoint {
	t.mu.Lock()
	var times []time.Duration
	for name, ready := range t.ready {
		if t.pool[name] == pool {
			times = append(times, ready.Sub(start))
		}
	}
	t.mu.Unlock()
	slices.Sort(times)
	out := []ReadyPoint{{Seconds: 0, Ready: 0}}
	step := max(len(times)/points, 1)
	for i := step - 1; i < len(times); i += step {
		out = append(out, ReadyPoint{Seconds: times[i].Seconds(), Ready: i + 1})
	}
	if n := len(times); n > 0 && out[len(out)-1].Ready != n {
		out = append(out, ReadyPoint{Seconds: times[n-1].Seconds(), Ready: n})
	}
	return out
}

// FloorMain runs the floor from command-line arguments.
func FloorMain(ctx context.Context, args []string) error {
	opts := FloorOptions{Concurrency: DefaultConcurrency(), TokenTTL: 15 * time.Minute}
	for i := 0; i+1 < len(args); i += 2 {
		switch value := args[i+1]; args[i] {
		case "--kubeconfig":
			opts.Kubeconfig = value
		case "--health-addr":
			opts.HealthAddr = value
		case "--namespace":
			opts.Namespace = value
		case "--cluster":
			opts.Cluster = value
		case "--concurrency":
			n, err := strconv.Atoi(value)
			if err != nil {
				return err
			}
			opts.Concurrency = n
		default:
			return fmt.Errorf("floor: unknown flag %s", args[i])
		}
	}
	return RunFloor(ctx, opts)
}
