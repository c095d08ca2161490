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
		if why, owned := controllerOwnedFlags[name]; owned {
			errs = append(errs, field.Forbidden(fldPath.Child("args").Index(i), fmt.Sprintf("%s is set by cabpk0s: %s", name, why)))
		}
	}
	return errs, warnings
}

// k0sConfig checks that spec.k0s, when given, is a k0s ClusterConfig: k0s
// refuses to start on anything else, long after the machine was created.
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
	if head.APIVersion != K0sConfigAPIVersion {
		errs = append(errs, field.Invalid(fldPath.Child("apiVersion"), head.APIVersion, fmt.Sprintf("must be %s (a k0s ClusterConfig)", K0sConfigAPIVersion)))
	}
	if head.Kind != K0sConfigKind {
		errs = append(errs, field.Invalid(fldPath.Child("kind"), head.Kind, fmt.Sprintf("must be %s", K0sConfigKind)))
	}
	return errs
}

// tunneling checks what the schema cannot: the server address is a host.
// The ports' range and the mode are the schema's.
func tunneling(t *bootstrapv1.TunnelingSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if t.ServerAddress != "" {
		if validation.IsValidIP(fldPath.Child("serverAddress"), t.ServerAddress) != nil && len(validation.IsDNS1123Subdomain(t.ServerAddress)) > 0 {
			errs = append(errs, field.Invalid(fldPath.Child("serverAddress"), t.ServerAddress, "must be an IP address or a DNS name"))
		}
	}
	for _, port := range []struct {
		name  string
		value int32
	}{{"serverNodePort", t.ServerNodePort}, {"tunnelingNodePort", t.TunnelingNodePort}} {
		if port.value < 0 || port.value > 65535 {
			errs = append(errs, field.Invalid(fldPath.Child(port.name), port.value, "must be a port number (1-65535), or empty for the default"))
		}
	}
	if t.ServerNodePort != 0 && t.ServerNodePort == t.TunnelingNodePort {
		errs = append(errs, field.Duplicate(fldPath.Child("tunnelingNodePort"), t.TunnelingNodePort))
	}
	switch t.Mode {
	case "", bootstrapv1.TunnelingModeTunnel, bootstrapv1.TunnelingModeProxy:
	default:
		errs = append(errs, field.NotSupported(fldPath.Child("mode"), t.Mode, []bootstrapv1.TunnelingMode{bootstrapv1.TunnelingModeTunnel, bootstrapv1.TunnelingModeProxy}))
	}
	return errs
}
