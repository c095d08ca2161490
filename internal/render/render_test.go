package render

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
)

// customCloudConfig is what a user would put in customUserDataRef: it has
// its own runcmd and write_files, which k0smotron's output let replace its
// own.
const customCloudConfig = `#cloud-config
runcmd:
  - echo custom runcmd
  - [touch, /var/lib/custom-ran]
write_files:
  - path: /etc/custom.conf
    content: "custom: true\n"
ntp:
  enabled: true
  servers: [ntp.example.com]
`

const butaneAdditionalConfig = `# Butane, as k0smotron users write it, without variant and version.
storage:
  files:
    - path: /etc/sysctl.d/90-k0s.conf
      mode: 0644
      contents:
        inline: |
          net.ipv4.ip_forward = 1
systemd:
  units:
    - name: extra.service
      enabled: true
      contents: |
        [Unit]
        Description=Extra unit from additionalConfig
        [Service]
        Type=oneshot
        ExecStart=/usr/bin/true
        [Install]
        WantedBy=multi-user.target
    - name: cabpk0s-bootstrap.service
      dropins:
        - name: 10-proxy.conf
          contents: |
            [Service]
            Environment=HTTPS_PROXY=http://proxy.example.com:3128
`

// goldenCases are the inputs behind testdata/.
func goldenCases() map[string]Input {
	custom := fullInput()
	custom.CustomCloudConfig = customCloudConfig

	fcos := fullInput()
	fcos.Format, fcos.Ignition = FormatIgnition, &Ignition{Variant: VariantFCOS}
	fcos.InstallDir = ""

	flatcar := Input{
		Format:       FormatIgnition,
		Ignition:     &Ignition{Variant: VariantFlatcar, Version: "1.0.0", AdditionalConfig: butaneAdditionalConfig},
		JoinToken:    fakeToken,
		Version:      testVersion,
		NodeName:     "flatcar-0",
		PreCommands:  []string{"systemctl stop locksmithd"},
		PostCommands: []string{"echo joined"},
	}

	return map[string]Input{
		"cloud-config-default.yaml":    {Format: FormatCloudConfig, JoinToken: fakeToken, Version: testVersion},
		"cloud-config-full.yaml":       fullInput(),
		"cloud-config-custom.mime":     custom,
		"ignition-fcos.json":           fcos,
		"ignition-flatcar-butane.json": flatcar,
	}
}

func TestGolden(t *testing.T) {
	for name, in := range goldenCases() {
		t.Run(name, func(t *testing.T) {
			out, err := Render(in)
			NewWithT(t).Expect(err).NotTo(HaveOccurred())
			golden(t, name, out)
		})
	}
}

// The scripts are in the golden data only base64-encoded; these make changes
// to them reviewable.
func TestGoldenScripts(t *testing.T) {
	for name, in := range map[string]Input{
		"script-default.sh": goldenCases()["cloud-config-default.yaml"],
		"script-full.sh":    fullInput(),
		"script-oci-tag.sh": {Format: FormatCloudConfig, JoinToken: fakeToken, DownloadURL: "oci://registry.example.com/k0s/bin:v1.33.4-k0s.0", DownloadSHA256: strings.Repeat("a", 64)},
	} {
		t.Run(name, func(t *testing.T) {
			NewWithT(t).Expect(Render(in)).Error().NotTo(HaveOccurred())
			golden(t, name, []byte(Script(in)))
		})
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	g := NewWithT(t)
	for name, in := range goldenCases() {
		// Many map keys make a random iteration order show.
		in.Labels = map[string]string{}
		in.KubeletExtraArgs = map[string]string{}
		for _, k := range strings.Split("a b c d e f g h i j k l m n o p", " ") {
			in.Labels["l-"+k] = k
			in.KubeletExtraArgs["f-"+k] = k
		}
		first, err := Render(in)
		g.Expect(err).NotTo(HaveOccurred(), name)
		for range 20 {
			g.Expect(Render(in)).To(Equal(first), name)
		}
	}
}

func TestRenderRejectsInvalidInput(t *testing.T) {
	valid := func(f func(*Input)) Input {
		in := Input{Format: FormatCloudConfig, JoinToken: fakeToken}
		f(&in)
		return in
	}
	ign := func(f func(*Input)) Input {
		return valid(func(in *Input) {
			in.Format, in.Ignition = FormatIgnition, &Ignition{Variant: VariantFCOS}
			f(in)
		})
	}
	for _, tc := range []struct {
		name    string
		in      Input
		wantErr string
	}{
		{"no format", valid(func(in *Input) { in.Format = "" }), `unknown format ""`},
		{"unknown format", valid(func(in *Input) { in.Format = "powershell" }), `unknown format "powershell"`},
		{"ignition without settings", valid(func(in *Input) { in.Format = FormatIgnition }), "needs ignition settings"},
		{"ignition settings with cloud-config", valid(func(in *Input) { in.Ignition = &Ignition{Variant: VariantFCOS} }), "ignition settings are given but the format is cloud-config"},
		{"unknown variant", ign(func(in *Input) { in.Ignition.Variant = "rhcos" }), `ignition variant "rhcos" is not supported`},
		{"custom cloud-config with ignition", ign(func(in *Input) { in.CustomCloudConfig = customCloudConfig }), "custom cloud-config cannot be used with format ignition"},
		{"no token", valid(func(in *Input) { in.JoinToken = "" }), "join token is empty"},
		{"token that Jinja could change", valid(func(in *Input) { in.JoinToken = "{{ secret }}" }), "join token is not a k0s token"},
		{"token on two lines", valid(func(in *Input) { in.JoinToken = "YWJj\nZGVm" }), "join token is not a k0s token"},
		{"token with three pads", valid(func(in *Input) { in.JoinToken = "YWJj===" }), "join token is not a k0s token"},
		{"token of pads only", valid(func(in *Input) { in.JoinToken = "==" }), "join token is not a k0s token"},
		{"token with a pad inside", valid(func(in *Input) { in.JoinToken = "YW=Jj" }), "join token is not a k0s token"},
		{"bad permissions", valid(func(in *Input) { in.Files = []File{{Path: "/etc/a", Permissions: "rw-r--r--"}} }), `permissions "rw-r--r--" are not an octal mode`},
		{"too large permissions", valid(func(in *Input) { in.Files = []File{{Path: "/etc/a", Permissions: "17777"}} }), "are not an octal mode"},
		{"empty custom cloud-config", valid(func(in *Input) { in.CustomCloudConfig = " \n" }), "custom cloud-config is empty"},
		{"custom cloud-config that is not YAML", valid(func(in *Input) { in.CustomCloudConfig = "runcmd: [a\n" }), "custom cloud-config is not valid YAML"},
		{"custom shell script", valid(func(in *Input) { in.CustomCloudConfig = "#!/bin/sh\necho hi\n" }), "not a cloud-config mapping"},
		{"custom Jinja template that does not parse", valid(func(in *Input) {
			in.CustomCloudConfig = "## template: jinja\n#cloud-config\nruncmd: [\"echo {{ $x }}\"]\n"
		}), "custom cloud-config is a Jinja template that does not parse: line 2: unexpected char '$'"},
		{"additional config that is neither", ign(func(in *Input) { in.Ignition.AdditionalConfig = "storage: [" }), "neither Ignition JSON nor Butane YAML"},
		{"additional config that is a list", ign(func(in *Input) { in.Ignition.AdditionalConfig = "- a\n" }), "must be a YAML mapping"},
		{"additional Ignition JSON that is broken", ign(func(in *Input) { in.Ignition.AdditionalConfig = `{"ignition": ` }), "ignition additionalConfig"},
		{"additional Ignition without version", ign(func(in *Input) { in.Ignition.AdditionalConfig = `{"storage":{}}` }), "ignition additionalConfig"},
		{"Butane of another variant", ign(func(in *Input) { in.Ignition.AdditionalConfig = "variant: flatcar\nversion: 1.0.0\n" }), `Butane variant "flatcar" does not match the ignition variant "fcos"`},
		{"Butane with an unknown version", ign(func(in *Input) { in.Ignition.AdditionalConfig = "version: 9.9.9\n" }), "Butane"},
		{"Butane with a typo", ign(func(in *Input) { in.Ignition.AdditionalConfig = "storage:\n  filez: []\n" }), "Butane"},
		{"Butane with an error", ign(func(in *Input) { in.Ignition.AdditionalConfig = "storage:\n  files:\n    - path: relative\n" }), "Butane"},
		{"experimental spec", ign(func(in *Input) { in.Ignition.AdditionalConfig = "version: 1.8.0-experimental\n" }), "spec 3.7.0-experimental is not supported"},
		{"additional config replacing ours", ign(func(in *Input) {
			in.Ignition.AdditionalConfig = `{"ignition":{"version":"3.3.0","config":{"replace":{"source":"https://x.example.com/c.ign"}}}}`
		}), "ignition.config.replace would drop the bootstrap config"},
		{"additional config writing the script", ign(func(in *Input) {
			in.Ignition.AdditionalConfig = "storage:\n  files:\n    - path: /etc/cabpk0s/bootstrap.sh\n      contents:\n        inline: echo\n"
		}), "/etc/cabpk0s/bootstrap.sh is written by cabpk0s"},
		{"additional config redefining the unit", ign(func(in *Input) {
			in.Ignition.AdditionalConfig = "systemd:\n  units:\n    - name: cabpk0s-bootstrap.service\n      mask: true\n"
		}), "unit cabpk0s-bootstrap.service is generated by cabpk0s; add a drop-in instead"},
		{"additional config with a warning", ign(func(in *Input) {
			in.Ignition.AdditionalConfig = `{"ignition":{"version":"3.3.0"},"systemd":{"units":[{"name":"x.service","enabled":true,"contents":"[Service]\nExecStart=/bin/true\n"}]}}`
		}), "ignition additionalConfig"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			var out []byte
			var err error
			g.Expect(func() { out, err = Render(tc.in) }).NotTo(Panic())
			g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
			g.Expect(out).To(BeNil())
			g.Expect(err.Error()).NotTo(ContainSubstring(fakeToken), "errors must not carry the token")
		})
	}
}

func TestRenderReportsEveryProblem(t *testing.T) {
	_, err := Render(Input{Format: FormatCloudConfig, CustomCloudConfig: "- a\n", Files: []File{{Path: "/x", Permissions: "rwx"}}})
	NewWithT(t).Expect(err).To(SatisfyAll(
		MatchError(ContainSubstring("join token is empty")),
		MatchError(ContainSubstring("custom cloud-config")),
		MatchError(ContainSubstring("files[0]")),
	))
}

func TestRenderDefaults(t *testing.T) {
	g := NewWithT(t)
	in := Input{Format: FormatCloudConfig, JoinToken: fakeToken}
	g.Expect(in.tokenPath()).To(Equal("/etc/k0s.token"))
	g.Expect(in.installDir()).To(Equal("/usr/local/bin"))
	in.WorkingDir, in.InstallDir = "/var/lib/k0s-boot", "/opt/k0s"
	g.Expect(in.tokenPath()).To(Equal("/var/lib/k0s-boot/k0s.token"))
	g.Expect(in.installDir()).To(Equal("/opt/k0s"))

	flatcar := Input{Format: FormatIgnition, Ignition: &Ignition{Variant: VariantFlatcar}}
	g.Expect(flatcar.installDir()).To(Equal("/opt/bin"), "Flatcar's /usr is read-only")
	fcos := Input{Format: FormatIgnition, Ignition: &Ignition{Variant: VariantFCOS}}
	g.Expect(fcos.installDir()).To(Equal("/usr/local/bin"))
}

func TestInstallArgs(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Input
		want []string
	}{
		{name: "nothing to add", in: Input{}, want: nil},
		{
			name: "labels sorted, taints in order, profile",
			in: Input{
				Labels: map[string]string{"z": "1", "a": "2", "m": ""},
				Taints: []corev1.Taint{
					{Key: "t1", Value: "v", Effect: corev1.TaintEffectNoSchedule},
					{Key: "t2", Effect: corev1.TaintEffectNoExecute},
				},
				Profile: "p",
			},
			want: []string{"--labels=a=2,m=,z=1", "--taints=t1=v:NoSchedule,t2:NoExecute", "--profile=p"},
		},
		{
			name: "node name alone",
			in:   Input{NodeName: "n"},
			want: []string{"--kubelet-extra-args=--hostname-override=n"},
		},
		{
			name: "user args keep their order, kubelet ones are merged into one",
			in: Input{Args: []string{
				"--debug",
				"--kubelet-extra-args=--a=1 --b=2",
				"--data-dir=/var/lib/k0s",
				"--kubelet-extra-args", "--c=3",
				"--kubelet-extra-args --d=4",
			}},
			want: []string{"--debug", "--data-dir=/var/lib/k0s", "--kubelet-extra-args=--a=1 --b=2 --c=3 --d=4"},
		},
		{
			name: "k0smotron-style quotes around the value are removed",
			in:   Input{Args: []string{`--kubelet-extra-args="--a=1 --b=2"`, `--kubelet-extra-args='--c=3'`}},
			want: []string{"--kubelet-extra-args=--a=1 --b=2 --c=3"},
		},
		{
			name: "precedence: typed > user > hostname default",
			in: Input{
				NodeName:         "default-name",
				Args:             []string{"--kubelet-extra-args=--hostname-override=user-name --max-pods=10 --v=2"},
				KubeletExtraArgs: map[string]string{"max-pods": "20", "--node-ip": "10.0.0.1"},
			},
			want: []string{"--kubelet-extra-args=--hostname-override=user-name --v=2 --max-pods=20 --node-ip=10.0.0.1"},
		},
		{
			name: "typed hostname-override beats everything",
			in: Input{
				NodeName:         "default-name",
				Args:             []string{"--kubelet-extra-args=--hostname-override=user-name"},
				KubeletExtraArgs: map[string]string{"hostname-override": "typed-name"},
			},
			want: []string{"--kubelet-extra-args=--hostname-override=typed-name"},
		},
		{
			name: "repeated user flags: the last wins",
			in:   Input{Args: []string{"--kubelet-extra-args=--v=1 --x", "--kubelet-extra-args=--v=4"}},
			want: []string{"--kubelet-extra-args=--x --v=4"},
		},
		{
			name: "a bare value joins the flag before it; other tokens pass through",
			in:   Input{Args: []string{"--kubelet-extra-args=--node-ip 10.0.0.1 -v=3 stray --fail-swap-on=false"}},
			want: []string{"--kubelet-extra-args=--node-ip=10.0.0.1 --v=3 stray --fail-swap-on=false"},
		},
		{
			name: "empty kubelet-extra-args add nothing",
			in:   Input{Args: []string{"--kubelet-extra-args=", "--kubelet-extra-args"}},
			want: nil,
		},
		{
			name: "similar flags are not kubelet-extra-args",
			in:   Input{Args: []string{"--kubelet-extra-args-file=/x", "--kubelet-extra"}},
			want: []string{"--kubelet-extra-args-file=/x", "--kubelet-extra"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(installArgs(tc.in)).To(Equal(tc.want))
		})
	}
}

func FuzzRender(f *testing.F) {
	f.Add("cloud-config", fakeToken, "/etc/x", "--debug", "", "")
	f.Add("cloud-config", fakeToken, "x", "--kubelet-extra-args", "", "#cloud-config\nruncmd: [a]\n")
	f.Add("ignition", fakeToken, "/etc/x", "--kubelet-extra-args=\"--a=b", "storage: {files: [{path: /x}]}", "")
	f.Add("ignition", "", "/", "'", `{"ignition":{"version":"3.4.0"}}`, "")
	f.Fuzz(func(t *testing.T, format, token, path, arg, additional, custom string) {
		in := Input{
			Format: Format(format), JoinToken: token, Files: []File{{Path: path, Content: arg}},
			Args: []string{arg}, CustomCloudConfig: custom, NodeName: arg, DownloadURL: arg,
		}
		if in.Format == FormatIgnition {
			in.Ignition = &Ignition{Variant: VariantFCOS, AdditionalConfig: additional}
		}
		out, err := Render(in) // must not panic
		if err == nil && len(out) == 0 {
			t.Fatal("no error and no output")
		}
	})
}

// isK0sToken takes one line of standard base64, padded or not.
func TestIsK0sTokenTakesBase64(t *testing.T) {
	g := NewWithT(t)
	for _, ok := range []string{"YWJj", "YWI=", "YQ==", "a+/9Zz09"} {
		g.Expect(isK0sToken(ok)).To(BeTrue(), ok)
	}
	for _, bad := range []string{"", "=", "YWJj===", "YW=Jj", "YW Jj", "YWJj\n", "YW-J_j"} {
		g.Expect(isK0sToken(bad)).To(BeFalse(), bad)
	}
}
