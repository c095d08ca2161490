package render

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/coreos/ignition/v2/config"
	ignutil "github.com/coreos/ignition/v2/config/util"
	"github.com/coreos/ignition/v2/config/v3_3"
	"github.com/coreos/ignition/v2/config/v3_4"
	"github.com/coreos/ignition/v2/config/v3_5"
	"github.com/coreos/ignition/v2/config/v3_7_experimental/types"
	"github.com/coreos/vcontext/report"
	. "github.com/onsi/gomega"
)

// parseIgnition parses with the newest parser Ignition has, as a machine
// would, and insists on a clean report: no errors, no warnings.
func parseIgnition(t *testing.T, raw []byte) types.Config {
	t.Helper()
	g := NewWithT(t)
	cfg, rpt, err := config.Parse(raw)
	g.Expect(err).NotTo(HaveOccurred(), rpt.String())
	g.Expect(rpt.IsFatal()).To(BeFalse())
	for _, e := range rpt.Entries {
		g.Expect(e.Kind).NotTo(BeElementOf(report.Error, report.Warn), rpt.String())
	}
	g.Expect(rpt.Entries).To(BeEmpty(), rpt.String())
	return cfg
}

// declaredVersion is the spec version the config says it is written in
// (config.Parse translates everything to its newest spec).
func declaredVersion(t *testing.T, raw []byte) string {
	t.Helper()
	v, _, err := ignutil.GetConfigVersion(raw)
	mustDo(t, err)
	return v.String()
}

type ignitionFile struct {
	mode    int
	content string
}

// ignitionFiles are the files an Ignition config writes, by path.
func ignitionFiles(t *testing.T, raw []byte) map[string]ignitionFile {
	t.Helper()
	d, err := Decode(raw, FormatIgnition)
	mustDo(t, err)
	files := map[string]ignitionFile{}
	for _, f := range d.Files {
		files[f.Path] = ignitionFile{mode: f.Mode, content: string(f.Content)}
	}
	return files
}

func unit(t *testing.T, cfg types.Config, name string) types.Unit {
	t.Helper()
	for _, u := range cfg.Systemd.Units {
		if u.Name == name {
			return u
		}
	}
	t.Fatalf("no unit %s", name)
	return types.Unit{}
}

func expectBootstrapUnit(g Gomega, u types.Unit) {
	g.Expect(u.Enabled).To(HaveValue(BeTrue()))
	g.Expect(u.Contents).To(HaveValue(SatisfyAll(
		ContainSubstring("\nWants=network-online.target\n"),
		ContainSubstring("\nAfter=network-online.target\n"),
		ContainSubstring("\nConditionPathExists=!"+SentinelPath+"\n"),
		ContainSubstring("\nConditionPathExists=!"+DoneMarkerPath+"\n"),
		ContainSubstring("\nType=oneshot\n"),
		ContainSubstring("\nRemainAfterExit=yes\n"),
		ContainSubstring("\nExecStart=/bin/sh "+ScriptPath+"\n"),
		ContainSubstring("\nWantedBy=multi-user.target\n"),
	)))
}

func TestIgnitionFCOS(t *testing.T) {
	g := NewWithT(t)
	in := goldenCases()["ignition-fcos.json"]
	out, err := os.ReadFile(filepath.Join("testdata", "ignition-fcos.json"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(Render(in)).To(Equal(out), "golden file is stale")

	// The declared spec is the one FCOS and Flatcar both accept.
	_, rpt, err := v3_3.Parse(out)
	g.Expect(err).NotTo(HaveOccurred(), rpt.String())

	cfg := parseIgnition(t, out)
	g.Expect(cfg.Systemd.Units).To(HaveLen(1), "one unit runs the bootstrap")
	expectBootstrapUnit(g, unit(t, cfg, UnitName))

	files := ignitionFiles(t, out)
	g.Expect(files).To(HaveLen(7))
	g.Expect(files).To(HaveKeyWithValue("/var/lib/cabpk0s-work/k0s.token", ignitionFile{0o600, fakeToken}))
	g.Expect(files).To(HaveKeyWithValue(ScriptPath, ignitionFile{0o700, Script(in)}))
	g.Expect(files).To(HaveKeyWithValue(PreCommandsPath, ignitionFile{0o700, commandsFile("preK0sCommands", in.PreCommands)}))
	g.Expect(files).To(HaveKeyWithValue(PostCommandsPath, ignitionFile{0o700, commandsFile("postK0sCommands", in.PostCommands)}))
	g.Expect(files).To(HaveKeyWithValue("/etc/motd", ignitionFile{0o644, in.Files[0].Content}))
	g.Expect(files).To(HaveKeyWithValue("/etc/k0s/containerd.d/registry.toml", ignitionFile{0o600, in.Files[1].Content}))
	g.Expect(files).To(HaveKeyWithValue("/opt/tools/check.sh", ignitionFile{0o755, in.Files[2].Content}))
	for _, f := range cfg.Storage.Files {
		g.Expect(f.Overwrite).To(HaveValue(BeTrue()), "%s: write like cloud-init's write_files", f.Path)
	}
	g.Expect(Script(in)).To(ContainSubstring("k0s='/usr/local/bin/k0s'"))
}

func TestIgnitionFlatcarWithButane(t *testing.T) {
	g := NewWithT(t)
	in := goldenCases()["ignition-flatcar-butane.json"]
	out, err := os.ReadFile(filepath.Join("testdata", "ignition-flatcar-butane.json"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(Render(in)).To(Equal(out), "golden file is stale")

	cfg := parseIgnition(t, out)
	g.Expect(declaredVersion(t, out)).To(Equal("3.3.0"), "Butane flatcar 1.0.0 is Ignition 3.3.0")

	bootstrap := unit(t, cfg, UnitName)
	expectBootstrapUnit(g, bootstrap)
	g.Expect(bootstrap.Dropins).To(ConsistOf(HaveField("Name", "10-proxy.conf")), "a drop-in from additionalConfig is merged into our unit")
	extra := unit(t, cfg, "extra.service")
	g.Expect(extra.Enabled).To(HaveValue(BeTrue()))

	files := ignitionFiles(t, out)
	g.Expect(files).To(HaveKeyWithValue("/etc/sysctl.d/90-k0s.conf", ignitionFile{0o644, "net.ipv4.ip_forward = 1\n"}))
	g.Expect(files).To(HaveKeyWithValue("/etc/k0s.token", ignitionFile{0o600, fakeToken}))
	g.Expect(files).To(HaveKeyWithValue(ScriptPath, ignitionFile{0o700, Script(in)}))
	g.Expect(Script(in)).To(ContainSubstring("k0s='/opt/bin/k0s'"), "Flatcar's /usr is read-only")
}

func TestIgnitionAdditionalConfigVersions(t *testing.T) {
	const ign30 = `{"ignition":{"version":"3.0.0"},"storage":{"files":[{"path":"/etc/extra","mode":420,"contents":{"source":"data:,from%20json"}}]}}`
	const ign34 = `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/extra","mode":420,"contents":{"source":"data:,from%20json"}}]}}`
	const butaneFile = "storage:\n  files:\n    - path: /etc/extra\n      mode: 0644\n      contents:\n        inline: from butane\n"
	for _, tc := range []struct {
		name        string
		variant     string
		version     string
		additional  string
		wantVersion string
		wantContent string
	}{
		{name: "older Ignition JSON is translated up", variant: VariantFCOS, additional: ign30, wantVersion: "3.3.0", wantContent: "from json"},
		{name: "newer Ignition JSON raises the spec", variant: VariantFCOS, additional: ign34, wantVersion: "3.4.0", wantContent: "from json"},
		{name: "Butane version from the document", variant: VariantFCOS, version: "1.4.0", additional: "version: 1.5.0\n" + butaneFile, wantVersion: "3.4.0", wantContent: "from butane"},
		{name: "Butane version from the settings", variant: VariantFCOS, version: "1.6.0", additional: butaneFile, wantVersion: "3.5.0", wantContent: "from butane"},
		{name: "Butane version by default", variant: VariantFCOS, additional: butaneFile, wantVersion: "3.3.0", wantContent: "from butane"},
		{name: "Flatcar 1.1.0", variant: VariantFlatcar, version: "1.1.0", additional: "variant: flatcar\n" + butaneFile, wantVersion: "3.4.0", wantContent: "from butane"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			in := Input{
				Format:    FormatIgnition,
				Ignition:  &Ignition{Variant: tc.variant, Version: tc.version, AdditionalConfig: tc.additional},
				JoinToken: fakeToken,
				Files:     []File{{Path: "/etc/extra", Content: "from files", Permissions: "0600"}},
			}
			out, err := Render(in)
			g.Expect(err).NotTo(HaveOccurred())

			cfg := parseIgnition(t, out)
			g.Expect(declaredVersion(t, out)).To(Equal(tc.wantVersion))
			files := ignitionFiles(t, out)
			// The additional config is the child of the merge: it wins.
			g.Expect(files).To(HaveKeyWithValue("/etc/extra", ignitionFile{0o644, tc.wantContent}))
			g.Expect(files).To(HaveKeyWithValue(ScriptPath, ignitionFile{0o700, Script(in)}))
			expectBootstrapUnit(g, unit(t, cfg, UnitName))

			// The output declares the spec it is written in.
			var parse func([]byte) (any, report.Report, error)
			switch tc.wantVersion {
			case "3.3.0":
				parse = parseAs(v3_3.Parse)
			case "3.4.0":
				parse = parseAs(v3_4.Parse)
			case "3.5.0":
				parse = parseAs(v3_5.Parse)
			}
			_, rpt, err := parse(out)
			g.Expect(err).NotTo(HaveOccurred(), rpt.String())
		})
	}
}
