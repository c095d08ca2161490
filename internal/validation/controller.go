package validation

import (
	"encoding/json"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/internal/render"
)

// The k0s configuration a controller starts with.
const (
	K0sConfigAPIVersion = "k0s.k0sproject.io/v1beta1"
	K0sConfigKind       = "ClusterConfig"
)

// controllerOwnedFlags are the `k0s install controller` flags the
// bootstrap data sets itself: given again in args, k0s would take one of
// two values, and not necessarily ours.
var controllerOwnedFlags = map[string]string{ //nolint:gosec // G101: flag names, not credentials
	"--config":     "spec.k0s is written to the machine and passed with --config",
	"-c":           "spec.k0s is written to the machine and passed with --config",
	"--token-file": "a joining controller's token file is written and passed by cabpk0s",
	"--data-dir":   "the first controller's certificates are written under /var/lib/k0s/pki, k0s's default data directory",
}

// ControllerSpec checks a K0sControllerConfig spec: what every k0s
// machine's data is made of, as for a worker, and the k0s configuration,
// tunneling and the flags the controller's data sets itself.
func ControllerSpec(spec *bootstrapv1.K0sControllerConfigSpec, fldPath *field.Path) (field.ErrorList, []string) {
	errs, warnings := install(&spec.K0sInstallSpec, render.ControllerReservedPaths(spec.WorkingDir), fldPath)
	errs = append(errs, k0sConfig(spec, fldPath.Child("k0s"))...)
	errs = append(errs, tunneling(&spec.Tunneling, fldPath.Child("tunneling"))...)
	for i, arg := range spec.Args {
		name, _, _ := strings.Cut(arg, "=")
		if strings.HasPrefix(name, "-c") && !strings.HasPrefix(name, "--") {
			name = "-c" // -c/etc/x.yaml, pflag's attached short form
		}
		if why, owned := controllerOwnedFlags[name]; owned {
			errs = append(errs, field.Forbidden(fldPath.Child("args").Index(i), fmt.Sprintf("%s is set by cabpk0s: %s", name, why)))
		}
	}
	return errs, warnings
}

// k0sConfig checks that spec.k0s, when given, is a k0s ClusterConfig: k0s
// refuses to start on anything else, long after the machine was created.
// apiVersion and kind may be left out, as k0s itself allows (k0smotron's
// K0sControlPlane adds them only when it merges in the Cluster's network).
func k0sConfig(spec *bootstrapv1.K0sControllerConfigSpec, fldPath *field.Path) field.ErrorList {
	if spec.K0s == nil || len(spec.K0s.Raw) == 0 {
		return nil
	}
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := json.Unmarshal(spec.K0s.Raw, &head); err != nil {
		return field.ErrorList{field.Invalid(fldPath, field.OmitValueType{}, "must be a k0s ClusterConfig object: "+err.Error())}
	}
	var errs field.ErrorList
	if head.APIVersion != "" && head.APIVersion != K0sConfigAPIVersion {
		errs = append(errs, field.Invalid(fldPath.Child("apiVersion"), head.APIVersion, fmt.Sprintf("must be %s (a k0s ClusterConfig), or left out", K0sConfigAPIVersion)))
	}
	if head.Kind != "" && head.Kind != K0sConfigKind {
		errs = append(errs, field.Invalid(fldPath.Child("kind"), head.Kind, fmt.Sprintf("must be %s, or left out", K0sConfigKind)))
	}
	return errs
}

// The node ports tunneling uses when its fields are empty.
const (
	DefaultTunnelServerNodePort int32 = 31700
	DefaultTunnelingNodePort    int32 = 31443
)

// tunneling checks what the schema cannot: the server address is a host,
// and the two node ports, defaults included, differ. The ports' range and
// the mode are the schema's.
func tunneling(t *bootstrapv1.TunnelingSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if t.ServerAddress != "" {
		host := strings.ToLower(t.ServerAddress)
		if validation.IsValidIP(fldPath.Child("serverAddress"), host) != nil && len(validation.IsDNS1123Subdomain(host)) > 0 {
			errs = append(errs, field.Invalid(fldPath.Child("serverAddress"), t.ServerAddress, "must be an IP address or a DNS name"))
		}
	}
	server, tunnel := t.ServerNodePort, t.TunnelingNodePort
	if server == 0 {
		server = DefaultTunnelServerNodePort
	}
	if tunnel == 0 {
		tunnel = DefaultTunnelingNodePort
	}
	if server == tunnel {
		errs = append(errs, field.Invalid(fldPath.Child("tunnelingNodePort"), tunnel,
			fmt.Sprintf("must differ from serverNodePort (%d, empty means %d and %d)", server, DefaultTunnelServerNodePort, DefaultTunnelingNodePort)))
	}
	return errs
}
