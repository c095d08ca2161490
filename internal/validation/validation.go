// Package validation holds the one set of rules a K0sWorkerConfig spec
// ([Spec]) and a K0sControllerConfig spec ([ControllerSpec]) must satisfy.
// The admission webhooks, the reconcilers (before they mint a join token)
// and `cabpk0s render` all call them; internal/render trusts its input to
// have passed them. A spec Spec admits renders: a property test feeds
// generated specs to both.
package validation

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
	"github.com/cabpk0s/cabpk0s/internal/render"
)

var (
	octalPermissions = regexp.MustCompile(`^[0-7]{3,4}$`)
	sha256Hex        = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)
	taintEffects     = sets.New(string(corev1.TaintEffectNoSchedule), string(corev1.TaintEffectPreferNoSchedule), string(corev1.TaintEffectNoExecute))
)

// Spec checks what the CRD schema cannot: relations between fields and the
// syntax of every value the bootstrap data carries. It returns every
// problem at once, each naming its field, and warnings for settings that
// are accepted but have no effect.
func Spec(spec *bootstrapv1.K0sWorkerConfigSpec, fldPath *field.Path) (field.ErrorList, []string) {
	errs, warnings := install(&spec.K0sInstallSpec, render.ReservedPaths(spec.WorkingDir), fldPath)
	errs = append(errs, metav1validation.ValidateLabels(spec.Labels, fldPath.Child("labels"))...)
	errs = append(errs, nodeLabels(spec.Labels, fldPath.Child("labels"))...)
	errs = append(errs, taints(spec.Taints, fldPath.Child("taints"))...)
	errs = append(errs, kubeletExtraArgs(spec.KubeletExtraArgs, fldPath.Child("kubeletExtraArgs"))...)
	if spec.Profile != "" && strings.ContainsFunc(spec.Profile, isSpaceOrControl) {
		errs = append(errs, field.Invalid(fldPath.Child("profile"), spec.Profile, "must not contain whitespace or control characters"))
	}
	return errs, warnings
}

// install checks the fields workers and controllers share. reserved are
// the machine paths the kind's bootstrap data writes itself.
func install(spec *bootstrapv1.K0sInstallSpec, reserved map[string]string, fldPath *field.Path) (field.ErrorList, []string) {
	var errs field.ErrorList
	var warnings []string

	if spec.Version != "" {
		if _, err := k0sversion.Normalize(spec.Version); err != nil {
			errs = append(errs, field.Invalid(fldPath.Child("version"), spec.Version, err.Error()))
		}
	}

	errs = append(errs, provisioner(&spec.Provisioner, fldPath.Child("provisioner"))...)
	errs = append(errs, directory(spec.K0sInstallDir, fldPath.Child("k0sInstallDir"))...)
	errs = append(errs, directory(spec.WorkingDir, fldPath.Child("workingDir"))...)
	errs = append(errs, files(spec, reserved, fldPath)...)

	downloadErrs, downloadWarnings := download(spec, fldPath)
	errs = append(errs, downloadErrs...)
	warnings = append(warnings, downloadWarnings...)

	errs = append(errs, templates(spec, fldPath)...)

	errs = append(errs, argLabels(spec.Args, fldPath.Child("args"))...)
	for i, arg := range spec.Args {
		// A process argument is a C string: a NUL would silently cut it short.
		if strings.ContainsRune(arg, 0) {
			errs = append(errs, field.Invalid(fldPath.Child("args").Index(i), arg, "must not contain a NUL character"))
		}
	}

	if md := spec.SecretMetadata; md != nil {
		errs = append(errs, metav1validation.ValidateLabels(md.Labels, fldPath.Child("secretMetadata", "labels"))...)
		errs = append(errs, apivalidation.ValidateAnnotations(md.Annotations, fldPath.Child("secretMetadata", "annotations"))...)
	}
	return errs, warnings
}

func provisioner(p *bootstrapv1.ProvisionerSpec, fldPath *field.Path) field.ErrorList {
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
		errs = append(errs, contentSource(p.CustomUserDataRef, fldPath.Child("customUserDataRef"))...)
	}
	return errs
}

// machinePath checks a path on the machine: absolute, clean, and free of
// characters that would change its meaning in the data or the script.
func machinePath(p string, fldPath *field.Path) field.ErrorList {
	switch {
	case !path.IsAbs(p):
		return field.ErrorList{field.Invalid(fldPath, p, "must be an absolute path")}
	case strings.ContainsFunc(p, isControl):
		return field.ErrorList{field.Invalid(fldPath, p, "must not contain control characters")}
	case path.Clean(p) != p:
		return field.ErrorList{field.Invalid(fldPath, p, fmt.Sprintf("must be a clean path: use %q", path.Clean(p)))}
	}
	return nil
}

func directory(dir string, fldPath *field.Path) field.ErrorList {
	if dir == "" {
		return nil
	}
	if errs := machinePath(dir, fldPath); len(errs) > 0 {
		return errs
	}
	// The token's path is derived from the directory and written by
	// cabpk0s, so it must not be a Jinja template on the machine.
	if hasJinja(dir) {
		return field.ErrorList{field.Invalid(fldPath, dir, "must not contain Jinja delimiters ({{, {% or {#)")}
	}
	return nil
}

func files(spec *bootstrapv1.K0sInstallSpec, reserved map[string]string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	filesPath := fldPath.Child("files")
	seen := make(map[string]int, len(spec.Files))
	for i := range spec.Files {
		f := &spec.Files[i]
		p := filesPath.Index(i)

		if pathErrs := machinePath(f.Path, p.Child("path")); len(pathErrs) > 0 {
			errs = append(errs, pathErrs...)
		} else if what, ok := reserved[f.Path]; ok {
			errs = append(errs, field.Invalid(p.Child("path"), f.Path, "is where cabpk0s writes "+what))
		}
		if first, dup := seen[f.Path]; dup {
			errs = append(errs, field.Duplicate(p.Child("path"), fmt.Sprintf("%s (already used by %s)", f.Path, filesPath.Index(first).Child("path"))))
		} else {
			seen[f.Path] = i
		}

		switch {
		case f.Content != "" && f.ContentFrom != nil:
			errs = append(errs, field.Forbidden(p, "content and contentFrom are mutually exclusive: set exactly one"))
		case f.Content == "" && f.ContentFrom == nil:
			errs = append(errs, field.Required(p.Child("content"), "set exactly one of content and contentFrom"))
		case f.ContentFrom != nil:
			errs = append(errs, contentSource(f.ContentFrom, p.Child("contentFrom"))...)
		}

		switch {
		case f.Permissions != "" && !octalPermissions.MatchString(f.Permissions):
			errs = append(errs, field.Invalid(p.Child("permissions"), f.Permissions, `must be an octal file mode such as "0644" or "0600"`))
		case spec.Provisioner.Type == bootstrapv1.ProvisioningFormatIgnition && f.Permissions != "":
			// The Ignition spec versions the variants' Butane versions
			// produce (before 3.6) refuse setuid, setgid and sticky bits.
			if mode, err := render.FileMode(f.Permissions); err == nil && mode > 0o777 {
				errs = append(errs, field.Invalid(p.Child("permissions"), f.Permissions, "setuid, setgid and sticky bits cannot be set with Ignition: use a mode of at most 0777"))
			}
		}
	}
	return errs
}

func contentSource(src *bootstrapv1.ContentSource, fldPath *field.Path) field.ErrorList {
	switch {
	case src.SecretRef != nil && src.ConfigMapRef != nil:
		return field.ErrorList{field.Forbidden(fldPath, "secretRef and configMapRef are mutually exclusive: set exactly one")}
	case src.SecretRef == nil && src.ConfigMapRef == nil:
		return field.ErrorList{field.Required(fldPath, "set exactly one of secretRef and configMapRef")}
	}
	return nil
}

// download checks the k0s download settings. With preInstalledK0s nothing
// is downloaded: a downloadURL or downloadSHA256 is accepted (k0smotron
// accepts it, and its manifests must apply unchanged), left out of the
// bootstrap data, and reported as a warning.
func download(spec *bootstrapv1.K0sInstallSpec, fldPath *field.Path) (field.ErrorList, []string) {
	var errs field.ErrorList
	var warnings []string
	urlPath := fldPath.Child("downloadURL")
	shaPath := fldPath.Child("downloadSHA256")

	scheme := ""
	if spec.DownloadURL != "" {
		// The value may carry credentials: messages show it redacted.
		shown := RedactURL(spec.DownloadURL)
		u, err := url.Parse(spec.DownloadURL)
		switch {
		case err != nil:
			errs = append(errs, field.Invalid(urlPath, shown, "must be a valid URL"))
		case u.Scheme != "https" && u.Scheme != "http" && u.Scheme != "oci":
			errs = append(errs, field.Invalid(urlPath, shown, "scheme must be https, http or oci"))
		case u.Host == "":
			errs = append(errs, field.Invalid(urlPath, shown, "must include a host"))
		case strings.ContainsFunc(spec.DownloadURL, isSpaceOrControl):
			errs = append(errs, field.Invalid(urlPath, shown, "must not contain whitespace or control characters"))
		case u.Scheme == "oci":
			if _, err := render.OCIReference(spec.DownloadURL); err != nil {
				errs = append(errs, field.Invalid(urlPath, shown, err.Error()))
			}
			scheme = u.Scheme
		default:
			scheme = u.Scheme
		}
		if spec.PreInstalledK0s {
			warnings = append(warnings, fmt.Sprintf("%s is ignored because %s is true: k0s is not downloaded", urlPath, fldPath.Child("preInstalledK0s")))
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
		if spec.PreInstalledK0s {
			warnings = append(warnings, fmt.Sprintf("%s is ignored because %s is true: k0s is not downloaded", shaPath, fldPath.Child("preInstalledK0s")))
		}
	}
	return errs, warnings
}

// RedactURL hides a URL's whole userinfo, so a downloadURL can be named in
// a message without leaking its credentials (admission's messages here,
// `cabpk0s check-migration`'s findings): a user name alone may be the
// credential (a token as the user, as GitHub and others take it).
func RedactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		u.User = url.User("xxxxx")
		return u.String()
	}
	if at := strings.LastIndex(raw, "@"); at >= 0 && strings.Contains(raw[:at], "://") {
		// Unparsable, yet it may still hold user:password@.
		return raw[:strings.Index(raw, "://")+3] + "xxxxx" + raw[at:]
	}
	return raw
}

func taints(taints []corev1.Taint, fldPath *field.Path) field.ErrorList {
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

func kubeletExtraArgs(args map[string]string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, name := range sets.List(sets.KeySet(args)) {
		p := fldPath.Key(name)
		switch {
		case name == "":
			errs = append(errs, field.Invalid(p, name, "flag name must not be empty"))
		case strings.HasPrefix(name, "-"):
			errs = append(errs, field.Invalid(p, name, fmt.Sprintf("flag name must not start with '-': use %q", strings.TrimLeft(name, "-"))))
		case strings.ContainsFunc(name, func(r rune) bool { return r == '=' || isSpaceOrControl(r) }):
			errs = append(errs, field.Invalid(p, name, "flag name must not contain '=', whitespace or control characters"))
		}
		// k0s hands kubelet-extra-args to the kubelet as one string split on
		// whitespace, so a value with whitespace would become several flags.
		if v := args[name]; strings.ContainsFunc(v, isSpaceOrControl) {
			errs = append(errs, field.Invalid(p, v, "flag value must not contain whitespace or control characters (k0s splits kubelet-extra-args on whitespace)"))
		}
	}
	return errs
}

// templates checks what cloud-init renders with Jinja on the machine: with
// cloud-config, the inline file content and the commands (content from
// contentFrom sources is data, written out of Jinja's reach). A template
// Jinja cannot parse makes cloud-init drop the whole user data, so the
// machine would never bootstrap. The content itself is never echoed: it
// may hold credentials.
func templates(spec *bootstrapv1.K0sInstallSpec, fldPath *field.Path) field.ErrorList {
	if spec.Provisioner.Type == bootstrapv1.ProvisioningFormatIgnition {
		return nil
	}
	var errs field.ErrorList
	check := func(p *field.Path, text string) {
		if hasJinja(text) && strings.ContainsFunc(text, func(r rune) bool { return r != '\t' && r != '\n' && isControl(r) }) {
			// YAML writes such text quoted, with escapes: Jinja on the
			// machine would see the escapes, not the text.
			errs = append(errs, field.Invalid(p, field.OmitValueType{},
				"is a Jinja template on the machine and holds control characters cloud-config can only write escaped, which Jinja would then see: "+
					"move the file into a Secret or ConfigMap and use contentFrom"))
			return
		}
		if err := render.CheckJinja(text); err != nil {
			errs = append(errs, field.Invalid(p, field.OmitValueType{},
				fmt.Sprintf("is a Jinja template on the machine (cloud-init renders cloud-config with Jinja) and does not parse: %v; "+
					"wrap literal text in {%% raw %%}...{%% endraw %%}, or move the file into a Secret or ConfigMap and use contentFrom", err)))
		}
	}
	for i, f := range spec.Files {
		if f.ContentFrom == nil {
			check(fldPath.Child("files").Index(i).Child("content"), f.Content)
		}
	}
	// The commands of each list are one file on the machine, one template:
	// an {% if %} may open in one command and close in another.
	if len(spec.PreK0sCommands) > 0 {
		check(fldPath.Child("preK0sCommands"), strings.Join(spec.PreK0sCommands, "\n"))
	}
	if len(spec.PostK0sCommands) > 0 {
		check(fldPath.Child("postK0sCommands"), strings.Join(spec.PostK0sCommands, "\n"))
	}
	return errs
}

func hasJinja(s string) bool {
	return strings.Contains(s, "{{") || strings.Contains(s, "{%") || strings.Contains(s, "{#")
}

func isSpaceOrControl(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f' || isControl(r)
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
