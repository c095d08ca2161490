package render

import (
	"encoding/base64"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// fakeToken looks like a k0s token (one line of base64) but is not one.
var fakeToken = base64.StdEncoding.EncodeToString([]byte("cabpk0s test token: not a gzipped kubeconfig"))

const testVersion = "v1.33.4+k0s.0"

func TestMain(m *testing.M) {
	// The test binary doubles as the stub commands the bootstrap script
	// calls: stubs are symlinks to it, told apart by their name.
	if stub, ok := stubs[filepath.Base(os.Args[0])]; ok {
		os.Exit(stub(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	g := NewWithT(t)
	p := filepath.Join("testdata", name)
	if *update {
		g.Expect(os.MkdirAll("testdata", 0o750)).To(Succeed())
		g.Expect(os.WriteFile(p, got, 0o600)).To(Succeed())
	}
	want, err := os.ReadFile(p)
	g.Expect(err).NotTo(HaveOccurred(), "run go test ./internal/render/ -update to create %s", p)
	g.Expect(string(got)).To(Equal(string(want)), "%s is stale: check the diff, then run go test ./internal/render/ -update", p)
}

// requireTool finds a tool the tests cannot do without. A missing tool
// fails the test: skipping would let a broken renderer pass.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: run make test-deps", name)
	}
	return p
}

// fullInput sets every option the renderer knows (for cloud-config).
func fullInput() Input {
	return Input{
		Format:     FormatCloudConfig,
		JoinToken:  fakeToken,
		WorkingDir: "/var/lib/cabpk0s-work",
		Files: []File{
			{Path: "/etc/motd", Content: "node {{ v1.instance_id }} is managed by cabpk0s\n"},
			{Path: "/etc/k0s/containerd.d/registry.toml", Content: "[plugins]\n  mirror = \"registry.example.com\"\n", Permissions: "0600"},
			{Path: "/opt/tools/check.sh", Content: "#!/bin/sh\necho ok\n", Permissions: "755"},
		},
		Version:        testVersion,
		InstallDir:     "/opt/k0s/bin",
		DownloadURL:    "https://mirror.example.com/k0s/v1.33.4+k0s.0/k0s-amd64?X-Amz-Signature=abc&X-Amz-Expires=600",
		DownloadSHA256: "4E7A4EC2C0E3B0A6C2F5B1E1D6D0A6E7F3A2B4C5D6E7F8091A2B3C4D5E6F7081",
		PreCommands:    []string{"echo pre on {{ v1.local_hostname }}", "modprobe br_netfilter"},
		PostCommands:   []string{"echo joined > /var/log/cabpk0s-joined"},
		NodeName:       "md-0-abcde",
		Labels:         map[string]string{"topology.kubernetes.io/zone": "eu-west-1a", "node-role.kubernetes.io/worker": "", "cabpk0s.io/pool": "md-0"},
		Taints: []corev1.Taint{
			{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule},
			{Key: "maintenance", Effect: corev1.TaintEffectPreferNoSchedule},
		},
		KubeletExtraArgs: map[string]string{"max-pods": "200", "node-ip": "10.0.0.7"},
		Profile:          "gpu-workers",
		Args: []string{
			"--debug",
			"--kubelet-extra-args=--max-pods=100 --image-gc-high-threshold=80",
			"--kubelet-extra-args", "--hostname-override=from-user",
			"--cri-socket=remote:/run/containerd/containerd.sock",
		},
	}
}
