package testenv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// CAPAVersion is the Cluster API Provider AWS release whose CRDs the
// management API server serves, so the seed's AWSMachine and
// AWSMachineTemplate are real, schema-checked objects.
const CAPAVersion = "v2.13.0"

const (
	capiModule = "sigs.k8s.io/cluster-api"
	capaModule = "sigs.k8s.io/cluster-api-provider-aws/v2"
)

// AssetsDir is where kube-apiserver and etcd are: $KUBEBUILDER_ASSETS, or
// the cache `make envtest-assets` builds them into.
func AssetsDir() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(cache, "cabpk0s", "envtest")
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return "", fmt.Errorf("envtest binary %s not found in %s: run `make envtest-assets` or set KUBEBUILDER_ASSETS", bin, dir)
		}
	}
	return dir, nil
}

// RepoRoot is the root of the cabpk0s source tree.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// CAPIModuleDir is the cluster-api module this source tree builds against
// (its go.mod decides the version), whose CRDs and webhook configuration the
// management API server serves.
func CAPIModuleDir() (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Version}}", capiModule)
	cmd.Dir = RepoRoot()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %w: %s", capiModule, err, stderr.String())
	}
	return moduleDir(capiModule, strings.TrimSpace(string(out)))
}

// CAPAModuleDir is the CAPA module whose CRDs the management API server serves.
func CAPAModuleDir() (string, error) {
	return moduleDir(capaModule, CAPAVersion)
}

// moduleDir asks the go command where a module version lives in the module
// cache, downloading it through the module proxy if needed.
func moduleDir(module, version string) (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", module+"@"+version)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s@%s: %w: %s", module, version, err, stderr.String())
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil {
		return "", fmt.Errorf("go mod download %s@%s: %w", module, version, err)
	}
	if info.Error != "" || info.Dir == "" {
		return "", fmt.Errorf("go mod download %s@%s: %s", module, version, info.Error)
	}
	return info.Dir, nil
}

// KustomizeBinary is the kustomize the Makefile built ($KUSTOMIZE), else
// the one on PATH.
func KustomizeBinary() (string, error) {
	if bin := os.Getenv("KUSTOMIZE"); bin != "" {
		return bin, nil
	}
	bin, err := exec.LookPath("kustomize")
	if err != nil {
		return "", errors.New("kustomize not found: set KUSTOMIZE or run make test")
	}
	return bin, nil
}
