// Package k0sversion parses and normalises k0s version strings.
//
// k0s releases are semver with a "+k0s.N" build suffix (v1.33.4+k0s.0).
// ClusterClass variables and Machine versions cannot hold "+", so users write
// "-k0s.N" instead, and a plain Kubernetes version (v1.33.4) means "+k0s.0".
package k0sversion

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/blang/semver/v4"
)

// Normalize returns the canonical k0s version for s: a leading "v", and the
// "+k0s.N" suffix (rewritten from "-k0s.N", or "+k0s.0" when absent).
// It fails for anything that is not a k0s or Kubernetes version.
func Normalize(s string) (string, error) {
	if strings.TrimSpace(s) != s || s == "" {
		return "", fmt.Errorf("%q is not a version: expected a k0s version such as v1.33.4+k0s.0", s)
	}
	candidate := strings.TrimPrefix(s, "v")
	if i := strings.LastIndex(candidate, "-k0s."); i >= 0 && !strings.Contains(candidate, "+") {
		candidate = candidate[:i] + "+" + candidate[i+1:]
	}
	v, err := semver.Parse(candidate)
	if err != nil {
		return "", fmt.Errorf("%q is not a version: expected a k0s version such as v1.33.4+k0s.0", s)
	}
	switch {
	case len(v.Build) == 0:
		v.Build = []string{"k0s", "0"}
	case len(v.Build) != 2 || v.Build[0] != "k0s" || !isDigits(v.Build[1]):
		return "", fmt.Errorf("%q has build metadata %q: the only suffix k0s versions carry is +k0s.N", s, strings.Join(v.Build, "."))
	}
	return "v" + v.String(), nil
}

// KubernetesMinor is the Kubernetes MAJOR.MINOR of a k0s or Kubernetes
// version (v1.33.4+k0s.0, v1.33.4-k0s.0 and v1.33.4 all give 1.33), which
// k0s puts in the names of its worker profile ConfigMaps.
func KubernetesMinor(s string) (string, error) {
	normalized, err := Normalize(s)
	if err != nil {
		return "", err
	}
	v := semver.MustParse(strings.TrimPrefix(normalized, "v"))
	return fmt.Sprintf("%d.%d", v.Major, v.Minor), nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Before tells whether k0s version a is older than b (both normalisable;
// the k0s build number counts after the Kubernetes version).
func Before(a, b string) (bool, error) {
	va, err := parse(a)
	if err != nil {
		return false, err
	}
	vb, err := parse(b)
	if err != nil {
		return false, err
	}
	if c := va.Compare(vb); c != 0 {
		return c < 0, nil
	}
	// Normalize left +k0s.N with N digits.
	na, _ := strconv.Atoi(va.Build[1])
	nb, _ := strconv.Atoi(vb.Build[1])
	return na < nb, nil
}

func parse(s string) (semver.Version, error) {
	normalized, err := Normalize(s)
	if err != nil {
		return semver.Version{}, err
	}
	return semver.MustParse(strings.TrimPrefix(normalized, "v")), nil
}
