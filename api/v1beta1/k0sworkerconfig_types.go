package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// K0sInstallSpec is how a machine gets k0s and what it writes and runs
// around it: the fields workers and controllers share (k0smotron 1.x
// field names).
type K0sInstallSpec struct {
	// ignition, when set, makes the bootstrap data an Ignition config instead
	// of cloud-config.
	// +optional
	Ignition *IgnitionSpec `json:"ignition,omitempty"`

	// k0sInstallDir is the directory the k0s binary is installed into.
	// Empty means /usr/local/bin.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	K0sInstallDir string `json:"k0sInstallDir,omitempty"`

	// version is the k0s version to install, for example v1.27.2+k0s.0.
	// Empty means the owning Machine's spec.version, else the latest release.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Version string `json:"version,omitempty"`

	// useSystemHostname makes the node register under the machine's own
	// hostname instead of the Machine's name.
	// +optional
	UseSystemHostname bool `json:"useSystemHostname,omitempty"`

	// files are written to the machine before k0s is installed.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=200
	Files []File `json:"files,omitempty"`

	// args are extra arguments for `k0s install worker` (or controller).
	// +optional
	// +listType=atomic
	Args []string `json:"args,omitempty"`

	// preStartCommands are shell commands run before k0s is installed.
	// +optional
	// +listType=atomic
	PreStartCommands []string `json:"preStartCommands,omitempty"`

	// postStartCommands are shell commands run after k0s has started.
	// +optional
	// +listType=atomic
	PostStartCommands []string `json:"postStartCommands,omitempty"`

	// preInstalledK0s skips the download: the k0s binary is already installed.
	// +optional
	PreInstalledK0s bool `json:"preInstalledK0s,omitempty"`

	// downloadURL is where the k0s binary comes from; empty means get.k0s.sh.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	DownloadURL string `json:"downloadURL,omitempty"`

	// customUserDataRef points at a Secret or ConfigMap key whose cloud-config
	// is merged with the generated one.
	// +optional
	CustomUserDataRef *ContentSource `json:"customUserDataRef,omitempty"`
}

// K0sWorkerConfigSpec describes how a machine installs k0s and joins the
// cluster as a worker (k0smotron 1.x field names).
type K0sWorkerConfigSpec struct {
	// The fields every k0s machine's bootstrap data is made of.
	K0sInstallSpec `json:",inline"`

	// secretMetadata holds labels and annotations added to the bootstrap data Secret.
	// +optional
	SecretMetadata *SecretMetadata `json:"secretMetadata,omitempty"`
}

// IgnitionSpec configures Ignition bootstrap data.
type IgnitionSpec struct {
	// variant is the operating system the Ignition config is for: fcos or flatcar.
	// +required
	// +kubebuilder:validation:Enum=fcos;flatcar
	Variant string `json:"variant"`

	// version is the Butane specification version of additionalConfig.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=32
	Version string `json:"version"`

	// additionalConfig is configuration merged into the generated config.
	// +optional
	AdditionalConfig string `json:"additionalConfig,omitempty"`
}

// File is a file written to the machine before k0s is installed.
type File struct {
	// path is the absolute path of the file on the machine.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	Path string `json:"path"`

	// content is the file's content.
	// +optional
	Content string `json:"content,omitempty"`

	// permissions is the file mode as an octal string, for example "0644".
	// +optional
	// +kubebuilder:validation:MaxLength=5
	Permissions string `json:"permissions,omitempty"`

	// contentFrom reads the file's content from a Secret or ConfigMap key.
	// +optional
	ContentFrom *ContentSource `json:"contentFrom,omitempty"`
}

// ContentSource names exactly one Secret or ConfigMap key.
type ContentSource struct {
	// secretRef reads the content from a key of a Secret.
	// +optional
	SecretRef *ContentSourceRef `json:"secretRef,omitempty"`

	// configMapRef reads the content from a key of a ConfigMap.
	// +optional
	ConfigMapRef *ContentSourceRef `json:"configMapRef,omitempty"`
}

// ContentSourceRef is a key of a Secret or ConfigMap in the config's namespace.
type ContentSourceRef struct {
	// name is the name of the Secret or ConfigMap.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// key is the key within the Secret or ConfigMap.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key"`
}

// SecretMetadata is metadata added to the bootstrap data Secret.
type SecretMetadata struct {
	// labels are added to the bootstrap data Secret.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`

	// annotations are added to the bootstrap data Secret.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// K0sWorkerConfigStatus is the observed state of a K0sWorkerConfig.
type K0sWorkerConfigStatus struct {
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
// +kubebuilder:resource:path=k0sworkerconfigs,scope=Namespaced,categories=cluster-api
// +kubebuilder:deprecatedversion
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Cluster",type="string",JSONPath=".metadata.labels['cluster\\.x-k8s\\.io/cluster-name']",description="Cluster"
// +kubebuilder:printcolumn:name="Ready",type="boolean",JSONPath=".status.ready",description="Whether the bootstrap data Secret exists"
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description="Time since creation"

// K0sWorkerConfig is the bootstrap configuration of one k0s worker machine.
//
// Deprecated: use bootstrap.cluster.x-k8s.io/v1beta2.
type K0sWorkerConfig struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec describes how the machine installs k0s and joins the cluster.
	// +optional
	Spec K0sWorkerConfigSpec `json:"spec,omitempty,omitzero"`

	// status is the observed state of the config.
	// +optional
	Status K0sWorkerConfigStatus `json:"status,omitempty,omitzero"`
}

// +kubebuilder:object:root=true

// K0sWorkerConfigList is a list of K0sWorkerConfigs.
type K0sWorkerConfigList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the configs.
	Items []K0sWorkerConfig `json:"items"`
}

func init() {
	objectTypes = append(objectTypes, &K0sWorkerConfig{}, &K0sWorkerConfigList{})
}
