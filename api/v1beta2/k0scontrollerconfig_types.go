package v1beta2

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// TunnelingMode is how the workload cluster reaches the management
// cluster's tunnel server.
// +kubebuilder:validation:Enum=tunnel;proxy
type TunnelingMode string

const (
	// TunnelingModeTunnel forwards the workload API server through the tunnel.
	TunnelingModeTunnel TunnelingMode = "tunnel"
	// TunnelingModeProxy serves an HTTP proxy through the tunnel.
	TunnelingModeProxy TunnelingMode = "proxy"
)

// K0sControllerConfigSpec describes how a machine installs k0s and starts a
// controller: the first of a cluster initialises it, the others join it.
// The fields are k0smotron's: its K0sControlPlane writes them from its
// spec.k0sConfigSpec and spec.version.
type K0sControllerConfigSpec struct {
	// The fields every k0s machine's bootstrap data is made of. args are
	// passed to `k0s install controller`; with --enable-worker or --single
	// the controller also runs a kubelet and gets the worker's node name
	// and labels.
	K0sInstallSpec `json:",inline"`

	// k0s is the k0s ClusterConfig (apiVersion k0s.k0sproject.io/v1beta1,
	// kind ClusterConfig) the controller starts with, written to the
	// machine as k0s.yaml in workingDir (/etc/k0s.yaml by default) exactly
	// as given. k0smotron's K0sControlPlane fills it from its own spec and
	// the Cluster's network settings. Empty means k0s's defaults.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	K0s *runtime.RawExtension `json:"k0s,omitempty"`

	// tunneling runs an frp client on the workload cluster that opens a
	// tunnel to a server in the management cluster, for workload clusters
	// the management cluster cannot reach directly.
	// +optional
	Tunneling TunnelingSpec `json:"tunneling,omitempty,omitzero"`
}

// TunnelingSpec configures the frp tunnel from the workload cluster to the
// management cluster.
type TunnelingSpec struct {
	// enabled deploys the frp client into the workload cluster.
	// +optional
	Enabled bool `json:"enabled,omitempty"`

	// serverAddress is the address the frp client connects to. Empty means
	// an address of the management cluster's nodes.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ServerAddress string `json:"serverAddress,omitempty"`

	// serverNodePort is the node port of the frp server's control
	// connection. Empty means 31700.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	ServerNodePort int32 `json:"serverNodePort,omitempty"`

	// tunnelingNodePort is the node port the tunnelled API server is
	// published on. Empty means 31443.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	TunnelingNodePort int32 `json:"tunnelingNodePort,omitempty"`

	// mode is tunnel (the workload API server is forwarded) or proxy (an
	// HTTP proxy is served). Empty means tunnel.
	// +optional
	Mode TunnelingMode `json:"mode,omitempty"`
}

// K0sControllerConfigStatus is the observed state of a K0sControllerConfig.
type K0sControllerConfigStatus struct {
	// conditions are the current observations of the config: Ready,
	// DataSecretAvailable and Paused.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=32
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// initialization reports the Cluster API bootstrap contract's
	// provisioning milestones.
	// +optional
	Initialization K0sControllerConfigInitializationStatus `json:"initialization,omitempty,omitzero"`

	// dataSecretName is the name of the Secret holding the bootstrap data.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	DataSecretName *string `json:"dataSecretName,omitempty"`

	// observedGeneration is the metadata.generation the status reflects.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// K0sControllerConfigInitializationStatus holds the bootstrap contract's
// provisioning milestones.
// +kubebuilder:validation:MinProperties=1
type K0sControllerConfigInitializationStatus struct {
	// dataSecretCreated is true once the bootstrap data Secret exists and
	// status.dataSecretName names it.
	// +optional
	DataSecretCreated *bool `json:"dataSecretCreated,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:path=k0scontrollerconfigs,scope=Namespaced,categories=cluster-api
// +kubebuilder:storageversion
// +kubebuilder:subresource:status
// +kubebuilder:metadata:labels="cluster.x-k8s.io/v1beta1=v1beta1"
// +kubebuilder:metadata:labels="cluster.x-k8s.io/v1beta2=v1beta2"
// +kubebuilder:printcolumn:name="Cluster",type="string",JSONPath=".metadata.labels['cluster\\.x-k8s\\.io/cluster-name']",description="Cluster"
// +kubebuilder:printcolumn:name="Version",type="string",JSONPath=".spec.version",description="k0s version"
// +kubebuilder:printcolumn:name="Data secret created",type="boolean",JSONPath=".status.initialization.dataSecretCreated",description="Whether the bootstrap data Secret exists"
// +kubebuilder:printcolumn:name="Ready",type="string",JSONPath=`.status.conditions[?(@.type=="Ready")].status`,description="Ready condition"
// +kubebuilder:printcolumn:name="Reason",type="string",JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,description="What the config is waiting for, when not ready"
// +kubebuilder:printcolumn:name="Paused",type="string",JSONPath=`.status.conditions[?(@.type=="Paused")].status`,description="Reconciliation paused",priority=10
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description="Time since creation"

// K0sControllerConfig is the bootstrap configuration of one k0s controller
// machine. k0smotron's K0sControlPlane creates one per control-plane
// Machine, named after it; cabpk0s answers with a Secret of bootstrap data
// that initialises the cluster (the first controller, with the cluster's
// certificates) or joins it (with a short-lived controller join token).
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

// GetConditions returns the config's conditions.
func (c *K0sControllerConfig) GetConditions() []metav1.Condition {
	return c.Status.Conditions
}

// SetConditions replaces the config's conditions.
func (c *K0sControllerConfig) SetConditions(conditions []metav1.Condition) {
	c.Status.Conditions = conditions
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
