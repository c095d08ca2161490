package render

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"io/fs"
	"os"
	"path"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// wantFiles are the files Render writes for in, in order, from the input's
// own fields: the token, the user's files, the command files, the script.
func wantFiles(t *testing.T, in Input) []DecodedFile {
	t.Helper()
	workingDir := in.WorkingDir
	if workingDir == "" {
		workingDir = DefaultWorkingDir
	}
	files := []DecodedFile{{Path: path.Join(workingDir, TokenFileName), Mode: 0o600, Owner: "root:root", Content: []byte(in.JoinToken)}}
	for _, f := range in.Files {
		mode, err := FileMode(f.Permissions)
		mustDo(t, err)
		files = append(files, DecodedFile{Path: f.Path, Mode: mode, Owner: "root:root", Content: []byte(f.Content)})
	}
	for p, cmds := range map[string][]string{PreCommandsPath: in.PreCommands, PostCommandsPath: in.PostCommands} {
		if len(cmds) == 0 {
			continue
		}
		// The command files' layout is the script's business; the
		// commands are in them, one per line.
		files = append(files, DecodedFile{Path: p, Mode: 0o700, Owner: "root:root", Content: []byte(strings.Join(cmds, "\n") + "\n")})
	}
	return append(files, DecodedFile{Path: ScriptPath, Mode: 0o700, Owner: "root:root", Content: []byte(Script(in))})
}

func TestDecodeRoundTrip(t *testing.T) {
	for name, tc := range map[string]struct {
		extraPaths []string
		commands   [][]string
	}{
		"cloud-config-default.yaml": {commands: [][]string{{"sh", ScriptPath}}},
		"cloud-config-full.yaml":    {commands: [][]string{{"sh", ScriptPath}}},
		"cloud-config-custom.mime": {
			extraPaths: []string{"/etc/custom.conf"},
			commands:   [][]string{{"sh", ScriptPath}, {"sh", "-c", "echo custom runcmd"}, {"touch", "/var/lib/custom-ran"}},
		},
		"ignition-fcos.json": {commands: [][]string{{"/bin/sh", ScriptPath}}},
		"ignition-flatcar-butane.json": {
			extraPaths: []string{"/etc/sysctl.d/90-k0s.conf"},
			commands:   [][]string{{"/bin/sh", ScriptPath}, {"/usr/bin/true"}},
		},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			in := goldenCases()[name]
			out, err := Render(in)
			g.Expect(err).NotTo(HaveOccurred())
			d, err := Decode(out, in.Format)
			g.Expect(err).NotTo(HaveOccurred())

			want := wantFiles(t, in)
			wantPaths := make([]string, 0, len(want))
			for _, f := range want {
				wantPaths = append(wantPaths, f.Path)
				got, ok := d.File(f.Path)
				g.Expect(ok).To(BeTrue(), "%s is written", f.Path)
				g.Expect(got.Mode).To(Equal(f.Mode), f.Path)
				g.Expect(got.Owner).To(Equal(f.Owner), f.Path)
				if f.Path == PreCommandsPath || f.Path == PostCommandsPath {
					g.Expect(string(got.Content)).To(HaveSuffix(string(f.Content)), f.Path)
				} else {
					g.Expect(string(got.Content)).To(Equal(string(f.Content)), f.Path)
				}
			}
			g.Expect(d.Paths()).To(ConsistOf(append(wantPaths, tc.extraPaths...)))
			g.Expect(d.Paths()[:len(wantPaths)]).To(ConsistOf(wantPaths), "what cabpk0s writes comes first")
			g.Expect(d.Paths()[0]).To(HaveSuffix("/"+TokenFileName), "the token first")
			g.Expect(d.Commands).To(Equal(tc.commands))
		})
	}
}

// gzipBase64 is content as write_files' gz+b64 encoding carries it.
func gzipBase64(t *testing.T, content string) string {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, err := w.Write([]byte(content))
	mustDo(t, err)
	mustDo(t, w.Close())
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

// TestDecodeAgreesWithCloudInit holds Decode to what cloud-init itself
// writes: cloud-init merges the user data and runs its write_files module
// into a directory, and every file there (path, mode, content), every owner
// asked for, and the merged runcmd must be what Decode returns. The input
// has no Jinja expressions: Decode does not render them, cloud-init does.
func TestDecodeAgreesWithCloudInit(t *testing.T) {
	custom := "#cloud-config\nwrite_files:\n" +
		"  - path: /etc/custom.conf\n    content: \"custom: true\\n\"\n" +
		"  - path: /etc/custom.b64\n    encoding: b64\n    permissions: \"0640\"\n    owner: nobody:nogroup\n    content: " + base64.StdEncoding.EncodeToString([]byte("hello\n")) + "\n" +
		"  - path: /etc/custom.gz\n    encoding: gz+b64\n    content: " + gzipBase64(t, "compressed\n") + "\n" +
		"  - path: /etc/motd\n    content: \"replaced by the custom part\\n\"\n" +
		"runcmd:\n  - echo custom runcmd\n  - [touch, /var/lib/custom-ran]\n"
	// fullInput without its Jinja expressions.
	base := fullInput()
	base.Files = []File{
		{Path: "/etc/motd", Content: "managed by cabpk0s\n"},
		{Path: "/etc/greeting", Content: "grüße ✓\n", Permissions: "0600"},
		{Path: "/etc/blob", Content: "\xff\xfe\x00binary", Permissions: "0400"},
		{Path: "/opt/tools/check.sh", Content: "#!/bin/sh\necho ok\n", Permissions: "755"},
	}
	base.PreCommands = []string{"echo pre"}
	withCustom := base
	withCustom.CustomCloudConfig = custom
	for name, in := range map[string]Input{"cloud-config": base, "MIME multi-part": withCustom} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			out, err := Render(in)
			g.Expect(err).NotTo(HaveOccurred())
			decoded, err := Decode(out, FormatCloudConfig)
			g.Expect(err).NotTo(HaveOccurred())

			root := t.TempDir()
			m := cloudInitMerge(t, out, root)
			// What write_files wrote, through a root, so no path leaves it.
			written := map[string]DecodedFile{}
			dir, err := os.OpenRoot(root)
			mustDo(t, err)
			defer dir.Close()
			mustDo(t, fs.WalkDir(dir.FS(), ".", func(p string, e fs.DirEntry, err error) error {
				if err != nil || !e.Type().IsRegular() {
					return err
				}
				info, err := e.Info()
				if err != nil {
					return err
				}
				content, err := fs.ReadFile(dir.FS(), p)
				if err != nil {
					return err
				}
				name := "/" + p
				written[name] = DecodedFile{Path: name, Mode: int(info.Mode().Perm()), Owner: m.Owners[name], Content: content}
				return nil
			}))

			last := map[string]DecodedFile{}
			for _, f := range decoded.Files {
				last[f.Path] = f
			}
			g.Expect(last).To(Equal(written))

			var runcmd [][]string
			for _, c := range m.Merged.RunCmd {
				switch c := c.(type) {
				case string:
					runcmd = append(runcmd, []string{"sh", "-c", c})
				case []any:
					var argv []string
					for _, a := range c {
						argv = append(argv, a.(string))
					}
					runcmd = append(runcmd, argv)
				}
			}
			g.Expect(decoded.Commands).To(Equal(runcmd))
			if name == "MIME multi-part" {
				g.Expect(last).To(HaveKey("/etc/custom.gz"), "the custom part is decoded")
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	mime, err := Render(goldenCases()["cloud-config-custom.mime"])
	mustDo(t, err)
	withoutMergeType := strings.ReplaceAll(string(mime), "Merge-Type: "+MergeType+"\r\n", "")
	script := strings.Replace(string(mime), "Content-Type: text/cloud-config", "Content-Type: text/x-shellscript", 1)
	for _, tc := range []struct {
		name, data, want string
		format           Format
	}{
		{name: "no header", data: "write_files: []\n", want: "no #cloud-config header"},
		{name: "not YAML", data: "#cloud-config\nwrite_files: [\n", want: "not valid cloud-config YAML"},
		{name: "unknown encoding", data: "#cloud-config\nwrite_files:\n  - path: /a\n    encoding: rot13\n    content: x\n", want: `unknown encoding "rot13"`},
		{name: "bad base64", data: "#cloud-config\nwrite_files:\n  - path: /a\n    encoding: b64\n    content: '!!'\n", want: "write_files /a"},
		{name: "bad permissions", data: "#cloud-config\nwrite_files:\n  - path: /a\n    permissions: rw\n    content: x\n", want: "not octal"},
		{name: "bad runcmd", data: "#cloud-config\nruncmd:\n  - {a: b}\n", want: "runcmd entry 0"},
		{name: "part without our merge type", data: withoutMergeType, want: "merge type"},
		{name: "part that is a script", data: script, want: "text/x-shellscript is not cloud-config"},
		{name: "Ignition that is not JSON", data: "{", format: FormatIgnition, want: "not a valid Ignition config"},
		{name: "Ignition file fetched remotely", format: FormatIgnition, want: "not embedded",
			data: `{"ignition":{"version":"3.3.0"},"storage":{"files":[{"path":"/a","contents":{"source":"https://example.com/a"}}]}}`},
		{name: "unknown format", data: "x", format: "yaml", want: `unknown bootstrap data format "yaml"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			format := tc.format
			if format == "" {
				format = FormatCloudConfig
			}
			g := NewWithT(t)
			g.Expect(tc.data).NotTo(Equal(string(mime)))
			_, err := Decode([]byte(tc.data), format)
			g.Expect(err).To(MatchError(ContainSubstring(tc.want)))
		})
	}
}

func TestDecodeIgnitionDefaultsAndOwners(t *testing.T) {
	g := NewWithT(t)
	d, err := Decode([]byte(`{"ignition":{"version":"3.3.0"},"storage":{"files":[`+
		`{"path":"/a","contents":{"source":"data:,plain%20text"}},`+
		`{"path":"/b","mode":384,"user":{"name":"core"},"group":{"id":500},"contents":{"source":"data:;base64,`+gzipBase64(t, "zipped")+`","compression":"gzip"},`+
		`"append":[{"source":"data:,%20and%20more"}]}]},`+
		`"systemd":{"units":[{"name":"off.service","contents":"[Service]\nExecStart=/bin/false\n"},`+
		`{"name":"on.service","enabled":true,"contents":"[Unit]\nExecStart=/not/a/service/line\n[Service]\nExecStart=/bin/a x\n","dropins":[{"name":"10.conf","contents":"[Service]\nExecStart=\nExecStart=/bin/b y\n"}]}]}}`), FormatIgnition)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(d.Files).To(Equal([]DecodedFile{
		{Path: "/a", Mode: 0o644, Owner: "root:root", Content: []byte("plain text")},
		{Path: "/b", Mode: 0o600, Owner: "core:500", Content: []byte("zipped and more")},
	}))
	g.Expect(d.Commands).To(Equal([][]string{{"/bin/b", "y"}}), "only enabled units run; a drop-in's empty ExecStart= resets the list")
}

// FuzzDecodeRoundTrip: whatever file Render accepts, Decode gives back
// byte for byte, with its mode, in both formats.
func FuzzDecodeRoundTrip(f *testing.F) {
	f.Add("hello\n", "0644", false)
	f.Add("{{ v1.instance_id }}\n", "600", false)
	f.Add("\xff\xfe\x00binary", "0400", true)
	f.Add("line one\r\nline two: [x]\n", "", true)
	f.Fuzz(func(t *testing.T, content, permissions string, ignition bool) {
		in := Input{Format: FormatCloudConfig, JoinToken: fakeToken, Files: []File{{Path: "/etc/fuzz", Content: content, Permissions: permissions}}}
		if ignition {
			in.Format, in.Ignition = FormatIgnition, &Ignition{Variant: VariantFCOS}
		}
		mode, err := FileMode(permissions)
		if err != nil {
			t.Skipf("permissions %q are no octal mode: validation refuses them before Render, outside this property", permissions)
		}
		if ignition && mode > 0o777 {
			t.Skipf("mode %o: Ignition cannot set setuid, setgid or sticky bits, and validation refuses them", mode)
		}
		out, err := Render(in)
		if err != nil {
			t.Fatalf("Render refused a file with content %q and mode %o: %v", content, mode, err)
		}
		d, err := Decode(out, in.Format)
		if err != nil {
			t.Fatalf("Decode(Render(in)): %v\n%s", err, out)
		}
		got, ok := d.File("/etc/fuzz")
		if !ok || !bytes.Equal(got.Content, []byte(content)) || got.Mode != mode {
			t.Fatalf("round trip: got %+v, want content %q mode %o", got, content, mode)
		}
	})
}
