package render

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strconv"
	"strings"

	ignition "github.com/coreos/ignition/v2/config"
	"github.com/vincent-petithory/dataurl"
	"go.yaml.in/yaml/v3"
)

// The defaults a machine applies to a file that names no mode or owner:
// cloud-init's write_files and Ignition agree on both.
const (
	defaultFileMode  = 0o644
	defaultFileOwner = "root:root"
)

// Decoded is what bootstrap data makes a machine do, read back from the
// data: the files it writes and the commands it runs, in order.
type Decoded struct {
	// Files are written in this order. A later entry for the same path
	// replaces an earlier one on the machine; File returns the last.
	Files []DecodedFile
	// Commands are what runs once the files are written, each an argv:
	// cloud-init's runcmd (a string entry is run by a shell, so it comes
	// back as sh -c <string>), or the ExecStart lines of the systemd units
	// an Ignition config enables, split at spaces.
	Commands [][]string
}

// DecodedFile is a file as the machine writes it.
type DecodedFile struct {
	Path string
	// Mode is the file's permission bits (0644 when the data names none).
	Mode int
	// Owner is user:group (root:root when the data names none).
	Owner   string
	Content []byte
}

// File returns the file written last at path.
func (d Decoded) File(path string) (DecodedFile, bool) {
	for i := len(d.Files) - 1; i >= 0; i-- {
		if d.Files[i].Path == path {
			return d.Files[i], true
		}
	}
	return DecodedFile{}, false
}

// Paths lists the paths of the files, in the order they are written.
func (d Decoded) Paths() []string {
	paths := make([]string, 0, len(d.Files))
	for _, f := range d.Files {
		paths = append(paths, f.Path)
	}
	return paths
}

// Decode is the inverse of Render: it reads bootstrap data of format back
// into the files a machine writes and the commands it runs. Cloud-config may
// be a single document or the MIME multi-part message Render writes for
// custom cloud-config, whose parts are merged as their Merge-Type says
// (lists appended). Jinja is not rendered: templated content comes back as
// written, as Render wrote it. Ignition is parsed with Ignition's own
// parser, so a config a machine would refuse is an error here too.
//
// Decode reads what Render writes, not everything cloud-init or Ignition
// accept: a MIME part of another type or merge type, or an Ignition file
// whose contents are not embedded, is an error rather than a guess.
func Decode(data []byte, format Format) (Decoded, error) {
	switch format {
	case FormatIgnition:
		return decodeIgnition(data)
	case FormatCloudConfig:
		if isMultipart(data) {
			return decodeMultipart(data)
		}
		return decodeCloudConfig(data)
	default:
		return Decoded{}, fmt.Errorf("unknown bootstrap data format %q", format)
	}
}

func isMultipart(data []byte) bool {
	return bytes.HasPrefix(data, []byte("MIME-Version:")) || bytes.HasPrefix(data, []byte("Content-Type: multipart/"))
}

// cloudConfigInput is a #cloud-config document, as far as decoding needs.
type cloudConfigInput struct {
	WriteFiles []struct {
		Path        string `yaml:"path"`
		Content     string `yaml:"content"`
		Encoding    string `yaml:"encoding"`
		Permissions string `yaml:"permissions"`
		Owner       string `yaml:"owner"`
	} `yaml:"write_files"`
	RunCmd []yaml.Node `yaml:"runcmd"`
}

// decodeCloudConfig reads one #cloud-config document, with or without the
// "## template: jinja" header (cloud-init removes it when it renders).
func decodeCloudConfig(data []byte) (Decoded, error) {
	body := data
	if first, rest, _ := bytes.Cut(body, []byte("\n")); isJinja(string(first)) {
		body = rest
	}
	if !bytes.HasPrefix(body, []byte("#cloud-config")) {
		return Decoded{}, errors.New("not cloud-config: no #cloud-config header")
	}
	var doc cloudConfigInput
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return Decoded{}, fmt.Errorf("not valid cloud-config YAML: %w", err)
	}
	var out Decoded
	for _, f := range doc.WriteFiles {
		content, err := decodeWriteFileContent(f.Content, f.Encoding)
		if err != nil {
			return Decoded{}, fmt.Errorf("write_files %s: %w", f.Path, err)
		}
		mode := defaultFileMode
		if f.Permissions != "" {
			m, err := strconv.ParseInt(f.Permissions, 8, 32)
			if err != nil {
				return Decoded{}, fmt.Errorf("write_files %s: permissions %q are not octal", f.Path, f.Permissions)
			}
			mode = int(m)
		}
		owner := f.Owner
		if owner == "" {
			owner = defaultFileOwner
		}
		out.Files = append(out.Files, DecodedFile{Path: f.Path, Mode: mode, Owner: owner, Content: content})
	}
	for i, entry := range doc.RunCmd {
		switch entry.Kind {
		case yaml.ScalarNode:
			out.Commands = append(out.Commands, []string{"sh", "-c", entry.Value})
		case yaml.SequenceNode:
			var argv []string
			if err := entry.Decode(&argv); err != nil {
				return Decoded{}, fmt.Errorf("runcmd entry %d: %w", i, err)
			}
			out.Commands = append(out.Commands, argv)
		default:
			return Decoded{}, fmt.Errorf("runcmd entry %d is neither a string nor a list", i)
		}
	}
	return out, nil
}

// decodeWriteFileContent applies a write_files encoding, as cloud-init does.
func decodeWriteFileContent(content, encoding string) ([]byte, error) {
	switch strings.ToLower(encoding) {
	case "", "text/plain":
		return []byte(content), nil
	case "b64", "base64":
		return base64.StdEncoding.DecodeString(content)
	case "gz", "gzip":
		return gunzip([]byte(content))
	case "gz+b64", "gz+base64", "gzip+b64", "gzip+base64":
		raw, err := base64.StdEncoding.DecodeString(content)
		if err != nil {
			return nil, err
		}
		return gunzip(raw)
	default:
		return nil, fmt.Errorf("unknown encoding %q", encoding)
	}
}

func gunzip(data []byte) ([]byte, error) {
	r, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// decodeMultipart reads the MIME multi-part message Render writes: every
// part a (Jinja) cloud-config document with MergeType, merged in order.
func decodeMultipart(data []byte) (Decoded, error) {
	msg, err := mail.ReadMessage(bufio.NewReader(bytes.NewReader(data)))
	if err != nil {
		return Decoded{}, fmt.Errorf("not a MIME message: %w", err)
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return Decoded{}, fmt.Errorf("MIME message: %w", err)
	}
	if !strings.HasPrefix(mediaType, "multipart/") {
		return Decoded{}, fmt.Errorf("MIME message of type %s, not multipart", mediaType)
	}
	var out Decoded
	reader := multipart.NewReader(msg.Body, params["boundary"])
	for i := 0; ; i++ {
		part, err := reader.NextPart()
		if errors.Is(err, io.EOF) {
			if i == 0 {
				return Decoded{}, errors.New("MIME message has no parts")
			}
			return out, nil
		}
		if err != nil {
			return Decoded{}, fmt.Errorf("MIME part %d: %w", i, err)
		}
		decoded, err := decodePart(part)
		if err != nil {
			return Decoded{}, fmt.Errorf("MIME part %d (%s): %w", i, part.FileName(), err)
		}
		out.Files = append(out.Files, decoded.Files...)
		out.Commands = append(out.Commands, decoded.Commands...)
	}
}

func decodePart(part *multipart.Part) (Decoded, error) {
	ctype, _, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
	if err != nil {
		return Decoded{}, err
	}
	if ctype != "text/cloud-config" && ctype != "text/jinja2" {
		return Decoded{}, fmt.Errorf("content type %s is not cloud-config", ctype)
	}
	// Without it cloud-init replaces lists instead of appending them.
	if mt := part.Header.Get("Merge-Type"); mt != MergeType {
		return Decoded{}, fmt.Errorf("merge type %q, not %q", mt, MergeType)
	}
	body, err := io.ReadAll(part)
	if err != nil {
		return Decoded{}, err
	}
	switch enc := strings.ToLower(part.Header.Get("Content-Transfer-Encoding")); enc {
	case "base64":
		if body, err = base64.StdEncoding.DecodeString(string(bytes.Join(bytes.Fields(body), nil))); err != nil {
			return Decoded{}, err
		}
	case "", "7bit", "8bit":
	default:
		return Decoded{}, fmt.Errorf("unknown transfer encoding %q", enc)
	}
	return decodeCloudConfig(body)
}

// decodeIgnition reads an Ignition config with Ignition's own parser.
func decodeIgnition(data []byte) (Decoded, error) {
	cfg, rpt, err := ignition.Parse(data)
	if err != nil {
		return Decoded{}, fmt.Errorf("not a valid Ignition config: %w", reportError(err, rpt))
	}
	var out Decoded
	for _, f := range cfg.Storage.Files {
		content, err := ignitionContents(f.Contents.Source, f.Contents.Compression)
		if err != nil {
			return Decoded{}, fmt.Errorf("file %s: %w", f.Path, err)
		}
		for _, a := range f.Append {
			more, err := ignitionContents(a.Source, a.Compression)
			if err != nil {
				return Decoded{}, fmt.Errorf("file %s: append: %w", f.Path, err)
			}
			content = append(content, more...)
		}
		mode := defaultFileMode
		if f.Mode != nil {
			mode = *f.Mode
		}
		owner := ignitionOwner(f.User.Name, f.User.ID) + ":" + ignitionOwner(f.Group.Name, f.Group.ID)
		out.Files = append(out.Files, DecodedFile{Path: f.Path, Mode: mode, Owner: owner, Content: content})
	}
	for _, u := range cfg.Systemd.Units {
		if u.Enabled == nil || !*u.Enabled || (u.Mask != nil && *u.Mask) {
			continue
		}
		sources := []*string{u.Contents}
		for _, d := range u.Dropins {
			sources = append(sources, d.Contents)
		}
		out.Commands = append(out.Commands, execStarts(sources)...)
	}
	return out, nil
}

// ignitionContents decodes one embedded resource: a data URL, optionally
// gzip-compressed. No source means an empty file.
func ignitionContents(source, compression *string) ([]byte, error) {
	if source == nil {
		return []byte{}, nil
	}
	if !strings.HasPrefix(*source, "data:") {
		return nil, fmt.Errorf("contents are fetched from %s, not embedded", *source)
	}
	d, err := dataurl.DecodeString(*source)
	if err != nil {
		return nil, err
	}
	switch c := derefString(compression); c {
	case "":
		return d.Data, nil
	case "gzip":
		return gunzip(d.Data)
	default:
		return nil, fmt.Errorf("unknown compression %q", c)
	}
}

func ignitionOwner(name *string, id *int) string {
	switch {
	case name != nil && *name != "":
		return *name
	case id != nil && *id != 0:
		return strconv.Itoa(*id)
	default:
		return "root"
	}
}

// execStarts are the [Service] ExecStart lines of a unit and its drop-ins
// in order; an empty ExecStart= resets the list, as in systemd.
func execStarts(sources []*string) [][]string {
	var cmds [][]string
	for _, s := range sources {
		section := ""
		for _, line := range strings.Split(derefString(s), "\n") {
			line = strings.TrimSpace(line)
			if strings.HasPrefix(line, "[") {
				section = line
				continue
			}
			value, ok := strings.CutPrefix(line, "ExecStart=")
			if section != "[Service]" || !ok {
				continue
			}
			if value = strings.TrimSpace(value); value == "" {
				cmds = nil
				continue
			}
			cmds = append(cmds, strings.Fields(value))
		}
	}
	return cmds
}

func derefString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
