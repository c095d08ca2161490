package render

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// A k0s token is standard base64 on one line; the cloud-config relies on
// that to leave it out of Jinja's reach, so anything else is refused.
var tokenRE = regexp.MustCompile(`^[A-Za-z0-9+/]+={0,2}$`)

// validate checks what only the resolved input shows. Everything a user
// writes in a spec is checked once, before rendering, by
// internal/validation.Spec; Render trusts its input to have passed it.
func (in Input) validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	switch in.Format {
	case FormatCloudConfig:
		if in.Ignition != nil {
			add("ignition settings are given but the format is %s", FormatCloudConfig)
		}
		if in.CustomCloudConfig != "" {
			if err := CheckCustomCloudConfig(in.CustomCloudConfig); err != nil {
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
	for i, f := range in.Files {
		if _, err := FileMode(f.Permissions); err != nil {
			add("files[%d] %s: %v", i, f.Path, err)
		}
	}
	return errors.Join(errs...)
}

// ReservedPaths are the files cabpk0s itself writes on the machine, by
// path, with what each holds: a user's file at one of them would replace
// the token, the script or the proof of success.
func ReservedPaths(workingDir string) map[string]string {
	return map[string]string{
		Input{WorkingDir: workingDir}.tokenPath(): "the join token",
		ScriptPath:       "the bootstrap script",
		PreCommandsPath:  "the pre-commands",
		PostCommandsPath: "the post-commands",
		SentinelPath:     "the Cluster API bootstrap sentinel",
		DoneMarkerPath:   "the bootstrap-done marker",
	}
}

// OCIReference splits oci://host/repo@digest or oci://host/repo:tag into the
// reference oras takes and whether it names a blob by digest.
func OCIReference(raw string) (ref string, byDigest bool, err error) {
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

// FileMode parses an octal permission string such as "0644" or "755".
func FileMode(perm string) (int, error) {
	if perm == "" {
		return 0o644, nil
	}
	m, err := strconv.ParseUint(perm, 8, 32)
	if err != nil || m > 0o7777 {
		return 0, fmt.Errorf("permissions %q are not an octal mode such as 0644", perm)
	}
	return int(m), nil
}
