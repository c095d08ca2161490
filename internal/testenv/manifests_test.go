package testenv

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	cabpk0sconfig "github.com/cabpk0s/cabpk0s/config"
)

// TestEmbeddedManifestsAreTheModules holds the embedded copies to the
// pinned modules, byte for byte, and to the Cluster API version linked in
// (make verify regenerates them too; this says so sooner).
func TestEmbeddedManifestsAreTheModules(t *testing.T) {
	g := NewWithT(t)
	// A test binary's build information lists no modules (a sandbox
	// binary's does: checkThirdPartyVersion), so go.mod is asked.
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Version}}", capiModule)
	cmd.Dir = RepoRoot()
	out, err := cmd.Output()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(strings.TrimSpace(string(out))).To(Equal(CAPIVersion), "go.mod requires another Cluster API than is embedded: run make generate")
	g.Expect(checkThirdPartyVersion()).To(Succeed())

	capiDir, err := CAPIModuleDir()
	g.Expect(err).NotTo(HaveOccurred())
	capaDir, err := ModuleDir("sigs.k8s.io/cluster-api-provider-aws/v2", CAPAVersion)
	g.Expect(err).NotTo(HaveOccurred())
	sources := map[string]string{
		"thirdparty/cluster-api/crd":              filepath.Join(capiDir, "core", "config", "crd", "bases"),
		"thirdparty/cluster-api/webhook":          filepath.Join(capiDir, "core", "config", "webhook"),
		"thirdparty/cluster-api-provider-aws/crd": filepath.Join(capaDir, "config", "crd", "bases"),
	}
	n := 0
	g.Expect(fs.WalkDir(thirdParty, "thirdparty", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		embedded, err := fs.ReadFile(thirdParty, p)
		if err != nil {
			return err
		}
		src, ok := sources[path.Dir(p)]
		g.Expect(ok).To(BeTrue(), "%s has no source", p)
		original, err := os.ReadFile(filepath.Join(src, path.Base(p)))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(bytes.Equal(embedded, original)).To(BeTrue(), "%s differs from its module's file: run make generate", p)
		n++
		return nil
	})).To(Succeed())
	capiCRDFiles, err := filepath.Glob(filepath.Join(sources["thirdparty/cluster-api/crd"], "*.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(n).To(Equal(len(capiCRDFiles)+1+5), "every core CRD, the webhook configuration, five CAPA CRDs")
}

func TestEmbeddedCRDs(t *testing.T) {
	g := NewWithT(t)
	capa, err := CAPACRDs(append(CAPAKinds, AWSMachinePoolGVK.Kind)...)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(capa).To(HaveLen(5))
	for _, crd := range capa {
		// CAPA v2.13 implements the v1beta1 contract, with v1beta2 types.
		g.Expect(crd.Labels).To(HaveKeyWithValue("cluster.x-k8s.io/v1beta1", ContainSubstring("v1beta2")), crd.Name)
	}
	_, err = CAPACRDs("AWSManagedControlPlane")
	g.Expect(err).To(MatchError(ContainSubstring("no CRD of that kind is embedded")))

	ours, err := cabpk0sCRDs()
	g.Expect(err).NotTo(HaveOccurred())
	onDisk, err := filepath.Glob(filepath.Join(RepoRoot(), "config", "crd", "bases", "*.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ours).To(HaveLen(len(onDisk)))
	g.Expect(cabpk0sconfig.WebhookManifest).NotTo(BeEmpty())

	capi, err := capiCRDs()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(capi).To(ContainElement(HaveField("Spec.Names.Kind", "MachineDeployment")))
}
