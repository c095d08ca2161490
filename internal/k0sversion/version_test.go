package k0sversion

import "testing"

func TestNormalize(t *testing.T) {
	valid := map[string]string{
		"v1.27.2+k0s.0":       "v1.27.2+k0s.0",
		"v1.27.2-k0s.1":       "v1.27.2+k0s.1",
		"v1.27.2":             "v1.27.2+k0s.0",
		"1.33.4+k0s.0":        "v1.33.4+k0s.0",
		"v1.31.0-rc.1+k0s.0":  "v1.31.0-rc.1+k0s.0",
		"v1.31.0-rc.1-k0s.2":  "v1.31.0-rc.1+k0s.2",
		"v1.31.0-beta.0":      "v1.31.0-beta.0+k0s.0",
		"v1.30.14+k0s.10":     "v1.30.14+k0s.10",
		"v1.30.14-k0s.10":     "v1.30.14+k0s.10",
		"v1.36.0-alpha.1+k0s": "",
	}
	for in, want := range valid {
		got, err := Normalize(in)
		if want == "" {
			if err == nil {
				t.Errorf("Normalize(%q) = %q, want an error", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", in, got, err, want)
		}
	}

	for _, in := range []string{"", "latest", "v1.27", "1.27.2+k0s.x", "v1.27.2+foo.1", " v1.27.2", "v1.27.2+k0s.0\n", "vv1.27.2", "v1.27.2+k0s.0+k0s.1"} {
		if got, err := Normalize(in); err == nil {
			t.Errorf("Normalize(%q) = %q, want an error", in, got)
		}
	}
}

func TestKubernetesMinor(t *testing.T) {
	for in, want := range map[string]string{"v1.33.4+k0s.0": "1.33", "v1.28.1-k0s.0": "1.28", "v1.27.2": "1.27", "v1.31.0-rc.1+k0s.2": "1.31"} {
		if got, err := KubernetesMinor(in); err != nil || got != want {
			t.Errorf("KubernetesMinor(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if got, err := KubernetesMinor("latest"); err == nil {
		t.Errorf("KubernetesMinor(latest) = %q, want an error", got)
	}
}

func TestBefore(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"v1.31.5+k0s.0", "v1.31.6", true},
		{"v1.31.6+k0s.0", "v1.31.6", false},
		{"v1.31.6+k0s.1", "v1.31.6+k0s.0", false},
		{"v1.31.6+k0s.0", "v1.31.6+k0s.1", true},
		{"v1.31.6+k0s.9", "v1.31.6+k0s.10", true},
		{"v1.30.14", "v1.31.6", true},
		{"v1.33.4-k0s.0", "v1.31.6", false},
	} {
		got, err := Before(tc.a, tc.b)
		if err != nil || got != tc.want {
			t.Errorf("Before(%s, %s) = %v, %v; want %v", tc.a, tc.b, got, err, tc.want)
		}
	}
	if _, err := Before("latest", "v1.31.6"); err == nil {
		t.Error("Before accepted a non-version")
	}
}
