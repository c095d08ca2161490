package faults

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	clusterctlv1 "sigs.k8s.io/cluster-api/cmd/clusterctl/api/v1alpha3"
	clusterctl "sigs.k8s.io/cluster-api/cmd/clusterctl/client"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/internal/fixtures"
)

// moveMidScale moves the cluster to another management cluster with
// clusterctl move in the middle of a scale-up, and the scale-up finishes
// on the target.
//
// clusterctl carries only what it can: it refuses a paused Cluster, and a
// Machine without a node. So the scale-up is ordered as a platform team
// moving a cluster would order it: the Machines that never boot are
// scaled away, the MachineDeployment is paused (Cluster API's paused
// annotation: its MachineSet is left alone) and raised to target in the
// same write, and the move starts. On the target the harness plays the
// infrastructure and control plane providers (status is not moved),
// unpauses the MachineDeployment, and kills the target's leader once its
// Machines appear. Returns the target and its replicas; the source's are
// stopped.
func moveMidScale(ctx context.Context, t *testing.T, src *environment, obs *observer, srcReplicas *replicas, target int) (*environment, *replicas) {
	t.Helper()
	joined, err := keepJoinedOnly(ctx, src)
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
	if err := retry(ctx, func() error { return src.scalePaused(ctx, target, true) }); err != nil {
		t.Fatal(err)
	}
	before, err := uidsByName(ctx, src.management.Client)
	if err != nil {
		t.Fatal(err)
	}
	configFile := filepath.Join(src.dir, "clusterctl.yaml")
	if err := os.WriteFile(configFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	from, err := adminKubeconfig(src, "from")
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
	t.Logf("clusterctl move with %d joined Machines, the MachineDeployment paused and raised to %d", joined, target)
	if err := cctl.Move(ctx, clusterctl.MoveOptions{
		FromKubeconfig: clusterctl.Kubeconfig{Path: from}, ToKubeconfig: clusterctl.Kubeconfig{Path: to}, Namespace: namespace,
	}); err != nil {
		t.Fatalf("clusterctl move: %v", err)
	}
	after, err := uidsByName(ctx, dst.management.Client)
	if err != nil {
		t.Fatal(err)
	}
	moved := map[types.UID]types.UID{}
	for key, uid := range after {
		if first, ok := before[key]; ok {
			moved[uid] = first
		}
	}
	if err := obs.follow(ctx, dst, moved); err != nil {
		t.Fatal(err)
	}
	srcReplicas.stop()

	// The providers on the target find their infrastructure and control
	// plane again; then the scale-up goes on.
	c := dst.management.Client
	if err := retry(ctx, func() error {
		if err := fixtures.SetInfrastructureProvisioned(ctx, c, namespace, clusterName); err != nil {
			return err
		}
		return fixtures.SetControlPlaneInitialized(ctx, c, namespace, clusterName)
	}); err != nil {
		t.Fatal(err)
	}
	if err := retry(ctx, func() error { return dst.scalePaused(ctx, target, false) }); err != nil {
		t.Fatal(err)
	}

	// Mid-scale on the target: its leader killed once Machines appear.
	if err := retry(ctx, func() error {
		machines := &clusterv1.MachineList{}
		if err := c.List(ctx, machines, client.InNamespace(namespace)); err != nil {
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

// keepJoinedOnly marks the MachineDeployment's Machines without a node
// for deletion (its MachineSet removes those first when scaled down) and
// deletes the standalone ones without a node; it returns how many of the
// MachineDeployment's Machines have joined. The run is settled when it is
// called: every Machine that boots has joined, so no count moves under it.
func keepJoinedOnly(ctx context.Context, e *environment) (int, error) {
	c := e.management.Client
	joined := 0
	err := retry(ctx, func() error {
		machines := &clusterv1.MachineList{}
		if err := c.List(ctx, machines, client.InNamespace(namespace)); err != nil {
			return err
		}
		joined = 0
		for i := range machines.Items {
			m := &machines.Items[i]
			inDeployment := m.Labels[clusterv1.MachineDeploymentNameLabel] == deploymentName
			switch {
			case m.Status.NodeRef.IsDefined() && inDeployment:
				joined++
			case m.Status.NodeRef.IsDefined():
			case inDeployment:
				patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:""}}}`, clusterv1.DeleteMachineAnnotation)
				if err := c.Patch(ctx, m, client.RawPatch(types.MergePatchType, []byte(patch))); client.IgnoreNotFound(err) != nil {
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
	return joined, err
}

// uidsByName maps the configs and Machines of e's namespace, by kind and
// name, to their UIDs: names are unique among live objects, so across a
// move they tell which target object is which source object.
func uidsByName(ctx context.Context, c client.Client) (map[string]types.UID, error) {
	out := map[string]types.UID{}
	configs := &bootstrapv1.K0sWorkerConfigList{}
	if err := c.List(ctx, configs, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	for _, o := range configs.Items {
		out["config/"+o.Name] = o.UID
	}
	machines := &clusterv1.MachineList{}
	if err := c.List(ctx, machines, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	for _, o := range machines.Items {
		out["machine/"+o.Name] = o.UID
	}
	return out, nil
}

// scalePaused sets the MachineDeployment's replicas and Cluster API's
// paused annotation in one write, so its controller never sees the new
// size unpaused.
func (e *environment) scalePaused(ctx context.Context, replicas int, paused bool) error {
	md := &clusterv1.MachineDeployment{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: deploymentName}}
	annotation := `""`
	if !paused {
		annotation = "null"
	}
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%s}},"spec":{"replicas":%d}}`, clusterv1.PausedAnnotation, annotation, replicas)
	return e.management.Client.Patch(ctx, md, client.RawPatch(types.MergePatchType, []byte(patch)))
}

func labelCRDsForClusterctl(ctx context.Context, c client.Client) error {
	crds := &apiextensionsv1.CustomResourceDefinitionList{}
	if err := c.List(ctx, crds); err != nil {
		return err
	}
	for i := range crds.Items {
		patch := fmt.Sprintf(`{"metadata":{"labels":{%q:""}}}`, clusterctlv1.ClusterctlLabel)
		if err := c.Patch(ctx, &crds.Items[i], client.RawPatch(types.MergePatchType, []byte(patch))); err != nil && !apierrors.IsNotFound(err) {
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
