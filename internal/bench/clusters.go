package bench

import (
	"context"
	"fmt"

	"github.com/cabpk0s/cabpk0s/internal/fixtures"
)

// The clusters scenario: what each workload cluster costs a provider. The
// Clusters share one workload API server (a process per cluster does not
// fit on these machines), but each has its own <cluster>-kubeconfig, with
// an administrator of its own, so a provider's ClusterCache opens a
// connection per Cluster as it would to separate servers, and its own
// <cluster>-ca Secret.

// workloadClusterName names the i-th Cluster of the scenario.
func workloadClusterName(i int) string { return fmt.Sprintf("%s-c%03d", clusterName, i) }

// spreadClusters puts machine i in Cluster i mod n.
func spreadClusters(n int) func(int) string {
	return func(i int) string { return workloadClusterName(i % n) }
}

// createClusters creates n Clusters, each ready for workers as
// markClusterReady leaves one, with a CA key for CABPK (see addCAKey).
func (e *environment) createClusters(ctx context.Context, n int) error {
	c := e.management.Client
	for i := range n {
		name := workloadClusterName(i)
		if _, err := fixtures.CreateCluster(ctx, c, e.workload, namespace, name, fixtures.ClusterOptions{KubeconfigUser: "admin-" + name}); err != nil {
			return fmt.Errorf("creating Cluster %s: %w", name, err)
		}
		if err := addCAKey(ctx, c, name); err != nil {
			return err
		}
		if err := markClusterReady(ctx, c, name); err != nil {
			return err
		}
	}
	return nil
}

// workloadConnections counts the provider's connections to the workload
// API server.
func (e *environment) workloadConnections(proc *Process) (int, error) {
	_, port, err := e.workload.Endpoint()
	if err != nil {
		return 0, err
	}
	return proc.Connections(int(port))
}

// OneClusterResult is the clusters scenario's point for one Cluster, taken
// from the saturation run of the same N: the same measurement (N machines
// in one Cluster, its own kubeconfig and CA), so the benchmark does not
// run it twice.
func OneClusterResult(saturation Result) Result {
	r := saturation
	r.Scenario, r.Clusters, r.FromScenario = ClustersScenario, 1, SaturationScenario
	r.Restart, r.Ready = nil, nil
	return r
}
