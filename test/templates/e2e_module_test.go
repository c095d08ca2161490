package templates

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

// TestE2EModuleVets compiles and vets the e2e module (its own go.mod,
// build tag e2e) with its committed go.sum: -mod=mod is deliberately not
// used, so a go.mod or go.sum that is out of date fails here.
//
// A cold build compiles Cluster API's test framework, kind, CAPA's API
// types and the AWS SDK's EC2 types: about two and a half minutes on two
// cores; warm it takes seconds.
func TestE2EModuleVets(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("-short: skips compiling the e2e module (about 2.5 minutes cold); make test always runs it")
	}
	dir := filepath.Join(testenv.RepoRoot(), "e2e")
	start := time.Now()
	cmd := goCommand(dir, "vet", "-tags", "e2e", "./...")
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("go vet -tags e2e ./... in e2e/: %v\n%s\n"+
			"(after a dependency change in the main module, run `cd e2e && GOFLAGS=-tags=e2e go mod tidy` and commit e2e/go.mod and e2e/go.sum)", err, out.String())
	}
	t.Logf("go vet -tags e2e ./... in e2e/ took %s", time.Since(start).Round(time.Second))
}

// TestCABPKModuleResolves checks that the benchmark's CABPK module
// (hack/bench/cabpk) resolves every package of CABPK's main with its
// committed go.mod and go.sum, so `make bench` can build it; listing does
// not compile, so this costs seconds.
func TestCABPKModuleResolves(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(testenv.RepoRoot(), "hack", "bench", "cabpk")
	cmd := goCommand(dir, "list", "-deps", "-test=false", "sigs.k8s.io/cluster-api/bootstrap/kubeadm")
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list -deps sigs.k8s.io/cluster-api/bootstrap/kubeadm in hack/bench/cabpk: %v\n%s\n"+
			"(run `cd hack/bench/cabpk && go mod tidy` and commit go.mod and go.sum)", err, out.String())
	}
}
