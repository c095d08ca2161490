package render

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// cloudConfigHeader makes cloud-init render the document with Jinja before
// parsing it, as k0smotron's output does; users rely on it.
const cloudConfigHeader = "## template: jinja\n#cloud-config\n"

type cloudConfigFile struct {
	Path        string       `yaml:"path"`
	Permissions string       `yaml:"permissions"`
	Encoding    string       `yaml:"encoding,omitempty"`
	Content     templateText `yaml:"content"`
}

// templateText is content Jinja renders on the machine. It is written as a
// YAML literal block wherever YAML allows one, so the Jinja pass sees the
// text exactly as the user wrote it: a quoted scalar would double or escape
// its quotes first and change the template.
type templateText string

// MarshalYAML asks for the literal style; the encoder falls back to a
// quoted scalar only for text a block cannot hold.
func (t templateText) MarshalYAML() (any, error) {
	style := yaml.LiteralStyle
	if !strings.ContainsAny(string(t), "{}") {
		// Not a template: the encoder's own choice keeps the data as
		// before for content Jinja leaves alone.
		style = 0
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: string(t), Style: style}, nil
}

type cloudConfigDoc struct {
	WriteFiles []cloudConfigFile `yaml:"write_files"`
	RunCmd     [][]string        `yaml:"runcmd"`
}

func cloudConfig(in Input) ([]byte, error) {
	var doc cloudConfigDoc
	for _, f := range machineFiles(in) {
		cf := cloudConfigFile{Path: f.path, Permissions: fmt.Sprintf("%04o", f.mode), Content: templateText(f.content)}
		// Invalid UTF-8 cannot be a YAML string, and Jinja could not
		// render it anyway.
		if f.literal || !utf8.ValidString(f.content) {
			cf.Encoding, cf.Content = "b64", templateText(base64.StdEncoding.EncodeToString([]byte(f.content)))
		}
		doc.WriteFiles = append(doc.WriteFiles, cf)
	}
	// A list is exec'd as is: no shell parses the command line.
	doc.RunCmd = [][]string{{"sh", ScriptPath}}

	var b bytes.Buffer
	b.WriteString(cloudConfigHeader)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encoding cloud-config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encoding cloud-config: %w", err)
	}
	return b.Bytes(), nil
}
