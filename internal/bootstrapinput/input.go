// Package bootstrapinput turns a K0sWorkerConfig or K0sControllerConfig
// spec, the facts of the machine it bootstraps and its referenced sources
// into render.Input. The
// reconciler and `cabpk0s render` both build their input here, so the
// data a user previews offline is the data a machine gets.
package bootstrapinput

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/yaml"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/internal/jointoken"
	"github.com/cabpk0s/cabpk0s/internal/k0sversion"
	"github.com/cabpk0s/cabpk0s/internal/render"
)

// Sources reads the Secret and ConfigMap keys a spec references
// (files[].contentFrom, provisioner.customUserDataRef).
type Sources interface {
	Read(ctx context.Context, src *bootstrapv1.ContentSource) (string, error)
}

// MissingSourceError names a Secret, ConfigMap or key that does not exist,
// so a condition or the command line can say exactly what to create.
type MissingSourceError struct{ What string }

func (e *MissingSourceError) Error() string { return e.What + " not found" }

// IsMissingSource tells whether err is, or wraps, a MissingSourceError.
func IsMissingSource(err error) bool {
	var missing *MissingSourceError
	return errors.As(err, &missing)
}

// Machine is what the data depends on besides the spec.
type Machine struct {
	// Name is the Machine's name: a controller registers under it with
	// k0s (its ControlNode). Empty for a MachinePool.
	Name string
	// NodeName becomes the kubelet's hostname override; empty keeps the
	// machine's own hostname (MachinePools, useSystemHostname).
	NodeName string
	// OwnerVersion is the Machine's (or MachinePool template's) version,
	// used when the spec has none.
	OwnerVersion string
}

// uninitializedTaint is Cluster API's marker for a node whose labels it has
// not synced yet; Cluster API removes it itself.
var uninitializedTaint = corev1.Taint{Key: clusterv1.NodeUninitializedTaint.Key, Effect: clusterv1.NodeUninitializedTaint.Effect}

// Version is the k0s version to install: the spec's, else the owner's,
// normalised; "" means the latest release.
func Version(specVersion, ownerVersion string) (string, error) {
	v := specVersion
	if v == "" {
		v = ownerVersion
	}
	if v == "" {
		return "", nil
	}
	return k0sversion.Normalize(v)
}

// NodeName is the name a Machine's node registers under: the Machine's,
// unless the spec asks for the system hostname.
func NodeName(spec *bootstrapv1.K0sInstallSpec, machineName string) string {
	if spec.UseSystemHostname {
		return ""
	}
	return machineName
}

// Build gathers everything a worker's bootstrap data needs besides the
// join token. The spec must have passed validation.Spec.
func Build(ctx context.Context, spec *bootstrapv1.K0sWorkerConfigSpec, machine Machine, sources Sources) (render.Input, error) {
	in, err := install(ctx, &spec.K0sInstallSpec, machine, sources)
	if err != nil {
		return render.Input{}, err
	}
	in.NodeName = machine.NodeName
	in.Labels = spec.Labels
	in.Taints = append([]corev1.Taint{uninitializedTaint}, spec.Taints...)
	in.KubeletExtraArgs = spec.KubeletExtraArgs
	in.Profile = spec.Profile
	return in, nil
}

// MachineNameLabel is the node label k0smotron gives a controller that
// also runs a worker, naming its Machine; kept for what relies on it.
const MachineNameLabel = "k0smotron.io/machine-name"

// EtcdMemberVersion is the first k0s with the EtcdMember API, through
// which K0sControlPlane takes a removed controller out of etcd; controllers
// of older k0s get the etcd-leave helper instead.
const EtcdMemberVersion = "v1.31.6+k0s.0"

// ControllerFacts are what a controller's data holds besides its spec.
type ControllerFacts struct {
	// PKI holds the cluster certificates for the first controller, none
	// for one that joins.
	PKI []render.File
	// Tunnel is what the frp client needs; required with
	// spec.tunneling.enabled.
	Tunnel *Tunnel
}

// BuildController gathers everything a controller's bootstrap data needs
// besides the join token. The spec must have passed
// validation.ControllerSpec.
func BuildController(ctx context.Context, spec *bootstrapv1.K0sControllerConfigSpec, machine Machine, facts ControllerFacts, sources Sources) (render.Input, error) {
	in, err := install(ctx, &spec.K0sInstallSpec, machine, sources)
	if err != nil {
		return render.Input{}, err
	}
	in.Controller = &render.Controller{PKI: facts.PKI, AutopilotHostname: machine.Name}
	if in.Version != "" {
		// The latest release ("") has the EtcdMember API.
		old, err := k0sversion.Before(in.Version, EtcdMemberVersion)
		if err != nil {
			return render.Input{}, err
		}
		in.Controller.LeaveHelper = old
	}
	if spec.Tunneling.Enabled {
		if facts.Tunnel == nil {
			return render.Input{}, errors.New("spec.tunneling is enabled but the tunnel's settings are unknown")
		}
		manifest, err := TunnelManifest(&spec.Tunneling, *facts.Tunnel)
		if err != nil {
			return render.Input{}, err
		}
		in.Controller.Manifests = append(in.Controller.Manifests, manifest)
	}
	if spec.K0s != nil && len(spec.K0s.Raw) > 0 {
		k0sConfig, err := yaml.JSONToYAML(spec.K0s.Raw)
		if err != nil {
			return render.Input{}, fmt.Errorf("spec.k0s: %w", err)
		}
		in.Controller.K0sConfig = string(k0sConfig)
	}
	if RunsWorker(spec.Args) {
		// A kubelet runs beside the controller: its node gets the name,
		// label and taint a worker's gets, and Cluster API finds it so.
		in.NodeName = machine.NodeName
		in.Labels = map[string]string{MachineNameLabel: machine.Name}
		in.Taints = []corev1.Taint{uninitializedTaint}
	}
	return in, nil
}

// K0sSettings are the fields of a controller's k0s config its bootstrap
// data depends on; zero where the config names none.
type K0sSettings struct {
	// K0sAPIPort is spec.api.k0sApiPort, the k0s join API's port.
	K0sAPIPort int
	// ServiceCIDR is spec.network.serviceCIDR.
	ServiceCIDR string
}

// K0sConfigSettings reads them from spec.k0s (admission checked its
// shape; what does not parse counts as unset).
func K0sConfigSettings(spec *bootstrapv1.K0sControllerConfigSpec) K0sSettings {
	if spec.K0s == nil || len(spec.K0s.Raw) == 0 {
		return K0sSettings{}
	}
	var k0s struct {
		Spec struct {
			API struct {
				K0sAPIPort int `json:"k0sApiPort"`
			} `json:"api"`
			Network struct {
				ServiceCIDR string `json:"serviceCIDR"`
			} `json:"network"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(spec.K0s.Raw, &k0s); err != nil {
		return K0sSettings{}
	}
	return K0sSettings{K0sAPIPort: k0s.Spec.API.K0sAPIPort, ServiceCIDR: k0s.Spec.Network.ServiceCIDR}
}

// RunsWorker tells whether `k0s install controller` args make the
// controller run a kubelet too (--enable-worker, or --single).
func RunsWorker(args []string) bool {
	for _, a := range args {
		switch a {
		case "--enable-worker", "--enable-worker=true", "--single", "--single=true":
			return true
		}
	}
	return false
}

// install is the part of the input both kinds' specs make the same way.
func install(ctx context.Context, spec *bootstrapv1.K0sInstallSpec, machine Machine, sources Sources) (render.Input, error) {
	version, err := Version(spec.Version, machine.OwnerVersion)
	if err != nil {
		return render.Input{}, fmt.Errorf("k0s version: %w", err)
	}
	in := render.Input{
		Format:         render.FormatCloudConfig,
		WorkingDir:     spec.WorkingDir,
		Version:        version,
		InstallDir:     spec.K0sInstallDir,
		PreInstalled:   spec.PreInstalledK0s,
		DownloadURL:    spec.DownloadURL,
		DownloadSHA256: spec.DownloadSHA256,
		PreCommands:    spec.PreK0sCommands,
		PostCommands:   spec.PostK0sCommands,
		Args:           spec.Args,
	}
	if spec.Provisioner.Type == bootstrapv1.ProvisioningFormatIgnition {
		in.Format = render.FormatIgnition
		if ign := spec.Provisioner.Ignition; ign != nil {
			in.Ignition = &render.Ignition{Variant: string(ign.Variant), Version: ign.Version, AdditionalConfig: ign.AdditionalConfig}
		}
	}
	if ref := spec.Provisioner.CustomUserDataRef; ref != nil {
		custom, err := sources.Read(ctx, ref)
		if err != nil {
			return render.Input{}, err
		}
		in.CustomCloudConfig = custom
	}
	for _, f := range spec.Files {
		file := render.File{Path: f.Path, Content: f.Content, Permissions: f.Permissions}
		if f.ContentFrom != nil {
			var err error
			if file.Content, err = sources.Read(ctx, f.ContentFrom); err != nil {
				return render.Input{}, err
			}
			file.Verbatim = true
		}
		in.Files = append(in.Files, file)
	}
	return in, nil
}

// Join is where a join token points and whom it trusts.
type Join struct {
	// Role is the token's: a worker's or a controller's.
	Role jointoken.Role
	// Server is the API server (a worker's) or the k0s join API (a
	// controller's) the machine joins through.
	Server string
	// CA is the cluster CA certificate the machine trusts Server by.
	CA []byte
}

// MaxDataSize is what a Secret holds: the API server refuses one whose
// data exceeds 1 MiB.
const MaxDataSize = 1 << 20

// Render returns the bootstrap data for in with the join token for token
// as join describes it (nil: data without a token, the first
// controller's), and refuses data no Secret can hold. The reconciler
// writes exactly these bytes; `cabpk0s render` prints them.
func Render(in render.Input, join *Join, token jointoken.Token) ([]byte, error) {
	if join != nil {
		var err error
		if in.JoinToken, err = join.Role.Encode(join.Server, join.CA, token); err != nil {
			return nil, err
		}
	}
	data, err := render.Render(in)
	if err != nil {
		return nil, err
	}
	if len(data) > MaxDataSize {
		return nil, fmt.Errorf("the bootstrap data is %d bytes, more than a Secret holds (%d): make the files smaller or fewer", len(data), MaxDataSize)
	}
	return data, nil
}
