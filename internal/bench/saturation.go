package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util/conditions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

// Scenario names.
const (
	// ScaleScenario scales a MachineDeployment from 0 to N: Cluster API's
	// MachineSet sets the pace, as in a real management cluster.
	ScaleScenario = "scale"
	// SaturationScenario has the harness write N Machines and then their
	// configs as fast as the API server takes them, with none of Cluster
	// API's controllers running: the provider is the only thing at work.
	SaturationScenario = "saturation"
	// ClustersScenario is the saturation scenario with the N machines
	// spread over RunOptions.Clusters workload clusters.
	ClustersScenario = "clusters"
	// PendingScenario is the saturation scenario followed by
	// RunOptions.Periods token TTLs in which no machine joins.
	PendingScenario = "pending"
)

// Scenarios lists the scenario names Run accepts.
func Scenarios() []string {
	return []string{ScaleScenario, SaturationScenario, ClustersScenario, PendingScenario}
}

// saturationPool labels the configs the saturation scenario measures.
const saturationPool = "saturation"

// creators is how many requests the harness keeps in flight while writing
// Machines and configs: enough that no provider here keeps up.
const creators = 32

// markClusterReady writes what Cluster API's Cluster controller would
// report, since it does not run in the saturation scenario: the
// infrastructure provisioned and the control plane initialized.
func markClusterReady(ctx context.Context, c client.Client, name string) error {
	cluster := &clusterv1.Cluster{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, cluster); err != nil {
		return err
	}
	base := cluster.DeepCopy()
	cluster.Status.Initialization.InfrastructureProvisioned = ptr.To(true)
	cluster.Status.Initialization.ControlPlaneInitialized = ptr.To(true)
	conditions.Set(cluster, metav1.Condition{Type: clusterv1.ClusterControlPlaneInitializedCondition, Status: metav1.ConditionTrue, Reason: clusterv1.ClusterControlPlaneInitializedReason})
	return c.Status().Patch(ctx, cluster, client.MergeFrom(base))
}

// fastClient is a client of the management cluster without client-side
// rate limits, for the harness's parallel writes.
func fastClient(e *environment) (client.Client, error) {
	cfg := rest.CopyConfig(e.management.Config)
	cfg.QPS, cfg.Burst = -1, 0
	return client.New(cfg, client.Options{Scheme: e.management.Scheme})
}

// parallel runs fn for 0..n-1 with creators calls in flight and returns
// the first error.
func parallel(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan int)
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for range min(creators, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		}()
	}
	for i := range n {
		select {
		case work <- i:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
		if errors.Is(first, context.Canceled) {
			first = nil
		}
	}
	return first
}

// saturationMachineName names the i-th Machine of a pool and its config.
func saturationMachineName(pool string, i int) string { return fmt.Sprintf("%s-%05d", pool, i) }

// oneCluster puts every machine in the run's Cluster.
func oneCluster(int) string { return clusterName }

// createMachines writes n Machines of pool, the i-th in Cluster
// clusterOf(i), each naming a config of kind gvk by its own name (not
// created yet), as a MachineSet writes them, and returns their UIDs by
// name.
func createMachines(ctx context.Context, c client.Client, pool string, n int, gvk schema.GroupVersionKind, version string, clusterOf func(int) string) (map[string]types.UID, error) {
	var mu sync.Mutex
	uids := make(map[string]types.UID, n)
	err := parallel(ctx, n, func(ctx context.Context, i int) error {
		name := saturationMachineName(pool, i)
		m := &clusterv1.Machine{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: map[string]string{poolLabel: pool, clusterv1.ClusterNameLabel: clusterOf(i)}},
			Spec: clusterv1.MachineSpec{
				ClusterName: clusterOf(i),
				Version:     version,
				Bootstrap: clusterv1.Bootstrap{ConfigRef: clusterv1.ContractVersionedObjectReference{
					APIGroup: gvk.Group, Kind: gvk.Kind, Name: name,
				}},
				InfrastructureRef: clusterv1.ContractVersionedObjectReference{
					APIGroup: testenv.AWSMachineGVK.Group, Kind: testenv.AWSMachineGVK.Kind, Name: name,
				},
			},
		}
		if err := c.Create(ctx, m); err != nil {
			return fmt.Errorf("creating Machine %s: %w", name, err)
		}
		mu.Lock()
		uids[name] = m.UID
		mu.Unlock()
		return nil
	})
	return uids, err
}

// createConfigs writes the config of every Machine of pool, owned by it
// as a MachineSet and the Machine controller leave it.
func createConfigs(ctx context.Context, c client.Client, pool string, n int, gvk schema.GroupVersionKind, spec map[string]any, machines map[string]types.UID, clusterOf func(int) string) error {
	return parallel(ctx, n, func(ctx context.Context, i int) error {
		name := saturationMachineName(pool, i)
		config := &unstructured.Unstructured{Object: map[string]any{"spec": runtimeDeepCopy(spec)}}
		config.SetGroupVersionKind(gvk)
		config.SetNamespace(namespace)
		config.SetName(name)
		config.SetLabels(map[string]string{clusterv1.ClusterNameLabel: clusterOf(i), poolLabel: pool})
		config.SetOwnerReferences([]metav1.OwnerReference{{
			APIVersion: clusterv1.GroupVersion.String(), Kind: "Machine", Name: name, UID: machines[name],
			Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
		}})
		if err := c.Create(ctx, config); err != nil {
			return fmt.Errorf("creating %s %s: %w", gvk.Kind, name, err)
		}
		return nil
	})
}

// runtimeDeepCopy copies a JSON-shaped map, so no two objects share one.
func runtimeDeepCopy(m map[string]any) map[string]any {
	return (&unstructured.Unstructured{Object: m}).DeepCopy().Object
}

// runSaturation measures the provider as the bottleneck: N Machines are
// written first (not measured), then, from the start of the clock, their
// N configs as fast as the API server takes them. The clock stops at the
// last data secret.
func runSaturation(ctx context.Context, o RunOptions, p provider, e *environment, proc *Process, tracker *configTracker, prof *profiler, progress func(string, ...any)) (Result, error) {
	c, err := fastClient(e)
	if err != nil {
		return Result{}, err
	}
	progress("writing %d Machines (not measured)", o.N)
	clusterOf := oneCluster
	if o.Scenario == ClustersScenario {
		clusterOf = spreadClusters(o.Clusters)
	}
	machines, err := createMachines(ctx, c, saturationPool, o.N, p.configGVK, p.version, clusterOf)
	if err != nil {
		return Result{}, err
	}
	// The provider's reactions to Machines whose config does not exist yet
	// (a lookup, nothing to do) fall before the clock.
	if err := waitQuiet(ctx, proc, 2*time.Second, time.Minute); err != nil {
		return Result{}, err
	}

	before, err := proc.Usage()
	if err != nil {
		return Result{}, err
	}
	progress("writing %d configs with %d in flight", o.N, creators)
	prof.startCPUProfile(ctx)
	start := time.Now()
	if err := createConfigs(ctx, c, saturationPool, o.N, p.configGVK, p.configSpec, machines, clusterOf); err != nil {
		return Result{}, err
	}
	written := time.Since(start)
	// The pending scenario measures what comes after the data, so its
	// fill is not a measured window: it may take the whole timeout.
	limit := o.budget()
	if o.Scenario == PendingScenario {
		limit = o.Timeout
	}
	if err := tracker.waitWithin(ctx, saturationPool, o.N, start, limit); err != nil {
		return Result{}, err
	}
	latencies, last := tracker.latencies(saturationPool)
	if done := len(latencies); done < o.N {
		if o.Scenario == PendingScenario {
			return Result{}, fmt.Errorf("only %d of %d configs have their data after %s: the pending scenario needs them all (raise -timeout or lower -pending-n)", done, o.N, limit)
		}
		progress("%d configs written in %s, only %d data secrets within the budget of %s (%.0f machines/s); counting follow-up requests for %s",
			o.N, written.Round(time.Millisecond), done, o.budget(), float64(done)/o.budget().Seconds(), o.Settle)
	} else {
		wall := last.Sub(start)
		progress("%d configs written in %s, %d data secrets in %s (%.0f machines/s); counting follow-up requests for %s",
			o.N, written.Round(time.Millisecond), o.N, wall.Round(time.Millisecond), float64(o.N)/wall.Seconds(), o.Settle)
	}
	result, err := measured(ctx, o, p, e, proc, tracker, saturationPool, start, before)
	if err != nil {
		return Result{}, err
	}
	if err := prof.finish(ctx); err != nil {
		return Result{}, err
	}
	result.WriteSeconds = written.Seconds()
	result.Ready = tracker.readyCurve(saturationPool, start, plotPoints)
	if o.Scenario == ClustersScenario {
		result.Clusters = o.Clusters
	}
	if result.WorkloadConnections, err = e.workloadConnections(proc); err != nil {
		return Result{}, err
	}
	return result, nil
}

// waitQuiet waits until the process has used less than 5% of a core over
// window, or timeout passed: its backlog is done.
func waitQuiet(ctx context.Context, proc *Process, window, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last, err := proc.Usage()
	if err != nil {
		return err
	}
	for time.Now().Before(deadline) {
		if err := sleep(ctx, window); err != nil {
			return err
		}
		now, err := proc.Usage()
		if err != nil {
			return err
		}
		if now.CPUSeconds-last.CPUSeconds < 0.05*window.Seconds() {
			return nil
		}
		last = now
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
