package render

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

var (
	// A k0s token is standard base64 on one line; the cloud-config relies
	// on that to leave it out of Jinja's reach, so anything else is refused.
	tokenRE  = regexp.MustCompile(`^[A-Za-z0-9+/]+={0,2}$`)
	sha256RE = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)
)

func (in Input) validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	switch in.Format {
	case FormatCloudConfig:
		if in.Ignition != nil {
			add("ignition settings are given but the format is %s", FormatCloudConfig)
		}
		if in.CustomCloudConfig != "" {
			if err := validateCustomCloudConfig(in.CustomCloudConfig); err != nil {
				errs = append(errs, err)
			}
		}
	case FormatIgnition:
		if in.Ignition == nil {
			add("format %s needs ignition settings (variant %s or %s)", FormatIgnition, VariantFCOS, VariantFlatcar)
		} else if in.Ignition.Variant != VariantFCOS && in.Ignition.Variant != VariantFlatcar {
			add("ignition variant %q is not supported: use %s or %s", in.Ignition.Variant, VariantFCOS, VariantFlatcar)
		}
		if in.CustomCloudConfig != "" {
			add("custom cloud-config cannot be used with format %s: use ignition additionalConfig", FormatIgnition)
		}
	default:
		add("unknown format %q: use %s or %s", in.Format, FormatCloudConfig, FormatIgnition)
	}

	if in.JoinToken == "" {
		add("join token is empty")
	} else if !tokenRE.MatchString(in.JoinToken) {
		// Never echo the token: it is a credential.
		add("join token is not a k0s token (one line of base64)")
	}

	errs = append(errs, validateDir("workingDir", in.WorkingDir), validateDir("installDir", in.InstallDir))
	errs = append(errs, validateDownload(in)...)
	errs = append(errs, validateFiles(in)...)
	errs = append(errs, validateTaints(in.Taints)...)
	for _, k := range slices.Sorted(maps.Keys(in.Labels)) {
		if k == "" {
			add("node label with an empty key")
		}
	}
	for _, k := range slices.Sorted(maps.Keys(in.KubeletExtraArgs)) {
		if strings.TrimLeft(k, "-") == "" {
			add("kubelet extra arg with an empty name")
		}
	}
	return errors.Join(errs...)
}

func validateDir(field, dir string) error {
	if dir == "" {
		return nil
	}
	if err := validatePath(dir); err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	// The token path is generated, so it must not be a Jinja template.
	if hasJinja(dir) {
		return fmt.Errorf("%s %q contains Jinja delimiters", field, dir)
	}
	return nil
}

func validatePath(p string) error {
	switch {
	case !path.IsAbs(p):
		return fmt.Errorf("path %q is not absolute", p)
	case path.Clean(p) != p:
		return fmt.Errorf("path %q is not clean (want %q)", p, path.Clean(p))
	case strings.ContainsAny(p, "\x00\n"):
		return fmt.Errorf("path %q contains a NUL or newline", p)
	}
	return nil
}

func hasJinja(s string) bool {
	return strings.Contains(s, "{{") || strings.Contains(s, "{%") || strings.Contains(s, "{#")
}

func validateDownload(in Input) []error {
	var errs []error
	if in.PreInstalled {
		if in.DownloadURL != "" {
			errs = append(errs, errors.New("downloadURL cannot be used with preInstalled: k0s is not downloaded"))
		}
		if in.DownloadSHA256 != "" {
			errs = append(errs, errors.New("downloadSHA256 cannot be used with preInstalled: k0s is not downloaded"))
		}
		return errs
	}
	if in.DownloadSHA256 != "" && !sha256RE.MatchString(in.DownloadSHA256) {
		errs = append(errs, fmt.Errorf("downloadSHA256 %q is not 64 hex digits", in.DownloadSHA256))
	}
	if in.DownloadURL == "" {
		return errs
	}
	u, err := url.Parse(in.DownloadURL)
	if err != nil {
		return append(errs, fmt.Errorf("downloadURL: %w", err))
	}
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" {
			errs = append(errs, fmt.Errorf("downloadURL %q has no host", in.DownloadURL))
		}
	case "oci":
		if _, _, err := ociRef(in.DownloadURL); err != nil {
			errs = append(errs, err)
		}
	default:
		errs = append(errs, fmt.Errorf("downloadURL %q: scheme must be http, https or oci", in.DownloadURL))
	}
	return errs
}

// ociRef splits oci://host/repo@digest or oci://host/repo:tag into the
// reference oras takes and whether it names a blob by digest.
func ociRef(raw string) (ref string, byDigest bool, err error) {
	ref = strings.TrimPrefix(raw, "oci://")
	slash := strings.Index(ref, "/")
	if slash <= 0 || slash == len(ref)-1 {
		return "", false, fmt.Errorf("downloadURL %q: want oci://host/repository@digest or oci://host/repository:tag", raw)
	}
	if strings.ContainsAny(ref, " \t\n") {
		return "", false, fmt.Errorf("downloadURL %q contains whitespace", raw)
	}
	if at := strings.LastIndex(ref, "@"); at >= 0 {
		if !strings.Contains(ref[at+1:], ":") {
			return "", false, fmt.Errorf("downloadURL %q: digest must be algorithm:hex", raw)
		}
		return ref, true, nil
	}
	// A colon before the last slash is the registry's port, not a tag.
	last := ref[strings.LastIndex(ref, "/")+1:]
	if i := strings.Index(last, ":"); i <= 0 || i == len(last)-1 {
		return "", false, fmt.Errorf("downloadURL %q pins neither a digest (@sha256:...) nor a tag (:tag)", raw)
	}
	return ref, false, nil
}

func validateFiles(in Input) []error {
	var errs []error
	reserved := map[string]string{
		in.tokenPath():   "the join token",
		ScriptPath:       "the bootstrap script",
		PreCommandsPath:  "the pre-commands",
		PostCommandsPath: "the post-commands",
	}
	seen := map[string]bool{}
	for i, f := range in.Files {
		if err := validatePath(f.Path); err != nil {
			errs = append(errs, fmt.Errorf("files[%d]: %w", i, err))
			continue
		}
		if what, ok := reserved[f.Path]; ok {
			errs = append(errs, fmt.Errorf("files[%d]: %s is where cabpk0s writes %s", i, f.Path, what))
		}
		if seen[f.Path] {
			errs = append(errs, fmt.Errorf("files[%d]: duplicate path %s", i, f.Path))
		}
		seen[f.Path] = true
		if _, err := fileMode(f.Permissions); err != nil {
			errs = append(errs, fmt.Errorf("files[%d] %s: %w", i, f.Path, err))
		}
	}
	return errs
}

// fileMode parses an octal permission string such as "0644" or "755".
func fileMode(perm string) (int, error) {
	if perm == "" {
		return 0o644, nil
	}
	m, err := strconv.ParseUint(perm, 8, 32)
	if err != nil || m > 0o7777 {
		return 0, fmt.Errorf("permissions %q are not an octal mode such as 0644", perm)
	}
	return int(m), nil
}

var taintEffects = []corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute}

func validateTaints(taints []corev1.Taint) []error {
	var errs []error
	for i, t := range taints {
		if t.Key == "" {
			errs = append(errs, fmt.Errorf("taints[%d]: key is empty", i))
		}
		if !slices.Contains(taintEffects, t.Effect) {
			errs = append(errs, fmt.Errorf("taints[%d]: effect %q is not one of %v", i, t.Effect, taintEffects))
		}
	}
	return errs
}
