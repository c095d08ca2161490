package rendercmd

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/cabpk0s/cabpk0s/internal/jointoken"
	"github.com/cabpk0s/cabpk0s/internal/render"
)

var update = flag.Bool("update", false, "rewrite testdata/golden")

const samples = "../../config/samples"

// renderCmd runs the command and returns its exit code, stdout and stderr.
func renderCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Run(t.Context(), args, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", "golden", name)
	if *update {
		NewWithT(t).Expect(os.WriteFile(p, []byte(got), 0o600)).To(Succeed())
	}
	want, err := os.ReadFile(p)
	NewWithT(t).Expect(err).NotTo(HaveOccurred(), "run go test ./internal/rendercmd -update to create it")
	NewWithT(t).Expect(got).To(Equal(string(want)), "output differs from %s (go test ./internal/rendercmd -update rewrites it)", p)
}

// TestGolden renders every sample holding a config, and configs using
// every source, in both output forms.
func TestGolden(t *testing.T) {
	fromFiles := []string{"--from-file", "motd/text=testdata/motd.txt", "--from-file", "userdata/cloud-config=testdata/userdata.yaml"}
	for name, args := range map[string][]string{
		"sample-machine":           {"-f", filepath.Join(samples, "machine.yaml")},
		"sample-machinedeployment": {"-f", filepath.Join(samples, "machinedeployment.yaml")},
		"files":                    append([]string{"-f", "testdata/files.yaml"}, fromFiles...),
		"ignition":                 {"-f", "testdata/ignition.yaml", "--machine-pool"},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			code, data, stderr := renderCmd(t, args...)
			g.Expect(code).To(Equal(exitOK), stderr)
			golden(t, name+".data", data)

			code, files, stderr := renderCmd(t, append(args, "--files")...)
			g.Expect(code).To(Equal(exitOK), stderr)
			golden(t, name+".files", files)
		})
	}
}

// TestDataCarriesTheFakeToken: what is printed would join nothing: the
// token names the placeholder server and the fake bootstrap token.
func TestDataCarriesTheFakeToken(t *testing.T) {
	g := NewWithT(t)
	code, data, stderr := renderCmd(t, "-f", filepath.Join(samples, "machine.yaml"))
	g.Expect(code).To(Equal(exitOK), stderr)
	decoded, err := render.Decode([]byte(data), render.FormatCloudConfig)
	g.Expect(err).NotTo(HaveOccurred())
	tokenFile, ok := decoded.File("/etc/k0s.token")
	g.Expect(ok).To(BeTrue())
	kubeconfig, err := jointoken.Decode(string(tokenFile.Content))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(kubeconfig.Clusters["k0s"].Server).To(Equal(FakeServer))
	g.Expect(kubeconfig.AuthInfos["kubelet-bootstrap"].Token).To(Equal("render.notarealtoken000"))

	// The Machine in the sample names the node, and the config's version
	// is installed.
	script, _ := decoded.File(render.ScriptPath)
	g.Expect(string(script.Content)).To(ContainSubstring("--hostname-override=machine-test-0"))
	g.Expect(string(script.Content)).To(ContainSubstring("v1.27.2+k0s.0"))
}

// TestDiffShowsWhatAVersionBumpChanges compares two configs on the machine.
func TestDiffShowsWhatAVersionBumpChanges(t *testing.T) {
	g := NewWithT(t)
	code, out, stderr := renderCmd(t, "-f", filepath.Join(samples, "machine.yaml"), "--diff", "testdata/bumped-machine.yaml")
	g.Expect(code).To(Equal(exitOK), stderr)
	g.Expect(out).To(ContainSubstring("~ /etc/cabpk0s/bootstrap.sh"))
	g.Expect(out).To(ContainSubstring("  -log 'downloading k0s v1.27.2+k0s.0 with https://get.k0s.sh'"))
	g.Expect(out).To(ContainSubstring("  +log 'downloading k0s v1.28.4+k0s.0 with https://get.k0s.sh'"))
	g.Expect(out).NotTo(ContainSubstring("~ /etc/k0s.token"), "the token file is the same")
	golden(t, "diff-version-bump", out)

	code, out, _ = renderCmd(t, "-f", filepath.Join(samples, "machine.yaml"), "--diff", filepath.Join(samples, "machine.yaml"))
	g.Expect(code).To(Equal(exitOK))
	g.Expect(out).To(HaveSuffix("no difference on the machine\n"))
}

// TestBadInput: the admission's field-path errors, exit code 2, nothing
// on stdout.
func TestBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"invalid v1beta1 template", []string{"-f", "testdata/invalid.yaml"}, []string{
			`spec.template.spec.files[0].path: Invalid value: "etc/motd": must be an absolute path`,
			"spec.template.spec.files[1].path: Invalid value: \"/etc/k0s.token\": is where cabpk0s writes the join token",
		}},
		{"missing source", []string{"-f", "testdata/files.yaml"}, []string{`key "cloud-config" of ConfigMap userdata not found (give it with --from-file or --kubeconfig)`}},
		{"no config in the file", []string{"-f", filepath.Join(samples, "awsmachine.yaml")}, []string{"no K0sWorkerConfig or K0sWorkerConfigTemplate"}},
		{"no such config", []string{"-f", filepath.Join(samples, "machine.yaml"), "--name", "other"}, []string{`no K0sWorkerConfig or K0sWorkerConfigTemplate named "other"`}},
		{"no file", []string{"-f", "testdata/does-not-exist.yaml"}, []string{"no such file"}},
		{"no -f", nil, []string{"-f FILE is required"}},
		{"unknown flag", []string{"-f", "testdata/files.yaml", "--no-such-flag"}, []string{"cabpk0s render: unknown flag: --no-such-flag"}},
		{"bad from-file", []string{"-f", "testdata/files.yaml", "--from-file", "motd"}, []string{"want NAME/KEY=PATH or NAME=DIR"}},
		{"bad owner version", []string{"-f", versionless(t), "--machine-version", "latest"}, []string{`the Machine's version "latest"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			code, stdout, stderr := renderCmd(t, tc.args...)
			g.Expect(code).To(Equal(exitBadInput), stderr)
			g.Expect(stdout).To(BeEmpty())
			for _, w := range tc.want {
				g.Expect(stderr).To(ContainSubstring(w))
			}
		})
	}
}

// versionless writes a config that takes its version from its Machine.
func versionless(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "config.yaml")
	NewWithT(t).Expect(os.WriteFile(p, []byte("apiVersion: bootstrap.cluster.x-k8s.io/v1beta2\nkind: K0sWorkerConfig\nmetadata:\n  name: w\n"), 0o600)).To(Succeed())
	return p
}

// TestFromFileDirectory serves every file of a directory as a key.
func TestFromFileDirectory(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	g.Expect(os.WriteFile(filepath.Join(dir, "text"), []byte("from a directory\n"), 0o600)).To(Succeed())
	code, out, stderr := renderCmd(t, "-f", "testdata/files.yaml", "--from-file", "motd="+dir,
		"--from-file", "userdata/cloud-config=testdata/userdata.yaml", "--files")
	g.Expect(code).To(Equal(exitOK), stderr)
	g.Expect(out).To(MatchRegexp(`0644   root:root +17  /etc/motd`))
}
