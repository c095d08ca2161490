package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// K0sControllerConfigSpec describes how a machine installs k0s and starts a
// controller (k0smotron 1.x field names).
type K0sControllerConfigSpec struct {
	// The fields every k0s machine's bootstrap data is made of; args go to
	// `k0s install controller`.
	K0sInstallSpec `json:",inline"`

	// k0s is the k0s ClusterConfig the controller starts with, written to
	// the machine as given.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	K0s *runtime.RawExtension `json:"k0s,omitempty"`

	// tunneling runs an frp client on the workload cluster that opens a
	// tunnel to the management cluster.
	// +optional
	Tunneling TunnelingSpec `json:"tunneling,omitempty,omitzero"`

	// workingDir is where the join token file and k0s.yaml are written.
	// Empty means /etc.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	WorkingDir string `json:"workingDir,omitempty"`
}

// TunnelingSpec configures the frp tunnel from the workload cluster to the
// management cluster.
type TunnelingSpec struct {
	// enabled deploys the frp client into the workload cluster.
	// +optional
	Enabled bool `json:"enabled,omitempty"`

	// serverAddress is the address the frp client connects to.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ServerAddress string `json:"serverAddress,omitempty"`

	// serverNodePort is the node port of the frp server. Empty means 31700.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	ServerNodePort int32 `json:"serverNodePort,omitempty"`

	// tunnelingNodePort is the node port of the tunnel. Empty means 31443.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	TunnelingNodePort int32 `json:"tunnelingNodePort,omitempty"`

	// mode is tunnel or proxy. Empty means tunnel.
	// +optional
	// +kubebuilder:validation:Enum=tunnel;proxy
	Mode string `json:"mode,omitempty"`
}

// K0sControllerConfigStatus is the observed state of a K0sControllerConfig.
type K0sControllerConfigStatus struct {
	// ready is true once the bootstrap data Secret exists (Cluster API's
	// v1beta1 bootstrap contract).
	// +optional
	Ready bool `json:"ready,omitempty"`

	// dataSecretName is the name of the Secret holding the bootstrap data.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	DataSecretName *string `json:"dataSecretName,omitempty"`

	// conditions are the current observations of the config.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=32
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:path=k0scontrollerconfigs,scope=Namespaced,categories=cluster-api
// +kubebuilder:deprecatedversion
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Cluster",type="string",JSONPath=".metadata.labels['cluster\\.x-k8s\\.io/cluster-name']",description="Cluster"
// +kubebuilder:printcolumn:name="Ready",type="boolean",JSONPath=".status.ready",description="Whether the bootstrap data Secret exists"
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description="Time since creation"

// K0sControllerConfig is the bootstrap configuration of one k0s controller
// machine.
//
// Deprecated: use bootstrap.cluster.x-k8s.io/v1beta2.
type K0sControllerConfig struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec describes how the machine installs k0s and starts the controller.
	// +optional
	Spec K0sControllerConfigSpec `json:"spec,omitempty,omitzero"`

	// status is the observed state of the config.
	// +optional
	Status K0sControllerConfigStatus `json:"status,omitempty,omitzero"`
}

// +kubebuilder:object:root=true

// K0sControllerConfigList is a list of K0sControllerConfigs.
type K0sControllerConfigList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the configs.
	Items []K0sControllerConfig `json:"items"`
}

func init() {
	objectTypes = append(objectTypes, &K0sControllerConfig{}, &K0sControllerConfigList{})
}
