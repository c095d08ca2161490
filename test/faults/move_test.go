package faults

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	clusterctlv1 "sigs.k8s.io/cluster-api/cmd/clusterctl/api/v1alpha3"
	clusterctl "sigs.k8s.io/cluster-api/cmd/clusterctl/client"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
)

// moveMidScale moves the cluster to another management cluster with
// clusterctl move while its MachineDeployment scales up. clusterctl
// refuses to move while any Machine lacks a node, so the scale-up is
// ordered where clusterctl can carry it: the Machines that never boot are
// scaled away, the Cluster paused, the MachineDeployment raised to
// target (its MachineSet waits while paused), and the move starts; on the
// target, unpaused by clusterctl, Cluster API creates the Machines and
// the target's cabpk0s replicas bootstrap them. A target replica is
// killed mid-scale. Returns the target and its replicas; the source's are
// stopped.
func moveMidScale(ctx context.Context, t *testing.T, src *environment, obs *observer, srcReplicas *replicas, target int) (*environment, *replicas) {
	t.Helper()
	c := src.management.Client

	joined := 0
	err := retry(ctx, func() error {
		machines := &clusterv1.MachineList{}
		if err := c.List(ctx, machines, client.InNamespace(namespace)); err != nil {
			return err
		}
		joined = 0
		for i := range machines.Items {
			m := &machines.Items[i]
			switch {
			case m.Status.NodeRef.IsDefined() && m.Labels[clusterv1.MachineDeploymentNameLabel] == deploymentName:
				joined++
			case m.Status.NodeRef.IsDefined():
			case m.Labels[clusterv1.MachineDeploymentNameLabel] == deploymentName:
				patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:""}}}`, clusterv1.DeleteMachineAnnotation)
				if err := c.Patch(ctx, m, client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
					return err
				}
			default:
				if err := c.Delete(ctx, m); client.IgnoreNotFound(err) != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := retry(ctx, func() error { return src.scale(ctx, joined) }); err != nil {
		t.Fatal(err)
	}
	if _, err := settle(ctx, src, obs, joined, settleTimeout, t.Logf); err != nil {
		t.Fatalf("only joined Machines left before the move: %v", err)
	}

	dst := &environment{dir: filepath.Join(src.dir, "target"), seed: src.seed, workload: src.workload}
	if err := os.MkdirAll(dst.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	dst.startManagement(t)
	dstReplicas, err := startReplicas(ctx, dst, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dstReplicas.stop)

	// clusterctl discovers the kinds to move from the CRDs it installed,
	// by its label; these were installed by the harness.
	if err := labelCRDsForClusterctl(ctx, src.management.Client); err != nil {
		t.Fatal(err)
	}
	if err := src.setPaused(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := src.scale(ctx, target); err != nil {
		t.Fatal(err)
	}
	configFile := filepath.Join(src.dir, "clusterctl.yaml")
	from, err := adminKubeconfig(src, "from")
	if err == nil {
		err = os.WriteFile(configFile, nil, 0o600)
	}
	if err != nil {
		t.Fatal(err)
	}
	to, err := adminKubeconfig(dst, "to")
	if err != nil {
		t.Fatal(err)
	}
	cctl, err := clusterctl.New(ctx, configFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("clusterctl move with %d joined Machines, the MachineDeployment raised to %d", joined, target)
	if err := cctl.Move(ctx, clusterctl.MoveOptions{
		FromKubeconfig: clusterctl.Kubeconfig{Path: from}, ToKubeconfig: clusterctl.Kubeconfig{Path: to}, Namespace: namespace,
	}); err != nil {
		t.Fatalf("clusterctl move: %v", err)
	}
	if err := obs.follow(ctx, dst); err != nil {
		t.Fatal(err)
	}
	srcReplicas.stop()

	// Mid-scale on the target: its leader killed once Machines appear.
	if err := retry(ctx, func() error {
		machines := &clusterv1.MachineList{}
		if err := dst.management.Client.List(ctx, machines, client.InNamespace(namespace)); err != nil {
			return err
		}
		if len(machines.Items) <= joined+10 {
			return fmt.Errorf("the target has %d Machines", len(machines.Items))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if leader := dstReplicas.leader(ctx); leader != nil {
		dstReplicas.kill(leader)
	}

	// Nothing of the cluster stays on the source.
	left := &bootstrapv1.K0sWorkerConfigList{}
	if err := retry(ctx, func() error {
		if err := src.management.Client.List(ctx, left, client.InNamespace(namespace)); err != nil {
			return err
		}
		if len(left.Items) > 0 {
			return fmt.Errorf("%d K0sWorkerConfigs left on the source", len(left.Items))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return dst, dstReplicas
}

func labelCRDsForClusterctl(ctx context.Context, c client.Client) error {
	crds := &apiextensionsv1.CustomResourceDefinitionList{}
	if err := c.List(ctx, crds); err != nil {
		return err
	}
	for i := range crds.Items {
		patch := fmt.Sprintf(`{"metadata":{"labels":{%q:""}}}`, clusterctlv1.ClusterctlLabel)
		if err := c.Patch(ctx, &crds.Items[i], client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// adminKubeconfig writes a kubeconfig of an administrator of e's
// management cluster, for clusterctl.
func adminKubeconfig(e *environment, name string) (string, error) {
	kubeconfig, err := e.management.AddAdmin("clusterctl-" + name)
	if err != nil {
		return "", err
	}
	path := filepath.Join(e.dir, name+".kubeconfig")
	return path, os.WriteFile(path, kubeconfig, 0o600)
}
