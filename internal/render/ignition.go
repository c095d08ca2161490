package render

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	ignjson "github.com/clarketm/json"
	butane "github.com/coreos/butane/config"
	butanecommon "github.com/coreos/butane/config/common"
	"github.com/coreos/go-semver/semver"
	ignition "github.com/coreos/ignition/v2/config"
	"github.com/coreos/ignition/v2/config/merge"
	ignutil "github.com/coreos/ignition/v2/config/util"
	"github.com/coreos/ignition/v2/config/v3_3"
	"github.com/coreos/ignition/v2/config/v3_3/types"
	"github.com/coreos/ignition/v2/config/v3_4"
	"github.com/coreos/ignition/v2/config/v3_5"
	"github.com/coreos/ignition/v2/config/v3_6"
	"github.com/coreos/vcontext/report"
	"go.yaml.in/yaml/v3"
)

// IgnitionSpecVersion is the Ignition spec of the output unless the
// additional config is written for a newer one. 3.3.0 is the newest spec
// both maintained lines accept: Fedora CoreOS since 2021 and Flatcar since
// release 3185 (Butane's flatcar 1.0.0 targets it), and it has everything
// the bootstrap needs.
const IgnitionSpecVersion = "3.3.0"

type ignitionSpec struct {
	version string
	parse   func([]byte) (any, report.Report, error)
}

// ignitionSpecs are the stable specs output can use, oldest first. Each
// parser also accepts older configs and translates them up, which is how the
// generated config and the additional config meet at one version.
var ignitionSpecs = []ignitionSpec{
	{"3.3.0", parseAs(v3_3.ParseCompatibleVersion)},
	{"3.4.0", parseAs(v3_4.ParseCompatibleVersion)},
	{"3.5.0", parseAs(v3_5.ParseCompatibleVersion)},
	{"3.6.0", parseAs(v3_6.ParseCompatibleVersion)},
}

func parseAs[C any](parse func([]byte) (C, report.Report, error)) func([]byte) (any, report.Report, error) {
	return func(raw []byte) (any, report.Report, error) { return parse(raw) }
}

// defaultButaneVersion is used when neither the additional config nor
// Ignition.Version names one: the versions that translate to
// IgnitionSpecVersion.
var defaultButaneVersion = map[string]string{VariantFCOS: "1.4.0", VariantFlatcar: "1.0.0"}

const unitContents = `[Unit]
Description=cabpk0s bootstrap: install k0s and join the cluster as a worker
Wants=network-online.target
After=network-online.target
# The sentinel is on tmpfs; the done marker survives reboots, so the
# bootstrap runs once per machine, as cloud-init's runcmd does.
ConditionPathExists=!` + SentinelPath + `
ConditionPathExists=!` + DoneMarkerPath + `

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh ` + ScriptPath + `
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
`

func renderIgnition(in Input) ([]byte, error) {
	out, err := encodeJSON(baseIgnition(in))
	if err != nil {
		return nil, err
	}
	spec := ignitionSpecs[0]
	if in.Ignition.AdditionalConfig != "" {
		add, err := additionalIgnition(in)
		if err != nil {
			return nil, err
		}
		if spec, err = specFor(add); err != nil {
			return nil, fmt.Errorf("ignition additionalConfig: %w", err)
		}
		if out, err = mergeIgnition(spec.parse, out, add); err != nil {
			return nil, err
		}
	}
	// A last check through Ignition's own parsers, for the declared spec and
	// the newest one: what a machine would refuse or warn about is an error
	// here, not at first boot.
	for _, parse := range []func([]byte) (any, report.Report, error){spec.parse, parseAs(ignition.Parse)} {
		if _, rpt, err := parse(out); err != nil || len(rpt.Entries) > 0 {
			return nil, fmt.Errorf("generated ignition is invalid: %w", reportError(err, rpt))
		}
	}
	return out, nil
}

// specFor is the oldest spec that holds both the generated config and the
// additional one.
func specFor(additional []byte) (ignitionSpec, error) {
	version, _, err := ignutil.GetConfigVersion(additional)
	if err != nil {
		return ignitionSpec{}, err
	}
	if version.PreRelease == "" {
		for _, s := range ignitionSpecs {
			if !semver.New(s.version).LessThan(version) {
				return s, nil
			}
		}
	}
	return ignitionSpec{}, fmt.Errorf("spec %s is not supported: use a stable spec up to %s", version, ignitionSpecs[len(ignitionSpecs)-1].version)
}

func baseIgnition(in Input) types.Config {
	cfg := types.Config{Ignition: types.Ignition{Version: IgnitionSpecVersion}}
	for _, f := range machineFiles(in) {
		source := "data:;base64," + base64.StdEncoding.EncodeToString([]byte(f.content))
		mode := f.mode
		cfg.Storage.Files = append(cfg.Storage.Files, types.File{
			// Overwrite like cloud-init's write_files: a user file may
			// replace one the image ships.
			Node:          types.Node{Path: f.path, Overwrite: ptr(true)},
			FileEmbedded1: types.FileEmbedded1{Mode: &mode, Contents: types.Resource{Source: &source}},
		})
	}
	cfg.Systemd.Units = []types.Unit{{Name: UnitName, Enabled: ptr(true), Contents: ptr(unitContents)}}
	return cfg
}

// additionalIgnition returns the additional config as Ignition JSON:
// as given when it is JSON, else translated from Butane.
func additionalIgnition(in Input) ([]byte, error) {
	src := in.Ignition.AdditionalConfig
	var out []byte
	if strings.HasPrefix(strings.TrimSpace(src), "{") {
		out = []byte(src)
	} else {
		var err error
		if out, err = butaneToIgnition(in.Ignition); err != nil {
			return nil, err
		}
	}
	if err := checkAdditional(in, out); err != nil {
		return nil, fmt.Errorf("ignition additionalConfig: %w", err)
	}
	return out, nil
}

func butaneToIgnition(ign *Ignition) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(ign.AdditionalConfig), &doc); err != nil {
		return nil, fmt.Errorf("ignition additionalConfig is neither Ignition JSON nor Butane YAML: %w", err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("ignition additionalConfig: Butane config must be a YAML mapping")
	}
	root := doc.Content[0]
	if v := mappingValue(root, "variant"); v == "" {
		setMappingValue(root, "variant", ign.Variant)
	} else if v != ign.Variant {
		return nil, fmt.Errorf("ignition additionalConfig: Butane variant %q does not match the ignition variant %q", v, ign.Variant)
	}
	if mappingValue(root, "version") == "" {
		version := ign.Version
		if version == "" {
			version = defaultButaneVersion[ign.Variant]
		}
		setMappingValue(root, "version", version)
	}
	src, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, fmt.Errorf("ignition additionalConfig: %w", err)
	}
	out, rpt, err := butane.TranslateBytes(src, butanecommon.TranslateBytesOptions{})
	// Warnings are errors, as with butane --strict: they mean something
	// the user wrote is ignored.
	if err != nil || len(rpt.Entries) > 0 {
		return nil, fmt.Errorf("ignition additionalConfig: Butane: %w", reportError(err, rpt))
	}
	return out, nil
}

func mappingValue(m *yaml.Node, key string) string {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1].Value
		}
	}
	return ""
}

func setMappingValue(m *yaml.Node, key, value string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = &yaml.Node{Kind: yaml.ScalarNode, Value: value}
			return
		}
	}
	m.Content = append([]*yaml.Node{
		{Kind: yaml.ScalarNode, Value: key},
		{Kind: yaml.ScalarNode, Value: value},
	}, m.Content...)
}

// checkAdditional keeps the additional config from replacing what the
// bootstrap stands on. A drop-in for the unit is fine.
func checkAdditional(in Input, raw []byte) error {
	var refs struct {
		Ignition struct {
			Config struct {
				Replace struct {
					Source *string `json:"source"`
				} `json:"replace"`
			} `json:"config"`
		} `json:"ignition"`
		Storage struct {
			Files       []struct{ Path string } `json:"files"`
			Directories []struct{ Path string } `json:"directories"`
			Links       []struct{ Path string } `json:"links"`
		} `json:"storage"`
		Systemd struct {
			Units []struct {
				Name     string          `json:"name"`
				Contents json.RawMessage `json:"contents"`
				Enabled  json.RawMessage `json:"enabled"`
				Mask     json.RawMessage `json:"mask"`
			} `json:"units"`
		} `json:"systemd"`
	}
	if err := json.Unmarshal(raw, &refs); err != nil {
		return fmt.Errorf("not valid Ignition JSON: %w", err)
	}
	var errs []error
	if refs.Ignition.Config.Replace.Source != nil {
		errs = append(errs, errors.New("ignition.config.replace would drop the bootstrap config"))
	}
	reserved := map[string]bool{in.tokenPath(): true, ScriptPath: true, PreCommandsPath: true, PostCommandsPath: true}
	for _, list := range [][]struct{ Path string }{refs.Storage.Files, refs.Storage.Directories, refs.Storage.Links} {
		for _, n := range list {
			if reserved[n.Path] {
				errs = append(errs, fmt.Errorf("%s is written by cabpk0s", n.Path))
			}
		}
	}
	for _, u := range refs.Systemd.Units {
		if u.Name == UnitName && (u.Contents != nil || u.Enabled != nil || u.Mask != nil) {
			errs = append(errs, fmt.Errorf("unit %s is generated by cabpk0s; add a drop-in instead", UnitName))
		}
	}
	return errors.Join(errs...)
}

// mergeIgnition merges the additional config into the generated one at
// render time, with Ignition's own merge (the additional config is the
// child: it wins on the same file or unit). Done here rather than left to
// an ignition.config.merge data URL so a bad additional config fails the
// render with a message, not the machine's first boot.
func mergeIgnition(parse func([]byte) (any, report.Report, error), base, add []byte) ([]byte, error) {
	parent, rpt, err := parse(base)
	if err != nil {
		return nil, fmt.Errorf("generated ignition is invalid: %w", reportError(err, rpt))
	}
	child, rpt, err := parse(add)
	if err != nil || len(rpt.Entries) > 0 {
		return nil, fmt.Errorf("ignition additionalConfig: %w", reportError(err, rpt))
	}
	merged, _ := merge.MergeStructTranscribe(parent, child)
	return encodeJSON(merged)
}

// encodeJSON writes compact JSON the way Butane does: with clarketm/json,
// whose omitempty also drops empty structs (encoding/json would emit dozens
// of "verification":{}), and without HTML escaping.
func encodeJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := ignjson.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encoding ignition: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// reportError joins a parse error with the report's entries.
func reportError(err error, rpt report.Report) error {
	if len(rpt.Entries) == 0 {
		return err
	}
	msg := strings.TrimSpace(rpt.String())
	if err == nil {
		return errors.New(msg)
	}
	return fmt.Errorf("%w: %s", err, msg)
}

func ptr[T any](v T) *T { return &v }
