// Package sandboxbinary checks that the sandbox binary (`make demo`) is
// self-contained: built from this checkout, put in an empty directory
// outside it and run there with no go command on PATH, it installs
// everything it carries (Cluster API's, CAPA's and cabpk0s's manifests, the
// seed's samples) and comes up; only the envtest binaries (kube-apiserver,
// etcd, kube-controller-manager, k0s-worker-join) come from
// KUBEBUILDER_ASSETS.
package sandboxbinary

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

// raceEnabled is set when this test is built with -race (race_test.go): the
// binary is built alike, so the packages' compiled code is already cached.
var raceEnabled bool

// TestSandboxRunsOutsideTheCheckout builds cmd/sandbox as this test was
// built, for the build cache's sake, not with -trimpath as make demo does.
// It is as strict: what a binary could find of the checkout is what
// testenv.RepoRoot finds, and RepoRoot panics outside a test binary; with
// no go command on PATH the module cache is out of reach too.
func TestSandboxRunsOutsideTheCheckout(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skips building and running the sandbox binary (about a minute); make test runs it")
	}
	g := NewWithT(t)
	assets, err := testenv.AssetsDir()
	g.Expect(err).NotTo(HaveOccurred())

	dir := t.TempDir()
	bin := filepath.Join(dir, "sandbox")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "./cmd/sandbox")...)
	build.Dir = testenv.RepoRoot()
	out, err := build.CombinedOutput()
	g.Expect(err).NotTo(HaveOccurred(), "go build ./cmd/sandbox: %s", out)

	work := filepath.Join(dir, "elsewhere")
	g.Expect(os.Mkdir(work, 0o700)).To(Succeed())
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	run := exec.CommandContext(ctx, bin, "--exit-when-ready", "--state-dir", "state")
	run.Dir = work
	run.Env = []string{"PATH=" + pathWithoutGo(t), "HOME=" + work, "KUBEBUILDER_ASSETS=" + assets}
	out, err = run.CombinedOutput()
	g.Expect(err).NotTo(HaveOccurred(), "the sandbox, run from %s without go:\n%s", work, out)
	g.Expect(string(out)).To(SatisfyAll(
		ContainSubstring("created Cluster default/cp-test"),
		ContainSubstring("applied MachineDeployment default/md-test"),
		ContainSubstring("ready: KUBECONFIG=state/management.kubeconfig"),
		ContainSubstring("shutting down"),
	))
	g.Expect(filepath.Join(work, "state", "management.kubeconfig")).To(BeAnExistingFile())
	g.Expect(filepath.Join(work, "state", "ready")).NotTo(BeAnExistingFile(), "removed at shutdown")
}

// pathWithoutGo is $PATH without the directories that have a go command.
func pathWithoutGo(t *testing.T) string {
	t.Helper()
	var kept []string
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(d, "go")); err == nil {
			continue
		}
		kept = append(kept, d)
	}
	return strings.Join(kept, string(os.PathListSeparator))
}
