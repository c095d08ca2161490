package render

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"net/textproto"
	"strings"

	"go.yaml.in/yaml/v3"
)

const (
	// MIMEBoundary separates the parts of multi-part output. It is fixed
	// so the output is deterministic; the parts are base64-encoded, so no
	// content can contain it.
	MIMEBoundary = "cabpk0s-bootstrap-data"
	// MergeType makes cloud-init append lists (runcmd, write_files) and
	// keep existing keys when it merges a part into the parts before it,
	// instead of its default of replacing them.
	MergeType = "list(append)+dict(no_replace,recurse_list)+str()"
)

// multipartUserData wraps our cloud-config and the user's as a MIME
// multi-part message, ours first, so cloud-init merges the user's into ours.
func multipartUserData(ours []byte, custom string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("MIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: " + mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": MIMEBoundary}) + "\r\n\r\n")
	w := multipart.NewWriter(&b)
	if err := w.SetBoundary(MIMEBoundary); err != nil {
		return nil, fmt.Errorf("MIME boundary: %w", err)
	}
	writePart(w, "text/jinja2", "cabpk0s.cfg", ours)
	ctype := "text/cloud-config"
	if isJinja(custom) {
		ctype = "text/jinja2"
	}
	writePart(w, ctype, "custom-cloud-config.cfg", []byte(custom))
	_ = w.Close() // writes to a bytes.Buffer cannot fail
	return b.Bytes(), nil
}

// writePart writes one base64-encoded part. Base64 rather than 8bit: Python's
// email package, which cloud-init uses, mangles non-ASCII text in 8bit parts
// of a message parsed from a string.
func writePart(w *multipart.Writer, ctype, filename string, content []byte) {
	h := textproto.MIMEHeader{}
	h.Set("Content-Type", mime.FormatMediaType(ctype, map[string]string{"charset": "utf-8"}))
	h.Set("Content-Transfer-Encoding", "base64")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": filename}))
	h.Set("Merge-Type", MergeType)
	pw, _ := w.CreatePart(h) // writes to a bytes.Buffer cannot fail
	enc := base64.StdEncoding.EncodeToString(content)
	for len(enc) > 76 {
		_, _ = pw.Write([]byte(enc[:76] + "\r\n"))
		enc = enc[76:]
	}
	_, _ = pw.Write([]byte(enc + "\r\n"))
}

// isJinja mirrors cloud-init's content-type detection for the Jinja header.
func isJinja(s string) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimLeft(s, " \t\r\n")), "## template: jinja")
}

// CheckCustomCloudConfig rejects custom cloud-config cloud-init would
// drop at boot. A Jinja template is only checked after rendering, on the
// machine.
func CheckCustomCloudConfig(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("custom cloud-config is empty")
	}
	if isJinja(s) {
		// Rendered on the machine; a template that does not parse would
		// make cloud-init drop it.
		body := s[strings.Index(s, "\n")+1:]
		if err := CheckJinja(body); err != nil {
			return fmt.Errorf("custom cloud-config is a Jinja template that does not parse: %w", err)
		}
		return nil
	}
	var doc any
	if err := yaml.Unmarshal([]byte(s), &doc); err != nil {
		return fmt.Errorf("custom cloud-config is not valid YAML: %w", err)
	}
	if _, ok := doc.(map[string]any); !ok {
		return errors.New("custom cloud-config is not a cloud-config mapping (key: value)")
	}
	return nil
}
