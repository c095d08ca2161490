package render

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// isK0sToken: a k0s token is standard base64 on one line; the cloud-config
// relies on that to leave it out of Jinja's reach, so anything else is
// refused. A loop rather than a regular expression: every rendered
// machine checks a token of some 600 characters, and the regexp engine
// took 30 µs of a saturated manager's reconcile for it.
func isK0sToken(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" || len(s)-len(body) > 2 {
		return false
	}
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}

// autopilotNameRE is a Kubernetes object name (DNS subdomain), as Machine
// names are.
var autopilotNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

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

	switch {
	case in.Controller.initialises() && in.JoinToken != "":
		add("the first controller initialises the cluster and takes no join token")
	case in.Controller.initialises():
	case in.JoinToken == "":
		add("join token is empty")
	case !isK0sToken(in.JoinToken):
		// Never echo the token: it is a credential.
		add("join token is not a k0s token (one line of base64)")
	}
	for i, f := range in.Files {
		if _, err := FileMode(f.Permissions); err != nil {
			add("files[%d] %s: %v", i, f.Path, err)
		}
	}
	if c := in.Controller; c != nil {
		for _, f := range slices.Concat(c.PKI, c.Manifests) {
			if _, err := FileMode(f.Permissions); err != nil {
				add("%s: %v", f.Path, err)
			}
		}
		if !autopilotNameRE.MatchString(c.AutopilotHostname) {
			add("the controller's name %q is not a DNS subdomain (it names the k0s ControlNode)", c.AutopilotHostname)
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

// ControllerReservedPaths are the files a controller's bootstrap data
// writes on top of a worker's: its k0s configuration and the cluster
// certificates the first controller brings.
func ControllerReservedPaths(workingDir string) map[string]string {
	paths := ReservedPaths(workingDir)
	paths[K0sConfigPath(workingDir)] = "the k0s configuration (spec.k0s)"
	paths[TunnelManifestPath] = "the tunnel's frp client (spec.tunneling)"
	paths[LeaveScriptPath] = "the etcd-leave helper"
	paths[LeaveUnitPath] = "the etcd-leave helper's systemd unit"
	paths[LeaveOpenRCPath] = "the etcd-leave helper's OpenRC service"
	for _, f := range PKIFiles {
		paths[f] = "a cluster certificate or key"
	}
	return paths
}

// OCIRef is an oci:// downloadURL taken apart for oras.
type OCIRef struct {
	// Ref is what oras takes: host/repository@digest or host/repository:tag.
	Ref string
	// ByDigest: Ref names a blob by its digest.
	ByDigest bool
	// Username and Password come from the URL's userinfo, if any.
	Username, Password string
}

// OCIReference splits oci://[user:password@]host/repo@digest or
// oci://[user:password@]host/repo:tag into what oras takes.
func OCIReference(raw string) (OCIRef, error) {
	// Errors name the reference without its credentials.
	shown := raw
	rest := strings.TrimPrefix(raw, "oci://")
	slash := strings.Index(rest, "/")
	var ref OCIRef
	if at := strings.LastIndex(rest[:max(slash, 0)], "@"); slash > 0 && at >= 0 {
		userinfo := rest[:at]
		rest = rest[at+1:]
		shown = "oci://xxxxx@" + rest
		user, password, _ := strings.Cut(userinfo, ":")
		var err error
		if ref.Username, err = url.PathUnescape(user); err != nil {
			return OCIRef{}, fmt.Errorf("downloadURL %q: the user name is not URL-encoded", shown)
		}
		if ref.Password, err = url.PathUnescape(password); err != nil {
			return OCIRef{}, fmt.Errorf("downloadURL %q: the password is not URL-encoded", shown)
		}
		slash = strings.Index(rest, "/")
	}
	if slash <= 0 || slash == len(rest)-1 {
		return OCIRef{}, fmt.Errorf("downloadURL %q: want oci://host/repository@digest or oci://host/repository:tag", shown)
	}
	if strings.ContainsAny(rest, " \t\n") {
		return OCIRef{}, fmt.Errorf("downloadURL %q contains whitespace", shown)
	}
	ref.Ref = rest
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if !strings.Contains(rest[at+1:], ":") {
			return OCIRef{}, fmt.Errorf("downloadURL %q: digest must be algorithm:hex", shown)
		}
		ref.ByDigest = true
		return ref, nil
	}
	// A colon before the last slash is the registry's port, not a tag.
	last := rest[strings.LastIndex(rest, "/")+1:]
	if i := strings.Index(last, ":"); i <= 0 || i == len(last)-1 {
		return OCIRef{}, fmt.Errorf("downloadURL %q pins neither a digest (@sha256:...) nor a tag (:tag)", shown)
	}
	return ref, nil
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
