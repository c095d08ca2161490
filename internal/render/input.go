package render

import corev1 "k8s.io/api/core/v1"

// Format is the kind of bootstrap data, as stored in the data Secret's
// "format" key.
type Format string

const (
	// FormatCloudConfig is cloud-init user data.
	FormatCloudConfig Format = "cloud-config"
	// FormatIgnition is an Ignition config (JSON).
	FormatIgnition Format = "ignition"
)

// File is a file written to the machine. Content is already resolved (a
// contentFrom reference has been read by the caller).
type File struct {
	// Path is absolute.
	Path string
	// Content is written as is.
	Content string
	// Permissions is an octal mode such as "0644"; empty means "0644".
	Permissions string
	// Verbatim content is data, not a template: it reaches the machine byte
	// for byte, out of reach of cloud-init's Jinja pass. Content read from
	// a contentFrom source is verbatim (a Helm values file or a Prometheus
	// rule full of {{ }} must arrive as written); inline content stays
	// Jinja-visible, as with k0smotron.
	Verbatim bool
}

// Ignition holds the Ignition-specific settings.
type Ignition struct {
	// Variant is "fcos" or "flatcar".
	Variant string
	// Version is the Butane spec version additional config is written in.
	Version string
	// AdditionalConfig is Butane YAML or Ignition JSON merged into the
	// generated config; empty means none.
	AdditionalConfig string
}

// Input is everything the bootstrap data depends on. The caller has already
// resolved defaults that need the cluster (version from the Machine, the
// join token, file contents); render applies the remaining defaults.
type Input struct {
	// Format selects cloud-config or Ignition.
	Format Format
	// Ignition is required when Format is FormatIgnition.
	Ignition *Ignition
	// CustomCloudConfig is user cloud-config merged into the generated one
	// (cloud-config only); empty means none.
	CustomCloudConfig string

	// JoinToken is the k0s join token (base64 of a gzipped kubeconfig).
	JoinToken string
	// WorkingDir is where the token file goes; empty means /etc.
	WorkingDir string

	// Files are the user's files.
	Files []File

	// Version is the normalised k0s version (v1.33.4+k0s.0); empty means the
	// latest release (only with the default download).
	Version string
	// InstallDir is where the k0s binary goes; empty means /usr/local/bin,
	// or /opt/bin for the Ignition variant flatcar (whose /usr is
	// read-only).
	InstallDir string
	// PreInstalled skips the download.
	PreInstalled bool
	// DownloadURL is empty (get.k0s.sh), an http(s) URL of the k0s binary,
	// or an oci:// reference fetched with oras.
	DownloadURL string
	// DownloadSHA256 is the expected SHA-256 (hex) of an http(s) download.
	DownloadSHA256 string

	// PreCommands run before the download, PostCommands after k0s started.
	PreCommands  []string
	PostCommands []string

	// NodeName, when set, becomes the kubelet's --hostname-override.
	NodeName string
	// Labels are node labels (k0s install worker --labels).
	Labels map[string]string
	// Taints are node taints (k0s install worker --taints).
	Taints []corev1.Taint
	// KubeletExtraArgs are kubelet flags by name without dashes; they win
	// over the same flags found in --kubelet-extra-args inside Args.
	KubeletExtraArgs map[string]string
	// Profile is the k0s worker profile (--profile).
	Profile string
	// Controller, when set, makes the data install and start a k0s
	// controller instead of a worker.
	Controller *Controller

	// Args are extra `k0s install worker` (or controller) arguments. Each element is one
	// argument, passed literally (no shell quote removal). The
	// --kubelet-extra-args among them (as "--kubelet-extra-args=V", one
	// element "--kubelet-extra-args V", or two elements; outer quotes of V
	// are removed for k0smotron compatibility) are merged into the single
	// --kubelet-extra-args cabpk0s passes.
	Args []string
}

// Controller is what a controller's data holds beyond a worker's.
type Controller struct {
	// K0sConfig is the k0s ClusterConfig written to k0s.yaml in the
	// working dir and passed with --config; empty means k0s's defaults
	// (no file, no --config).
	K0sConfig string
	// PKI are the cluster certificates and keys the first controller
	// brings (the join token is then empty: it initialises the cluster).
	// A joining controller has none: k0s fetches them with its token.
	PKI []File
	// Manifests are files the controller applies to its cluster from k0s's
	// manifests directory (the tunnel's frp client), written out of
	// Jinja's reach.
	Manifests []File
	// LeaveHelper installs a service that makes the controller leave etcd
	// when the machine shuts down after K0sControlPlane marked it for
	// removal: k0s before v1.31.6 has no EtcdMember API for that.
	LeaveHelper bool
	// AutopilotHostname is the name k0s registers the controller under
	// (its ControlNode, and with --enable-worker its Node): the Machine's.
	AutopilotHostname string
}

// Initialises tells the first controller of a cluster, which brings the
// certificates and no token, from one that joins.
func (c *Controller) initialises() bool { return c != nil && len(c.PKI) > 0 }

// role is the k0s role the data installs: "worker" or "controller".
func (in Input) role() string {
	if in.Controller != nil {
		return "controller"
	}
	return "worker"
}

// service is the init system's name for k0s's service.
func (in Input) service() string { return "k0s" + in.role() }
