package render

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// instanceData is the instance data cloud-init gives Jinja on the machine.
const instanceData = `{
  "base64_encoded_keys": [],
  "v1": {
    "cloud_name": "aws",
    "instance_id": "i-0cabpk0s",
    "local_hostname": "worker-7",
    "region": "eu-west-1"
  }
}`

// writeTemp writes content to a new file in a test's temp dir.
func writeTemp(t *testing.T, name string, content []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	mustDo(t, os.WriteFile(p, content, 0o600))
	return p
}

// cloudInit runs the real cloud-init.
func cloudInit(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(requireTool(t, "cloud-init"), args...).CombinedOutput()
	return string(out), err
}

// jinjaRender renders user data the way cloud-init does on first boot.
func jinjaRender(t *testing.T, userData []byte) []byte {
	t.Helper()
	ud := writeTemp(t, "user-data", userData)
	id := writeTemp(t, "instance-data.json", []byte(instanceData))
	out, err := exec.Command(requireTool(t, "cloud-init"), "devel", "render", ud, "-i", id).Output()
	var stderr string
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		stderr = string(ee.Stderr)
	}
	NewWithT(t).Expect(err).NotTo(HaveOccurred(), "cloud-init devel render: %s", stderr)
	return out
}

// schemaCheck validates a #cloud-config document with cloud-init's schema.
func schemaCheck(t *testing.T, cfg []byte) {
	t.Helper()
	out, err := cloudInit(t, "schema", "-c", writeTemp(t, "cloud-config.yaml", cfg))
	NewWithT(t).Expect(err).NotTo(HaveOccurred(), "cloud-init schema:\n%s\ndocument:\n%s", out, cfg)
	NewWithT(t).Expect(out).To(ContainSubstring("Valid cloud-config"))
}

// decode reads cloud-config (single or multi-part) back into files and
// commands with Decode, failing the test on an error.
func decode(t *testing.T, data []byte) Decoded {
	t.Helper()
	d, err := Decode(data, FormatCloudConfig)
	mustDo(t, err)
	return d
}

// file is the file bootstrap data writes at path.
func file(t *testing.T, d Decoded, path string) DecodedFile {
	t.Helper()
	f, ok := d.File(path)
	if !ok {
		t.Fatalf("no file is written at %s; written: %v", path, d.Paths())
	}
	return f
}

func TestCloudConfigIsValidAfterJinja(t *testing.T) {
	for _, name := range []string{"cloud-config-default.yaml", "cloud-config-full.yaml"} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			in := goldenCases()[name]
			out, err := os.ReadFile(filepath.Join("testdata", name))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(Render(in)).To(Equal(out), "golden file is stale")
			g.Expect(string(out)).To(HavePrefix("## template: jinja\n#cloud-config\n"))

			rendered := jinjaRender(t, out)

			// Our content passes through Jinja byte for byte.
			scriptB64 := base64.StdEncoding.EncodeToString([]byte(Script(in)))
			g.Expect(string(rendered)).To(ContainSubstring("\n    content: " + scriptB64 + "\n"))
			g.Expect(string(rendered)).To(ContainSubstring("\n    content: " + fakeToken + "\n"))

			cfg := decode(t, rendered)
			script := file(t, cfg, ScriptPath)
			g.Expect(string(script.Content)).To(Equal(Script(in)))
			g.Expect(script.Mode).To(Equal(0o700))
			token := file(t, cfg, in.tokenPath())
			g.Expect(string(token.Content)).To(Equal(fakeToken))
			g.Expect(token.Mode).To(Equal(0o600))
			g.Expect(cfg.Commands).To(Equal([][]string{{"sh", ScriptPath}}), "exactly one runcmd entry")

			if name == "cloud-config-full.yaml" {
				// What the user wrote is Jinja-rendered, as with k0smotron.
				g.Expect(string(file(t, cfg, "/etc/motd").Content)).To(Equal("node i-0cabpk0s is managed by cabpk0s\n"))
				g.Expect(string(file(t, cfg, PreCommandsPath).Content)).To(ContainSubstring("\necho pre on worker-7\nmodprobe br_netfilter\n"))
				g.Expect(file(t, cfg, PreCommandsPath).Mode).To(Equal(0o700))
				g.Expect(string(file(t, cfg, PostCommandsPath).Content)).To(HaveSuffix("\necho joined > /var/log/cabpk0s-joined\n"))
				g.Expect(file(t, cfg, "/etc/k0s/containerd.d/registry.toml").Mode).To(Equal(0o600))
				g.Expect(file(t, cfg, "/opt/tools/check.sh").Mode).To(Equal(0o755))
				g.Expect(cfg.Paths()).To(Equal([]string{
					"/var/lib/cabpk0s-work/k0s.token", "/etc/motd", "/etc/k0s/containerd.d/registry.toml",
					"/opt/tools/check.sh", PreCommandsPath, PostCommandsPath, ScriptPath,
				}))
			} else {
				g.Expect(cfg.Paths()).To(Equal([]string{"/etc/k0s.token", ScriptPath}), "no command files without commands")
			}

			schemaCheck(t, rendered)
		})
	}
}

func TestCloudConfigSchemaCheckCatchesErrors(t *testing.T) {
	// The validator the tests rely on does reject a broken document.
	out, err := cloudInit(t, "schema", "-c", writeTemp(t, "bad.yaml", []byte("#cloud-config\nruncmd: 5\nwrite_files:\n  - content: x\n")))
	g := NewWithT(t)
	g.Expect(err).To(HaveOccurred())
	g.Expect(out).To(ContainSubstring("runcmd"))
}

// prometheusRule is data full of Jinja's delimiters, as a user's contentFrom
// source may be: a Jinja pass would fail on it or change it.
const prometheusRule = `groups:
  - name: nodes
    rules:
      - alert: NodeDown
        expr: up == 0
        annotations:
          summary: "{{ $labels.instance }} is down"
          note: "{% not a tag %} {# nor a comment"
`

// TestVerbatimFilesSurviveJinja: content from a contentFrom source reaches
// the machine byte for byte through cloud-init's real Jinja pass; the same
// content inline (Jinja-visible, as with k0smotron) does not, which is what
// makes the check able to fail.
func TestVerbatimFilesSurviveJinja(t *testing.T) {
	g := NewWithT(t)
	in := Input{Format: FormatCloudConfig, JoinToken: fakeToken, Files: []File{{Path: "/etc/prometheus/rules.yaml", Content: prometheusRule, Verbatim: true}}}
	out, err := Render(in)
	g.Expect(err).NotTo(HaveOccurred())
	rendered := jinjaRender(t, out)
	g.Expect(string(file(t, decode(t, rendered), "/etc/prometheus/rules.yaml").Content)).To(Equal(prometheusRule))
	schemaCheck(t, rendered)

	in.Files[0].Verbatim = false
	out, err = Render(in)
	g.Expect(err).NotTo(HaveOccurred())
	ud := writeTemp(t, "user-data", out)
	id := writeTemp(t, "instance-data.json", []byte(instanceData))
	jinjaOut, err := exec.Command(requireTool(t, "cloud-init"), "devel", "render", ud, "-i", id).Output()
	if err == nil {
		d, decodeErr := Decode(jinjaOut, FormatCloudConfig)
		if decodeErr == nil {
			f, _ := d.File("/etc/prometheus/rules.yaml")
			g.Expect(string(f.Content)).NotTo(Equal(prometheusRule), "inline content is a template: Jinja must have failed on it or changed it")
		}
	}
}

func TestCloudConfigEncodesBinaryUserFiles(t *testing.T) {
	g := NewWithT(t)
	in := Input{Format: FormatCloudConfig, JoinToken: fakeToken, Files: []File{{Path: "/etc/blob", Content: "\xff\xfe\x00binary"}}}
	out, err := Render(in)
	g.Expect(err).NotTo(HaveOccurred())
	rendered := jinjaRender(t, out)
	g.Expect(string(rendered)).To(ContainSubstring("- path: /etc/blob\n    permissions: \"0644\"\n    encoding: b64\n"))
	g.Expect(file(t, decode(t, rendered), "/etc/blob").Content).To(Equal([]byte("\xff\xfe\x00binary")))
}

// mergeScript processes user data with cloud-init's own part handlers, as
// the init stage does, and prints the merged cloud-config as JSON. It also
// writes it as #cloud-config for the schema check. Given a fourth argument,
// it then runs cloud-init's write_files module on the merged config with
// every path below that directory (owned by the caller, as a test cannot
// chown; the owners asked for are printed).
const mergeScript = `
import getpass, grp, json, logging, os, sys
from cloudinit import handlers, helpers, safeyaml, user_data
from cloudinit.config.cc_write_files import write_files
from cloudinit.handlers.cloud_config import CloudConfigPartHandler
from cloudinit.handlers.jinja_template import JinjaTemplatePartHandler
from cloudinit.settings import PER_INSTANCE

logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
userdata, instance_data, workdir = sys.argv[1:4]
paths = helpers.Paths({"cloud_dir": os.path.join(workdir, "cloud"), "run_dir": os.path.join(workdir, "run")})
os.makedirs(paths.run_dir)
with open(instance_data) as src, open(paths.get_runpath("instance_data_sensitive"), "w") as dst:
    dst.write(src.read())
with open(userdata, "rb") as f:
    msg = user_data.UserDataProcessor(paths).process(f.read())

cloud_config = CloudConfigPartHandler(paths)
jinja = JinjaTemplatePartHandler(paths, sub_handlers=[cloud_config])
by_type = {t: h for h in (cloud_config, jinja) for t in h.list_types()}
handlers.call_begin(cloud_config, None, PER_INSTANCE)
handlers.walk(msg, handlers.walker_callback, {
    "handlers": by_type, "data": None, "frequency": PER_INSTANCE,
    "excluded": [], "handlerdir": workdir, "handlercount": 0,
})
parts = [[p.get_content_type(), p.get("Merge-Type")] for p in msg.walk() if p.get_content_maintype() != "multipart"]
with open(os.path.join(workdir, "merged.yaml"), "w") as f:
    f.write("#cloud-config\n" + safeyaml.dumps(cloud_config.cloud_buf))
owners = {}
if len(sys.argv) > 4:
    me = getpass.getuser() + ":" + grp.getgrgid(os.getgid()).gr_name
    files = []
    for f in cloud_config.cloud_buf.get("write_files", []):
        owners[f["path"]] = f.get("owner", "root:root")
        files.append(dict(f, path=sys.argv[4] + f["path"], owner=me))
    write_files("write_files", files, me)
json.dump({"parts": parts, "merged": cloud_config.cloud_buf, "owners": owners}, sys.stdout)
`

type mergedUserData struct {
	Parts  [][]*string `json:"parts"`
	Merged struct {
		RunCmd []any          `json:"runcmd"`
		NTP    map[string]any `json:"ntp"`
	} `json:"merged"`
	// Owners are the owners write_files was asked for, by path.
	Owners map[string]string `json:"owners"`
	yaml   []byte
}

// cloudInitPython is the interpreter (and its options) cloud-init runs
// with, which has cloud-init's modules and its Jinja2.
func cloudInitPython(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(requireTool(t, "cloud-init"))
	mustDo(t, err)
	shebang, err := bufio.NewReader(f).ReadString('\n')
	_ = f.Close()
	mustDo(t, err)
	return strings.Fields(strings.TrimPrefix(shebang, "#!"))
}

// cloudInitMerge runs mergeScript with the Python cloud-init runs with;
// writeRoot, when given, is where write_files writes.
func cloudInitMerge(t *testing.T, userData []byte, writeRoot ...string) mergedUserData {
	t.Helper()
	g := NewWithT(t)
	python := cloudInitPython(t)
	work := t.TempDir()
	args := slices.Concat(python[1:], []string{"-c", mergeScript, writeTemp(t, "user-data", userData), writeTemp(t, "instance-data.json", []byte(instanceData)), work}, writeRoot)
	cmd := exec.Command(python[0], args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	g.Expect(err).NotTo(HaveOccurred(), stderr.String())
	// cloud-init logs and swallows a failing part: any warning is a failure.
	g.Expect(stderr.String()).To(BeEmpty())

	var m mergedUserData
	g.Expect(json.Unmarshal(out, &m)).To(Succeed())
	m.yaml, err = os.ReadFile(filepath.Join(work, "merged.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	return m
}

func TestCustomCloudConfigIsMergedNotReplacing(t *testing.T) {
	jinjaCustom := "## template: jinja\n#cloud-config\nruncmd:\n  - echo custom on {{ v1.local_hostname }}\nwrite_files:\n  - path: /etc/custom.conf\n    content: \"region: {{ v1.region }}\\n\"\n"
	for _, tc := range []struct {
		name          string
		custom        string
		wantType      string
		wantUserCmds  []any
		wantCustomCfg string
	}{
		{
			name: "cloud-config", custom: customCloudConfig, wantType: "text/cloud-config",
			wantUserCmds: []any{"echo custom runcmd", []any{"touch", "/var/lib/custom-ran"}}, wantCustomCfg: "custom: true\n",
		},
		{
			name: "Jinja template", custom: jinjaCustom, wantType: "text/jinja2",
			wantUserCmds: []any{"echo custom on worker-7"}, wantCustomCfg: "region: eu-west-1\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			in := fullInput()
			in.Files = append(in.Files, File{Path: "/etc/greeting", Content: "grüße ✓ {{ v1.instance_id }}\n"})
			in.CustomCloudConfig = tc.custom
			out, err := Render(in)
			g.Expect(err).NotTo(HaveOccurred())

			m := cloudInitMerge(t, out)

			mergeType := MergeType
			g.Expect(m.Parts).To(Equal([][]*string{{strp("text/jinja2"), &mergeType}, {strp(tc.wantType), &mergeType}}))
			g.Expect(m.Merged.RunCmd).To(Equal(append([]any{[]any{"sh", ScriptPath}}, tc.wantUserCmds...)))
			merged := decode(t, m.yaml)
			g.Expect(merged.Paths()).To(Equal([]string{
				"/var/lib/cabpk0s-work/k0s.token", "/etc/motd", "/etc/k0s/containerd.d/registry.toml",
				"/opt/tools/check.sh", "/etc/greeting", PreCommandsPath, PostCommandsPath, ScriptPath, "/etc/custom.conf",
			}))
			g.Expect(string(file(t, merged, ScriptPath).Content)).To(Equal(Script(in)))
			g.Expect(string(file(t, merged, in.tokenPath()).Content)).To(Equal(fakeToken))
			g.Expect(string(file(t, merged, "/etc/greeting").Content)).To(Equal("grüße ✓ i-0cabpk0s\n"))
			g.Expect(string(file(t, merged, "/etc/custom.conf").Content)).To(Equal(tc.wantCustomCfg))
			if tc.name == "cloud-config" {
				g.Expect(m.Merged.NTP).To(HaveKeyWithValue("enabled", true), "keys only the user sets are kept")
			}

			schemaCheck(t, m.yaml)
		})
	}
}

func TestCustomCloudConfigWithoutMergeTypeWouldReplaceOurs(t *testing.T) {
	// The control for the test above: cloud-init's default merge replaces
	// runcmd, which is k0smotron's bug; the Merge-Type header prevents it.
	g := NewWithT(t)
	in := fullInput()
	in.CustomCloudConfig = customCloudConfig
	out, err := Render(in)
	g.Expect(err).NotTo(HaveOccurred())
	var kept []string
	for _, line := range strings.SplitAfter(string(out), "\n") {
		if !strings.HasPrefix(line, "Merge-Type:") {
			kept = append(kept, line)
		}
	}
	g.Expect(len(kept)).To(BeNumerically("<", len(strings.SplitAfter(string(out), "\n"))))

	m := cloudInitMerge(t, []byte(strings.Join(kept, "")))
	g.Expect(m.Merged.RunCmd).NotTo(ContainElement([]any{"sh", ScriptPath}))
}

func TestJinjaPartsNeedTheJinjaContentType(t *testing.T) {
	// Why our part is text/jinja2: cloud-init 22.4 renders Jinja only in
	// parts of that type; a text/cloud-config part keeps "{{ }}" verbatim.
	g := NewWithT(t)
	in := fullInput()
	in.CustomCloudConfig = customCloudConfig
	out, err := Render(in)
	g.Expect(err).NotTo(HaveOccurred())
	relabelled := strings.Replace(string(out), "Content-Type: text/jinja2", "Content-Type: text/cloud-config", 1)
	g.Expect(relabelled).NotTo(Equal(string(out)))

	m := cloudInitMerge(t, []byte(relabelled))
	g.Expect(string(file(t, decode(t, m.yaml), "/etc/motd").Content)).To(ContainSubstring("{{ v1.instance_id }}"))
}

func TestMultipartGolden(t *testing.T) {
	// The golden MIME message itself goes through cloud-init too.
	g := NewWithT(t)
	out, err := os.ReadFile(filepath.Join("testdata", "cloud-config-custom.mime"))
	g.Expect(err).NotTo(HaveOccurred())
	m := cloudInitMerge(t, out)
	g.Expect(m.Merged.RunCmd).To(HaveLen(3))
	g.Expect(m.Merged.RunCmd[0]).To(Equal([]any{"sh", ScriptPath}))
	schemaCheck(t, m.yaml)
}
