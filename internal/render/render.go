package render

import (
	"path"
	"slices"
	"strings"
)

// Paths and names on the machine.
const (
	// ScriptPath is the bootstrap script.
	ScriptPath = "/etc/cabpk0s/bootstrap.sh"
	// PreCommandsPath holds the user's pre-commands; written only when
	// there are some.
	PreCommandsPath = "/etc/cabpk0s/pre-k0s.sh"
	// PostCommandsPath holds the user's post-commands; written only when
	// there are some.
	PostCommandsPath = "/etc/cabpk0s/post-k0s.sh"
	// SentinelPath is the Cluster API bootstrap sentinel, written last.
	SentinelPath = "/run/cluster-api/bootstrap-success.complete"
	// DoneMarkerPath survives reboots (the sentinel lives on tmpfs) and
	// keeps the Ignition unit from bootstrapping again on every boot, as
	// cloud-init runs runcmd once per instance.
	DoneMarkerPath = "/var/lib/cabpk0s/bootstrap.done"
	// UnitName is the systemd unit that runs the script under Ignition.
	UnitName = "cabpk0s-bootstrap.service"

	// DefaultInstallDir is where k0s goes when InstallDir is empty.
	DefaultInstallDir = "/usr/local/bin"
	// FlatcarInstallDir replaces DefaultInstallDir for the Ignition variant
	// flatcar, whose /usr is read-only.
	FlatcarInstallDir = "/opt/bin"
	// DefaultWorkingDir is where the token goes when WorkingDir is empty.
	DefaultWorkingDir = "/etc"
	// TokenFileName is the join token's file name inside the working dir.
	TokenFileName = "k0s.token"
	// K0sConfigFileName is a controller's k0s configuration inside the
	// working dir.
	K0sConfigFileName = "k0s.yaml"
	// PKIDir is where k0s keeps the cluster's certificates.
	PKIDir = "/var/lib/k0s/pki"
	// LeaveScriptPath, LeaveUnitPath and LeaveOpenRCPath are the
	// etcd-leave helper of a controller running k0s before v1.31.6.
	LeaveScriptPath = "/etc/cabpk0s/k0s-leave.sh"
	LeaveUnitPath   = "/etc/systemd/system/k0sleave.service"
	LeaveOpenRCPath = "/etc/init.d/k0sleave"
	// TunnelManifestPath is the frp client's manifest a tunnelling
	// controller applies (k0s applies what it finds under
	// /var/lib/k0s/manifests); k0smotron's path.
	TunnelManifestPath = "/var/lib/k0s/manifests/k0smotron-tunneling/manifest.yaml"

	// GetK0sURL is the k0s install script used when DownloadURL is empty.
	GetK0sURL = "https://get.k0s.sh"
)

// Ignition variants.
const (
	VariantFCOS    = "fcos"
	VariantFlatcar = "flatcar"
)

// Render returns the bootstrap data for in.Format, or an error naming every
// problem with the input.
func Render(in Input) ([]byte, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	switch in.Format {
	case FormatIgnition:
		return renderIgnition(in)
	default: // FormatCloudConfig; validate rejected anything else
		cfg, err := cloudConfig(in)
		if err != nil {
			return nil, err
		}
		if in.CustomCloudConfig == "" {
			return cfg, nil
		}
		return multipartUserData(cfg, in.CustomCloudConfig)
	}
}

// installDir is where the k0s binary goes on the machine.
func (in Input) installDir() string {
	switch {
	case in.InstallDir != "":
		return in.InstallDir
	case in.Format == FormatIgnition && in.Ignition != nil && in.Ignition.Variant == VariantFlatcar:
		return FlatcarInstallDir
	default:
		return DefaultInstallDir
	}
}

// tokenPath is where the join token is written on the machine.
func (in Input) tokenPath() string { return TokenPath(in.WorkingDir) }

// TokenPath is where the join token is written on the machine for a
// working directory ("" is the default).
func TokenPath(workingDir string) string {
	if workingDir == "" {
		workingDir = DefaultWorkingDir
	}
	return path.Join(workingDir, TokenFileName)
}

// K0sConfigPath is where a controller's k0s configuration is written for a
// working directory ("" is the default).
func K0sConfigPath(workingDir string) string {
	if workingDir == "" {
		workingDir = DefaultWorkingDir
	}
	return path.Join(workingDir, K0sConfigFileName)
}

// PKIFiles are the cluster certificates and keys the first controller
// brings, where k0s looks for them: Cluster API's cluster CA, etcd CA,
// front-proxy CA and service-account key pair.
var PKIFiles = []string{
	PKIDir + "/ca.crt", PKIDir + "/ca.key",
	PKIDir + "/etcd/ca.crt", PKIDir + "/etcd/ca.key",
	PKIDir + "/front-proxy-ca.crt", PKIDir + "/front-proxy-ca.key",
	PKIDir + "/sa.pub", PKIDir + "/sa.key",
}

// machineFile is a file the bootstrap data writes.
type machineFile struct {
	path    string
	content string
	mode    int
	// literal marks content Jinja must not touch: what cabpk0s generated
	// (not already safe from Jinja) and the user's verbatim files.
	// Cloud-config encodes it, so rendering can never change it.
	literal bool
}

// machineFiles lists, in order: the token (unless the first controller's),
// a controller's k0s config and certificates, the user's files, the pre- and
// post-commands (when there are any), and the script.
func machineFiles(in Input) []machineFile {
	var files []machineFile
	if in.JoinToken != "" {
		files = append(files, machineFile{path: in.tokenPath(), content: in.JoinToken, mode: 0o600})
	}
	if c := in.Controller; c != nil {
		// Out of Jinja's reach: a k0s config is the user's YAML as written,
		// and certificates and keys are data.
		if c.K0sConfig != "" {
			files = append(files, machineFile{path: K0sConfigPath(in.WorkingDir), content: c.K0sConfig, mode: 0o600, literal: true})
		}
		for _, f := range slices.Concat(c.PKI, c.Manifests) {
			mode, _ := FileMode(f.Permissions) // checked by validate
			files = append(files, machineFile{path: f.Path, content: f.Content, mode: mode, literal: true})
		}
		if c.LeaveHelper {
			files = append(files,
				machineFile{path: LeaveScriptPath, content: leaveScript(in), mode: 0o700, literal: true},
				machineFile{path: LeaveUnitPath, content: leaveUnit, mode: 0o644, literal: true},
				machineFile{path: LeaveOpenRCPath, content: leaveOpenRC, mode: 0o755, literal: true})
		}
	}
	for _, f := range in.Files {
		mode, _ := FileMode(f.Permissions) // checked by validate
		files = append(files, machineFile{path: f.Path, content: f.Content, mode: mode, literal: f.Verbatim})
	}
	if len(in.PreCommands) > 0 {
		files = append(files, machineFile{path: PreCommandsPath, content: commandsFile("preK0sCommands", in.PreCommands), mode: 0o700})
	}
	if len(in.PostCommands) > 0 {
		files = append(files, machineFile{path: PostCommandsPath, content: commandsFile("postK0sCommands", in.PostCommands), mode: 0o700})
	}
	return append(files, machineFile{path: ScriptPath, content: Script(in), mode: 0o700, literal: true})
}

// commandsFile is the user's commands, one per line, run by the script with
// sh -e so the first failing command stops the bootstrap.
func commandsFile(what string, cmds []string) string {
	return "# " + what + ", run by " + ScriptPath + " with sh -e\n" + strings.Join(cmds, "\n") + "\n"
}
