package controllers

import (
	"context"

	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
)

// configOwner is the Machine or MachinePool a K0sWorkerConfig bootstraps.
type configOwner struct {
	machine *clusterv1.Machine
	pool    *clusterv1.MachinePool
}

// getConfigOwner returns the config's owner, or nil while Cluster API has
// not set the owner reference yet (the Machine watch brings us back).
func getConfigOwner(ctx context.Context, c client.Client, config *bootstrapv1.K0sWorkerConfig) (*configOwner, error) {
	machine, err := util.GetOwnerMachine(ctx, c, config.ObjectMeta)
	if err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	if machine != nil {
		return &configOwner{machine: machine}, nil
	}
	pool, err := util.GetOwnerMachinePool(ctx, c, config.ObjectMeta)
	if err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	if pool != nil {
		return &configOwner{pool: pool}, nil
	}
	return nil, nil
}

func (o *configOwner) object() client.Object {
	if o.pool != nil {
		return o.pool
	}
	return o.machine
}

func (o *configOwner) kind() string {
	if o.pool != nil {
		return "MachinePool"
	}
	return "Machine"
}

func (o *configOwner) clusterName() string {
	if o.pool != nil {
		return o.pool.Spec.ClusterName
	}
	return o.machine.Spec.ClusterName
}

func (o *configOwner) isPool() bool { return o.pool != nil }

// version is the owner's Kubernetes/k0s version, used when the config has none.
func (o *configOwner) version() string {
	if o.pool != nil {
		return o.pool.Spec.Template.Spec.Version
	}
	return o.machine.Spec.Version
}

// dataSecretName is the bootstrap data Secret the owner already consumed;
// after `clusterctl move` it is how the config's status is rebuilt.
func (o *configOwner) dataSecretName() string {
	if o.pool != nil {
		return ptr.Deref(o.pool.Spec.Template.Spec.Bootstrap.DataSecretName, "")
	}
	return ptr.Deref(o.machine.Spec.Bootstrap.DataSecretName, "")
}

// hasJoined is true once no instance can still need the join token: the
// Machine's node registered. A MachinePool can always grow, so never.
func (o *configOwner) hasJoined() bool {
	if o.pool != nil {
		return false
	}
	return o.machine.Status.NodeRef.IsDefined()
}

// nodeName is the name the node registers under: the Machine's, unless the
// config asks for the system hostname. A MachinePool's instances share one
// config, so they always use their own hostnames.
func (o *configOwner) nodeName(config *bootstrapv1.K0sWorkerConfig) string {
	if o.pool != nil || config.Spec.UseSystemHostname {
		return ""
	}
	return o.machine.Name
}
