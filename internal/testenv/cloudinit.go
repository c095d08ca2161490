package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// ErrNoCloudInit means cloud-init is not installed (`make test-deps`).
var ErrNoCloudInit = errors.New("cloud-init is not installed: run `make test-deps`")

// ValidateCloudConfig renders cloud-config's Jinja template as cloud-init
// does on a booting machine, then validates the result with cloud-init's
// own schema check.
func ValidateCloudConfig(data []byte) error {
	if _, err := exec.LookPath("cloud-init"); err != nil {
		return ErrNoCloudInit
	}
	dir, err := os.MkdirTemp("", "cloud-config-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	userData := filepath.Join(dir, "user-data")
	instanceData := filepath.Join(dir, "instance-data.json")
	rendered := filepath.Join(dir, "rendered")
	if err := os.WriteFile(userData, data, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(instanceData, []byte(`{"v1":{"instance_id":"i-0123456789","local_hostname":"worker"},"ds":{"meta_data":{}}}`), 0o600); err != nil {
		return err
	}
	out, err := exec.Command("cloud-init", "devel", "render", userData, "-i", instanceData).Output()
	if err != nil {
		return fmt.Errorf("cloud-init cannot render the Jinja template: %w", err)
	}
	if err := os.WriteFile(rendered, out, 0o600); err != nil {
		return err
	}
	if out, err := exec.Command("cloud-init", "schema", "-c", rendered).CombinedOutput(); err != nil {
		return fmt.Errorf("cloud-init schema rejects the bootstrap data: %w: %s", err, out)
	}
	return nil
}
