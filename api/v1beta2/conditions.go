package v1beta2

import clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"

// Condition types of a K0sWorkerConfig. Ready summarises the others and is
// what Cluster API mirrors into the Machine's BootstrapConfigReady condition.
const (
	// ReadyCondition is true once the bootstrap data Secret is available.
	ReadyCondition = clusterv1.ReadyCondition

	// DataSecretAvailableCondition is true once the bootstrap data Secret exists.
	DataSecretAvailableCondition = "DataSecretAvailable"

	// PausedCondition mirrors Cluster API's paused condition.
	PausedCondition = clusterv1.PausedCondition
)

// Reasons for the DataSecretAvailable and Ready conditions. Each names what
// the config is waiting for, so `kubectl get` shows it at a glance.
const (
	// DataSecretAvailableReason: the bootstrap data Secret exists.
	DataSecretAvailableReason = "Available"

	// WaitingForOwnerReason: no Machine or MachinePool owns the config yet.
	WaitingForOwnerReason = "WaitingForOwner"

	// WaitingForClusterInfrastructureReason: the Cluster's infrastructure is not provisioned.
	WaitingForClusterInfrastructureReason = "WaitingForClusterInfrastructure"

	// WaitingForControlPlaneInitializationReason: the control plane is not initialized.
	WaitingForControlPlaneInitializationReason = "WaitingForControlPlaneInitialization"

	// WaitingForControlPlaneEndpointReason: the Cluster has no valid spec.controlPlaneEndpoint.
	WaitingForControlPlaneEndpointReason = "WaitingForControlPlaneEndpoint"

	// WorkloadClusterNotReachableReason: the workload cluster's API server cannot be reached.
	WorkloadClusterNotReachableReason = "WorkloadClusterNotReachable"

	// WaitingForClusterCAReason: the Cluster's <cluster>-ca Secret does not exist yet.
	WaitingForClusterCAReason = "WaitingForClusterCA"

	// MissingFileSourceReason: a Secret, ConfigMap or key named by contentFrom
	// or customUserDataRef does not exist.
	MissingFileSourceReason = "MissingFileSource"

	// DataSecretGenerationFailedReason: generating or storing the data failed.
	DataSecretGenerationFailedReason = "DataSecretGenerationFailed"

	// PausedReason: reconciliation is paused.
	PausedReason = "Paused"

	// JoinTokenMissingReason: the join token of data a machine may already
	// have booted with no longer exists (it expired while nobody refreshed
	// it): that machine cannot join.
	JoinTokenMissingReason = "JoinTokenMissing"
)
