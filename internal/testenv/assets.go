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
	"testing"
)

const capiModule = "sigs.k8s.io/cluster-api"

// AssetsDir is where the binaries of the harness are (kube-apiserver, etcd,
// kube-controller-manager and k0s-worker-join): $KUBEBUILDER_ASSETS, or the
// cache `make envtest-assets` builds them into.
func AssetsDir() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(cache, "cabpk0s", "envtest")
	}
	for _, bin := range []string{"kube-apiserver", "etcd", "kube-controller-manager", "k0s-worker-join"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return "", fmt.Errorf("envtest binary %s not found in %s: run `make envtest-assets` or set KUBEBUILDER_ASSETS", bin, dir)
		}
	}
	return dir, nil
}

// RepoRoot is the root of the cabpk0s source tree, for tests that read
// files of the checkout they run in. It is found from this source file's
// path as compiled, so it means nothing in a binary that may run anywhere
// (or was built with -trimpath): outside a test binary it panics, and what
// such a binary needs is embedded (see the config package and thirdparty/).
func RepoRoot() string {
	if !testing.Testing() {
		panic("testenv.RepoRoot is for tests run in the checkout; a binary must embed what it reads")
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// CAPIModuleDir is the cluster-api module this source tree builds against
// (CAPIVersion, from go.mod), in the module cache: for tests and the
// benchmark that need more of it than is embedded (its kustomizations, the
// kubeadm bootstrap provider's CRDs).
func CAPIModuleDir() (string, error) {
	return ModuleDir(capiModule, CAPIVersion)
}

// ModuleDir returns the directory of a Go module version in the module
// cache, downloading it through the module proxy if needed, so tests can
// read files (CRDs, manifests) of modules this one does not import, such as
// sigs.k8s.io/cluster-api/test for CAPD's CRDs. It runs the go command.
func ModuleDir(module, version string) (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", module+"@"+version)
	// Outside this module, so neither go.mod nor go.sum changes.
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
