package render

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// testK0sConfig holds what Jinja would change ({{ }}) and what YAML quoting
// would (quotes, a tab): it must reach the machine as written.
const testK0sConfig = "apiVersion: k0s.k0sproject.io/v1beta1\nkind: ClusterConfig\nmetadata:\n  name: k0s\nspec:\n  api:\n    extraArgs:\n      note: \"{{ not a template }}\"\n    sans: ['10.0.0.1']\n"

// testPKI is a first controller's certificates under dir, with k0s's file
// names and the modes the reconciler gives them.
func testPKI(dir string) []File {
	var files []File
	for _, name := range []string{"ca.crt", "ca.key", "etcd/ca.crt", "etcd/ca.key", "front-proxy-ca.crt", "front-proxy-ca.key", "sa.pub", "sa.key"} {
		mode := "0644"
		if strings.HasSuffix(name, ".key") {
			mode = "0600"
		}
		files = append(files, File{Path: filepath.Join(dir, name), Content: "-----BEGIN " + name + "-----\n", Permissions: mode})
	}
	return files
}

func TestControllerScriptRunsStepsInOrder(t *testing.T) {
	for name, sh := range shells(t) {
		t.Run(name, func(t *testing.T) {
			for _, tc := range []struct {
				name     string
				first    bool
				wantArgs func(in Input) []string
			}{
				{name: "first", first: true, wantArgs: func(in Input) []string {
					return []string{"install", "controller", "--force", "--enable-dynamic-config", "--config", K0sConfigPath(in.WorkingDir),
						"--env", "AUTOPILOT_HOSTNAME=cp-0", "--debug"}
				}},
				{name: "joining", wantArgs: func(in Input) []string {
					return []string{"install", "controller", "--force", "--enable-dynamic-config", "--config", K0sConfigPath(in.WorkingDir),
						"--token-file", in.tokenPath(), "--env", "AUTOPILOT_HOSTNAME=cp-0", "--debug"}
				}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					g := NewWithT(t)
					m := newMachine(t, "curl", "systemctl", "hook")
					m.shell = sh
					in := m.input(Input{Version: testVersion, PreCommands: []string{"hook pre"}, PostCommands: []string{"hook post"}, Args: []string{"--debug"}})
					in.Controller = &Controller{K0sConfig: testK0sConfig, AutopilotHostname: "cp-0"}
					if tc.first {
						in.JoinToken = ""
						in.Controller.PKI = testPKI(filepath.Join(m.root, "var/lib/k0s/pki"))
					}

					out, err := m.run(in)
					g.Expect(err).NotTo(HaveOccurred(), out)

					g.Expect(m.steps()).To(Equal([]string{
						"hook pre", "curl", "get-k0s", "k0s install", "systemctl daemon-reload", "systemctl enable", "hook post",
					}))
					g.Expect(m.callsOf("k0s install")[0].Arg).To(Equal(tc.wantArgs(in)))
					g.Expect(m.callsOf("systemctl enable")[0].Arg).To(Equal([]string{"enable", "--now", "k0scontroller"}))
					for _, c := range m.calls() {
						g.Expect(c.Watched).To(BeFalse(), "the sentinel existed during %s", c)
					}
					g.Expect(m.layout.sentinel).To(BeAnExistingFile())
				})
			}
		})
	}
}

func TestControllerScriptWritesNoSentinelAfterAFailure(t *testing.T) {
	for _, fail := range []string{"k0s install", "systemctl enable"} {
		t.Run(fail, func(t *testing.T) {
			g := NewWithT(t)
			m := newMachine(t, "curl", "systemctl")
			in := m.input(Input{Version: testVersion})
			in.Controller = &Controller{AutopilotHostname: "cp-1"}

			out, err := m.run(in, envFail+"="+fail)
			g.Expect(err).To(HaveOccurred(), out)
			g.Expect(m.layout.sentinel).NotTo(BeAnExistingFile())
			g.Expect(m.layout.done).NotTo(BeAnExistingFile())
		})
	}
}

// A controller that also runs a worker gets the worker's flags: its node's
// name, labels and taints.
func TestControllerWithWorkerGetsTheWorkerFlags(t *testing.T) {
	g := NewWithT(t)
	m := newMachine(t, "curl", "systemctl")
	in := m.input(Input{Version: testVersion, NodeName: "cp-2", Labels: map[string]string{"tier": "control"}, Args: []string{"--enable-worker"}})
	in.Controller = &Controller{AutopilotHostname: "cp-2"}

	out, err := m.run(in)
	g.Expect(err).NotTo(HaveOccurred(), out)
	g.Expect(m.callsOf("k0s install")[0].Arg).To(Equal([]string{
		"install", "controller", "--force", "--enable-dynamic-config", "--token-file", in.tokenPath(), "--env", "AUTOPILOT_HOSTNAME=cp-2",
		"--labels=tier=control", "--enable-worker", "--kubelet-extra-args=--hostname-override=cp-2",
	}))
}

func TestFirstControllerCloudConfig(t *testing.T) {
	g := NewWithT(t)
	in := Input{Format: FormatCloudConfig, Version: testVersion, WorkingDir: "/etc",
		Files:      []File{{Path: "/etc/motd", Content: "{{ v1.local_hostname }}\n"}},
		Controller: &Controller{K0sConfig: testK0sConfig, PKI: testPKI(PKIDir), AutopilotHostname: "cp-0"}}
	out, err := Render(in)
	g.Expect(err).NotTo(HaveOccurred())

	rendered := jinjaRender(t, out)
	cfg := decode(t, rendered)
	g.Expect(cfg.Paths()).To(Equal(append(append([]string{"/etc/k0s.yaml"}, PKIFiles...), "/etc/motd", ScriptPath)), "no token file: the first controller needs none")
	k0sConfig := file(t, cfg, "/etc/k0s.yaml")
	g.Expect(string(k0sConfig.Content)).To(Equal(testK0sConfig), "the k0s config is out of Jinja's reach")
	g.Expect(k0sConfig.Mode).To(Equal(0o600))
	for _, f := range PKIFiles {
		want := 0o644
		if strings.HasSuffix(f, ".key") {
			want = 0o600
		}
		g.Expect(file(t, cfg, f).Mode).To(Equal(want), f)
	}
	g.Expect(string(file(t, cfg, "/etc/motd").Content)).To(Equal("worker-7\n"), "the user's inline files stay templates")
	schemaCheck(t, rendered)
}

func TestControllerIgnitionHasTheSameFiles(t *testing.T) {
	g := NewWithT(t)
	in := Input{Format: FormatIgnition, Ignition: &Ignition{Variant: VariantFCOS}, JoinToken: fakeToken, Version: testVersion,
		Controller: &Controller{K0sConfig: testK0sConfig, AutopilotHostname: "cp-1"}}
	out, err := Render(in)
	g.Expect(err).NotTo(HaveOccurred())
	cfg, err := Decode(out, FormatIgnition)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cfg.Paths()).To(Equal([]string{"/etc/k0s.token", "/etc/k0s.yaml", ScriptPath}))
	k0sConfig, _ := cfg.File("/etc/k0s.yaml")
	g.Expect(string(k0sConfig.Content)).To(Equal(testK0sConfig))
}

func TestControllerInputIsChecked(t *testing.T) {
	for name, tc := range map[string]struct {
		in   Input
		want string
	}{
		"first controller with a token": {
			in:   Input{Format: FormatCloudConfig, JoinToken: fakeToken, Controller: &Controller{PKI: testPKI(PKIDir), AutopilotHostname: "cp-0"}},
			want: "takes no join token",
		},
		"joining controller without a token": {
			in:   Input{Format: FormatCloudConfig, Controller: &Controller{AutopilotHostname: "cp-0"}},
			want: "join token is empty",
		},
		"a name k0s cannot use": {
			in:   Input{Format: FormatCloudConfig, JoinToken: fakeToken, Controller: &Controller{AutopilotHostname: "CP 0"}},
			want: "not a DNS subdomain",
		},
		"a certificate with a bad mode": {
			in:   Input{Format: FormatCloudConfig, Controller: &Controller{PKI: []File{{Path: PKIDir + "/ca.key", Content: "k", Permissions: "rw"}}, AutopilotHostname: "cp-0"}},
			want: PKIDir + "/ca.key: permissions",
		},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Render(tc.in)
			NewWithT(t).Expect(err).To(MatchError(ContainSubstring(tc.want)))
		})
	}
}

// The script names only what it was given: a joining controller without a
// k0s config passes no --config.
func TestJoiningControllerWithoutConfig(t *testing.T) {
	g := NewWithT(t)
	m := newMachine(t, "curl", "systemctl")
	in := m.input(Input{Version: testVersion})
	in.Controller = &Controller{AutopilotHostname: "cp-1"}
	out, err := m.run(in)
	g.Expect(err).NotTo(HaveOccurred(), out)
	g.Expect(m.callsOf("k0s install")[0].Arg).NotTo(ContainElement("--config"))
	g.Expect(K0sConfigPath(in.WorkingDir)).NotTo(BeAnExistingFile())
}

func TestLeaveHelperIsEnabledAfterTheController(t *testing.T) {
	for _, tc := range []struct {
		initSystem string
		want       []string
	}{
		{initSystem: "systemctl", want: []string{"systemctl daemon-reload", "systemctl enable", "systemctl daemon-reload", "systemctl enable"}},
		{initSystem: "rc-service", want: []string{"rc-service k0scontroller", "rc-update add", "rc-service k0sleave"}},
	} {
		t.Run(tc.initSystem, func(t *testing.T) {
			g := NewWithT(t)
			m := newMachine(t, "curl", tc.initSystem, "rc-update")
			in := m.input(Input{Version: testVersion})
			in.Controller = &Controller{AutopilotHostname: "cp-0", LeaveHelper: true}
			out, err := m.run(in)
			g.Expect(err).NotTo(HaveOccurred(), out)
			g.Expect(m.steps()).To(Equal(append([]string{"curl", "get-k0s", "k0s install"}, tc.want...)))
			if tc.initSystem == "systemctl" {
				g.Expect(m.callsOf("systemctl enable")[1].Arg).To(Equal([]string{"enable", "--now", "k0sleave.service"}))
			}
			g.Expect(m.layout.sentinel).To(BeAnExistingFile())
		})
	}
}

// The helper's script leaves etcd only when K0sControlPlane marked the
// controller.
func TestLeaveScript(t *testing.T) {
	for _, tc := range []struct {
		mark, fail string
		wantLeave  bool
	}{
		{mark: "true", wantLeave: true},
		{mark: "", wantLeave: false},
		{mark: "false", wantLeave: false},
		// The ControlNode cannot be read: the shutdown goes on.
		{mark: "true", fail: "k0s kubectl", wantLeave: false},
	} {
		t.Run("mark="+tc.mark+",fail="+tc.fail, func(t *testing.T) {
			g := NewWithT(t)
			m := newMachine(t)
			in := m.input(Input{Version: testVersion})
			in.Controller = &Controller{AutopilotHostname: "cp-0", LeaveHelper: true}
			m.installK0s(in)
			g.Expect(os.WriteFile(m.layout.script, []byte(leaveScript(in)), 0o600)).To(Succeed())
			out, err := m.runFile(m.layout.script, envKubectl+"="+tc.mark, envFail+"="+tc.fail)
			g.Expect(err).NotTo(HaveOccurred(), out)
			g.Expect(m.callsOf("k0s kubectl")[0].Arg).To(Equal([]string{"kubectl", "get", "controlnode", "cp-0", "-o", `jsonpath={.metadata.annotations.k0smotron\.io/leave}`}))
			g.Expect(m.callsOf("k0s etcd")).To(HaveLen(map[bool]int{true: 1, false: 0}[tc.wantLeave]))
		})
	}
}

func TestLeaveScriptIsShellcheckClean(t *testing.T) {
	shellcheck := requireTool(t, "shellcheck")
	in := Input{Controller: &Controller{AutopilotHostname: "cp-0", LeaveHelper: true}}
	cmd := exec.Command(shellcheck, "--norc", "--shell=sh", "--severity=style", "-")
	cmd.Stdin = strings.NewReader(leaveScript(in))
	out, err := cmd.CombinedOutput()
	NewWithT(t).Expect(err).NotTo(HaveOccurred(), "shellcheck:\n%s", out)
}

// A controller's arguments, however hostile, reach k0s as written, one
// argument each, with the paths the script names.
func TestControllerScriptPassesHostileValuesAsSingleArguments(t *testing.T) {
	for name, sh := range shells(t) {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			m := newMachine(t, "curl", "systemctl")
			m.shell = sh
			in := m.input(Input{Version: testVersion, Args: []string{hostile, "--x='quoted'"}})
			in.WorkingDir = filepath.Join(m.root, "etc dir's")
			in.Controller = &Controller{K0sConfig: hostile, AutopilotHostname: "cp-0"}
			out, err := m.run(in)
			g.Expect(err).NotTo(HaveOccurred(), out)
			g.Expect(m.callsOf("k0s install")[0].Arg).To(Equal([]string{
				"install", "controller", "--force", "--enable-dynamic-config", "--config", K0sConfigPath(in.WorkingDir),
				"--token-file", in.tokenPath(), "--env", "AUTOPILOT_HOSTNAME=cp-0", hostile, "--x='quoted'",
			}))
		})
	}
}
