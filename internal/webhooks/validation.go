package webhooks

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/internal/k0sversion"
)

var (
	octalPermissions = regexp.MustCompile(`^[0-7]{3,4}$`)
	sha256Hex        = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)
	taintEffects     = sets.New(string(corev1.TaintEffectNoSchedule), string(corev1.TaintEffectPreferNoSchedule), string(corev1.TaintEffectNoExecute))
)

// validateSpec checks what the CRD schema cannot: relations between fields
// and the syntax of values the bootstrap script will use. It returns every
// problem at once, each naming its field, plus warnings for settings that
// are accepted but ignored.
func validateSpec(spec *bootstrapv1.K0sWorkerConfigSpec, fldPath *field.Path) (field.ErrorList, []string) {
	var errs field.ErrorList
	var warnings []string

	if spec.Version != "" {
		if _, err := k0sversion.Normalize(spec.Version); err != nil {
			errs = append(errs, field.Invalid(fldPath.Child("version"), spec.Version, err.Error()))
		}
	}

	errs = append(errs, validateProvisioner(&spec.Provisioner, fldPath.Child("provisioner"))...)
	errs = append(errs, validateFiles(spec.Files, fldPath.Child("files"))...)
	errs = append(errs, validateAbsoluteDir(spec.K0sInstallDir, fldPath.Child("k0sInstallDir"))...)
	errs = append(errs, validateAbsoluteDir(spec.WorkingDir, fldPath.Child("workingDir"))...)

	downloadErrs, downloadWarnings := validateDownload(spec, fldPath)
	errs = append(errs, downloadErrs...)
	warnings = append(warnings, downloadWarnings...)

	errs = append(errs, metav1validation.ValidateLabels(spec.Labels, fldPath.Child("labels"))...)
	errs = append(errs, validateTaints(spec.Taints, fldPath.Child("taints"))...)
	errs = append(errs, validateKubeletExtraArgs(spec.KubeletExtraArgs, fldPath.Child("kubeletExtraArgs"))...)
	for i, arg := range spec.Args {
		// A process argument is a C string: a NUL would silently cut it short.
		if strings.ContainsRune(arg, 0) {
			errs = append(errs, field.Invalid(fldPath.Child("args").Index(i), arg, "must not contain a NUL character"))
		}
	}
	if spec.Profile != "" && strings.ContainsFunc(spec.Profile, isSpace) {
		errs = append(errs, field.Invalid(fldPath.Child("profile"), spec.Profile, "must not contain whitespace"))
	}

	if md := spec.SecretMetadata; md != nil {
		errs = append(errs, metav1validation.ValidateLabels(md.Labels, fldPath.Child("secretMetadata", "labels"))...)
		errs = append(errs, apivalidation.ValidateAnnotations(md.Annotations, fldPath.Child("secretMetadata", "annotations"))...)
	}
	return errs, warnings
}

func validateProvisioner(p *bootstrapv1.ProvisionerSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if p.Type == bootstrapv1.ProvisioningFormatIgnition {
		if p.Ignition == nil {
			errs = append(errs, field.Required(fldPath.Child("ignition"), "provisioner.ignition (variant and version) is required when provisioner.type is ignition"))
		}
		if p.CustomUserDataRef != nil {
			errs = append(errs, field.Forbidden(fldPath.Child("customUserDataRef"), "custom user data is cloud-config and cannot be merged into Ignition; use provisioner.ignition.additionalConfig instead"))
		}
	} else if p.Ignition != nil {
		errs = append(errs, field.Forbidden(fldPath.Child("ignition"), "ignition settings are only allowed when provisioner.type is ignition"))
	}
	if p.CustomUserDataRef != nil {
		errs = append(errs, validateContentSource(p.CustomUserDataRef, fldPath.Child("customUserDataRef"))...)
	}
	return errs
}

func validateFiles(files []bootstrapv1.File, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := make(map[string]int, len(files))
	for i := range files {
		f := &files[i]
		p := fldPath.Index(i)

		switch {
		case !path.IsAbs(f.Path):
			errs = append(errs, field.Invalid(p.Child("path"), f.Path, "must be an absolute path"))
		case strings.ContainsFunc(f.Path, isControl):
			errs = append(errs, field.Invalid(p.Child("path"), f.Path, "must not contain control characters"))
		}
		clean := path.Clean(f.Path)
		if first, dup := seen[clean]; dup {
			errs = append(errs, field.Duplicate(p.Child("path"), fmt.Sprintf("%s (already used by %s)", f.Path, fldPath.Index(first).Child("path"))))
		} else {
			seen[clean] = i
		}

		switch {
		case f.Content != "" && f.ContentFrom != nil:
			errs = append(errs, field.Forbidden(p, "content and contentFrom are mutually exclusive: set exactly one"))
		case f.Content == "" && f.ContentFrom == nil:
			errs = append(errs, field.Required(p.Child("content"), "set exactly one of content and contentFrom"))
		case f.ContentFrom != nil:
			errs = append(errs, validateContentSource(f.ContentFrom, p.Child("contentFrom"))...)
		}

		if f.Permissions != "" && !octalPermissions.MatchString(f.Permissions) {
			errs = append(errs, field.Invalid(p.Child("permissions"), f.Permissions, `must be an octal file mode such as "0644" or "0600"`))
		}
	}
	return errs
}

func validateContentSource(src *bootstrapv1.ContentSource, fldPath *field.Path) field.ErrorList {
	switch {
	case src.SecretRef != nil && src.ConfigMapRef != nil:
		return field.ErrorList{field.Forbidden(fldPath, "secretRef and configMapRef are mutually exclusive: set exactly one")}
	case src.SecretRef == nil && src.ConfigMapRef == nil:
		return field.ErrorList{field.Required(fldPath, "set exactly one of secretRef and configMapRef")}
	}
	return nil
}

func validateDownload(spec *bootstrapv1.K0sWorkerConfigSpec, fldPath *field.Path) (field.ErrorList, []string) {
	var errs field.ErrorList
	var warnings []string
	urlPath := fldPath.Child("downloadURL")
	shaPath := fldPath.Child("downloadSHA256")

	scheme := ""
	if spec.DownloadURL != "" {
		u, err := url.Parse(spec.DownloadURL)
		switch {
		case err != nil:
			errs = append(errs, field.Invalid(urlPath, spec.DownloadURL, "must be a valid URL"))
		case u.Scheme != "https" && u.Scheme != "http" && u.Scheme != "oci":
			errs = append(errs, field.Invalid(urlPath, spec.DownloadURL, "scheme must be https, http or oci"))
		case u.Host == "":
			errs = append(errs, field.Invalid(urlPath, spec.DownloadURL, "must include a host"))
		default:
			scheme = u.Scheme
		}
		if spec.PreInstalledK0s {
			warnings = append(warnings, fmt.Sprintf("%s is ignored because %s is true", urlPath, fldPath.Child("preInstalledK0s")))
		}
	}

	if spec.DownloadSHA256 != "" {
		switch {
		case spec.DownloadURL == "":
			errs = append(errs, field.Forbidden(shaPath, "only allowed with a custom http(s) downloadURL; the default get.k0s.sh script verifies its own download"))
		case scheme == "oci":
			errs = append(errs, field.Forbidden(shaPath, "not allowed with an oci:// downloadURL; pin the artifact by digest in the reference instead"))
		}
		if !sha256Hex.MatchString(spec.DownloadSHA256) {
			errs = append(errs, field.Invalid(shaPath, spec.DownloadSHA256, "must be 64 hexadecimal characters"))
		}
	}
	return errs, warnings
}

func validateAbsoluteDir(dir string, fldPath *field.Path) field.ErrorList {
	if dir == "" {
		return nil
	}
	if !path.IsAbs(dir) {
		return field.ErrorList{field.Invalid(fldPath, dir, "must be an absolute path")}
	}
	if strings.ContainsFunc(dir, isControl) {
		return field.ErrorList{field.Invalid(fldPath, dir, "must not contain control characters")}
	}
	return nil
}

func validateTaints(taints []corev1.Taint, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := sets.New[string]()
	for i, t := range taints {
		p := fldPath.Index(i)
		for _, msg := range validation.IsQualifiedName(t.Key) {
			errs = append(errs, field.Invalid(p.Child("key"), t.Key, msg))
		}
		if t.Value != "" {
			for _, msg := range validation.IsValidLabelValue(t.Value) {
				errs = append(errs, field.Invalid(p.Child("value"), t.Value, msg))
			}
		}
		if !taintEffects.Has(string(t.Effect)) {
			errs = append(errs, field.NotSupported(p.Child("effect"), t.Effect, sets.List(taintEffects)))
		}
		if t.TimeAdded != nil {
			errs = append(errs, field.Forbidden(p.Child("timeAdded"), "is set by Kubernetes when a NoExecute taint is added to a Node"))
		}
		id := t.Key + ":" + string(t.Effect)
		if seen.Has(id) {
			errs = append(errs, field.Duplicate(p, id))
		}
		seen.Insert(id)
	}
	return errs
}

func validateKubeletExtraArgs(args map[string]string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, name := range sets.List(sets.KeySet(args)) {
		p := fldPath.Key(name)
		switch {
		case name == "":
			errs = append(errs, field.Invalid(p, name, "flag name must not be empty"))
		case strings.HasPrefix(name, "-"):
			errs = append(errs, field.Invalid(p, name, fmt.Sprintf("flag name must not start with '-': use %q", strings.TrimLeft(name, "-"))))
		case strings.ContainsFunc(name, func(r rune) bool { return r == '=' || isSpace(r) || isControl(r) }):
			errs = append(errs, field.Invalid(p, name, "flag name must not contain '=', whitespace or control characters"))
		}
		// k0s hands kubelet-extra-args to the kubelet as one string split on
		// whitespace, so a value with whitespace would become several flags.
		if v := args[name]; strings.ContainsFunc(v, func(r rune) bool { return isSpace(r) || isControl(r) }) {
			errs = append(errs, field.Invalid(p, v, "flag value must not contain whitespace or control characters (k0s splits kubelet-extra-args on whitespace)"))
		}
	}
	return errs
}

func isSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f'
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
