package v1beta2

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ProvisioningFormat is the format of the generated bootstrap data.
// +kubebuilder:validation:Enum=cloud-config;ignition
type ProvisioningFormat string

const (
	// ProvisioningFormatCloudConfig produces cloud-init user data (the default).
	ProvisioningFormatCloudConfig ProvisioningFormat = "cloud-config"
	// ProvisioningFormatIgnition produces an Ignition config.
	ProvisioningFormatIgnition ProvisioningFormat = "ignition"
)

// Platform is the operating-system family of the machine being bootstrapped.
// +kubebuilder:validation:Enum=linux
type Platform string

const (
	// PlatformLinux is the only platform cabpk0s bootstraps.
	PlatformLinux Platform = "linux"
)

// IgnitionVariant is the Butane variant the Ignition config targets.
// +kubebuilder:validation:Enum=fcos;flatcar
type IgnitionVariant string

const (
	// IgnitionVariantFCOS targets Fedora CoreOS.
	IgnitionVariantFCOS IgnitionVariant = "fcos"
	// IgnitionVariantFlatcar targets Flatcar Container Linux.
	IgnitionVariantFlatcar IgnitionVariant = "flatcar"
)

// K0sInstallSpec is how a machine gets k0s, what it writes and runs
// around it, and how its data Secret looks: the fields workers and
// controllers share, with k0smotron's names.
type K0sInstallSpec struct {
	// provisioner selects the bootstrap data format (cloud-config or Ignition)
	// and its format-specific settings. Empty means cloud-config.
	// +optional
	Provisioner ProvisionerSpec `json:"provisioner,omitempty,omitzero"`

	// k0sInstallDir is the directory the k0s binary is installed into.
	// Empty means /usr/local/bin, where the get.k0s.sh script installs it.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	K0sInstallDir string `json:"k0sInstallDir,omitempty"`

	// version is the k0s version to install, for example v1.33.4+k0s.0.
	// "-k0s.N" is accepted for "+k0s.N" (ClusterClass variables cannot hold "+"),
	// and "+k0s.0" is assumed when the suffix is missing. Empty means the
	// owning Machine's or MachinePool's spec.version; when that is empty too,
	// the latest k0s release is installed.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Version string `json:"version,omitempty"`

	// useSystemHostname makes the node register under the machine's own
	// hostname. By default the node is named after the Machine. (A
	// controller registers a node only with --enable-worker or --single.)
	// +optional
	UseSystemHostname bool `json:"useSystemHostname,omitempty"`

	// files are written to the machine before k0s is installed.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=200
	Files []File `json:"files,omitempty"`

	// args are extra arguments for `k0s install worker` (or `k0s install
	// controller`), for example "--debug". On a worker, prefer the typed
	// fields (labels, taints, kubeletExtraArgs, profile) where one exists.
	// See https://docs.k0sproject.io/stable/cli/k0s_worker/ and
	// https://docs.k0sproject.io/stable/cli/k0s_controller/
	// +optional
	// +listType=atomic
	Args []string `json:"args,omitempty"`

	// preK0sCommands are shell commands run before k0s is downloaded and installed.
	// +optional
	// +listType=atomic
	PreK0sCommands []string `json:"preK0sCommands,omitempty"`

	// postK0sCommands are shell commands run after k0s has started.
	// +optional
	// +listType=atomic
	PostK0sCommands []string `json:"postK0sCommands,omitempty"`

	// preInstalledK0s skips the download: the k0s binary is already in k0sInstallDir.
	// +optional
	PreInstalledK0s bool `json:"preInstalledK0s,omitempty"`

	// downloadURL is where the k0s binary comes from. Empty means the
	// get.k0s.sh install script for the chosen version. An http(s) URL must
	// serve the k0s binary itself (the version field is then ignored); an
	// oci:// reference is fetched with oras, which must be on the machine.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	DownloadURL string `json:"downloadURL,omitempty"`

	// downloadSHA256 is the expected SHA-256 of the binary served by a custom
	// http(s) downloadURL, as 64 hexadecimal characters. The bootstrap fails
	// if the download does not match.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	DownloadSHA256 string `json:"downloadSHA256,omitempty"`

	// secretMetadata holds labels and annotations added to the generated
	// bootstrap data Secret.
	// +optional
	SecretMetadata *SecretMetadata `json:"secretMetadata,omitempty"`

	// workingDir is where the join token file (and a controller's k0s.yaml)
	// is written. Empty means /etc.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	WorkingDir string `json:"workingDir,omitempty"`
}

// K0sWorkerConfigSpec describes how a machine installs k0s and joins the
// cluster as a worker.
type K0sWorkerConfigSpec struct {
	// The fields every k0s machine's bootstrap data is made of.
	K0sInstallSpec `json:",inline"`

	// labels are added to the Kubernetes Node when it registers (the
	// kubelet's --node-labels). In the kubernetes.io and k8s.io namespaces
	// only the labels a kubelet may set itself are accepted (kubernetes.io/hostname,
	// topology.kubernetes.io/zone, anything under node.kubernetes.io/ or
	// kubelet.kubernetes.io/, ...); node-role.kubernetes.io/* belongs on the
	// Machine, from which Cluster API copies it to the Node.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`

	// taints are added to the Kubernetes Node when it registers, in addition
	// to Cluster API's node.cluster.x-k8s.io/uninitialized:NoSchedule, which
	// Cluster API removes once the Node is initialized.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	Taints []corev1.Taint `json:"taints,omitempty"`

	// kubeletExtraArgs are extra kubelet flags, by name without the leading
	// dashes ("max-pods": "110"). They are merged with any
	// --kubelet-extra-args found in args; these win on conflict.
	// +optional
	KubeletExtraArgs map[string]string `json:"kubeletExtraArgs,omitempty"`

	// profile is the name of the k0s worker profile to use (k0s --profile).
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Profile string `json:"profile,omitempty"`
}

// ProvisionerSpec selects and configures the bootstrap data format.
type ProvisionerSpec struct {
	// type is the bootstrap data format: cloud-config (the default) or ignition.
	// +optional
	Type ProvisioningFormat `json:"type,omitempty"`

	// platform is the operating-system family of the machine. Only linux is
	// supported.
	// +optional
	Platform Platform `json:"platform,omitempty"`

	// ignition configures Ignition output; it is only valid with type: ignition.
	// +optional
	Ignition *IgnitionSpec `json:"ignition,omitempty"`

	// customUserDataRef points at a Secret or ConfigMap key, in the config's
	// namespace, whose cloud-config is merged with the generated one (as a
	// MIME multi-part message, so lists such as runcmd and write_files are
	// appended to, never replaced).
	// +optional
	CustomUserDataRef *ContentSource `json:"customUserDataRef,omitempty"`
}

// IgnitionSpec configures Ignition bootstrap data.
type IgnitionSpec struct {
	// variant is the operating system the Ignition config is for: fcos or flatcar.
	// +required
	Variant IgnitionVariant `json:"variant"`

	// version is the Butane specification version of additionalConfig,
	// for example 1.5.0 for fcos or 1.1.0 for flatcar.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=32
	Version string `json:"version"`

	// additionalConfig is Ignition or Butane configuration merged into the
	// generated config.
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

	// content is the file's content. Exactly one of content and contentFrom is set.
	// +optional
	Content string `json:"content,omitempty"`

	// permissions is the file mode as an octal string, for example "0644".
	// +optional
	// +kubebuilder:validation:MaxLength=5
	Permissions string `json:"permissions,omitempty"`

	// contentFrom reads the file's content from a Secret or ConfigMap key in
	// the config's namespace. Exactly one of content and contentFrom is set.
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
	Initialization K0sWorkerConfigInitializationStatus `json:"initialization,omitempty,omitzero"`

	// dataSecretName is the name of the Secret holding the bootstrap data.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	DataSecretName *string `json:"dataSecretName,omitempty"`

	// observedGeneration is the metadata.generation the status reflects.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// K0sWorkerConfigInitializationStatus holds the bootstrap contract's
// provisioning milestones.
// +kubebuilder:validation:MinProperties=1
type K0sWorkerConfigInitializationStatus struct {
	// dataSecretCreated is true once the bootstrap data Secret exists and
	// status.dataSecretName names it.
	// +optional
	DataSecretCreated *bool `json:"dataSecretCreated,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:path=k0sworkerconfigs,scope=Namespaced,categories=cluster-api
// +kubebuilder:storageversion
// +kubebuilder:subresource:status
// +kubebuilder:metadata:labels="cluster.x-k8s.io/v1beta1=v1beta1"
// +kubebuilder:metadata:labels="cluster.x-k8s.io/v1beta2=v1beta2"
// +kubebuilder:printcolumn:name="Cluster",type="string",JSONPath=".metadata.labels['cluster\\.x-k8s\\.io/cluster-name']",description="Cluster"
// +kubebuilder:printcolumn:name="Data secret created",type="boolean",JSONPath=".status.initialization.dataSecretCreated",description="Whether the bootstrap data Secret exists"
// +kubebuilder:printcolumn:name="Ready",type="string",JSONPath=`.status.conditions[?(@.type=="Ready")].status`,description="Ready condition"
// +kubebuilder:printcolumn:name="Reason",type="string",JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,description="What the config is waiting for, when not ready"
// +kubebuilder:printcolumn:name="Paused",type="string",JSONPath=`.status.conditions[?(@.type=="Paused")].status`,description="Reconciliation paused",priority=10
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description="Time since creation"

// K0sWorkerConfig is the bootstrap configuration of one k0s worker machine.
// A Machine or MachinePool references it in spec.bootstrap.configRef;
// cabpk0s answers with a Secret of bootstrap data (cloud-config or Ignition)
// holding a short-lived k0s join token.
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

// GetConditions returns the config's conditions.
func (c *K0sWorkerConfig) GetConditions() []metav1.Condition {
	return c.Status.Conditions
}

// SetConditions replaces the config's conditions.
func (c *K0sWorkerConfig) SetConditions(conditions []metav1.Condition) {
	c.Status.Conditions = conditions
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
