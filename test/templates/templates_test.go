// Package templates checks, without Docker or a cloud, everything the e2e
// suite, the dev loop and the release ship that can be checked statically:
//
//   - every kustomization under config/ and e2e/data/ builds;
//   - every cluster template (the e2e flavors under e2e/data and the
//     release templates under templates/) renders with clusterctl's own
//     variable processing, and the API server of a real management cluster
//     (Cluster API core + webhooks, CAPD, CAPA, cabpk0s + webhooks, a
//     K0smotronControlPlane stand-in) accepts every rendered object in a
//     server-side dry run;
//   - the e2e configs name files that exist and variables the templates use;
//   - tilt-provider.yaml and clusterctl-settings.json point at paths that
//     exist, and metadata.yaml passes clusterctl's own validation;
//   - the e2e module (its own go.mod, build tag e2e) compiles and vets.
//
// The tests run kustomize from $KUSTOMIZE (else PATH) and need the envtest
// binaries (KUBEBUILDER_ASSETS); `make test` provides both.
package templates

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cabpk0s/cabpk0s/internal/fixtures"
	"github.com/cabpk0s/cabpk0s/internal/testenv"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/yaml"
)

var (
	buildMu    sync.Mutex
	buildCache = map[string][]byte{}
)

// kustomizeBuild builds a kustomization directory, once per test binary.
func kustomizeBuild(t *testing.T, dir string) []byte {
	t.Helper()
	buildMu.Lock()
	out, ok := buildCache[dir]
	buildMu.Unlock()
	if ok {
		return out
	}
	cmd := exec.Command(fixtures.Kustomize(t), "build", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kustomize build %s: %v\n%s", dir, err, stderr.String())
	}
	buildMu.Lock()
	buildCache[dir] = out
	buildMu.Unlock()
	return out
}

// kustomizations lists the directories with a kustomization.yaml under the
// given roots, relative to the repository.
func kustomizations(t *testing.T, roots ...string) []string {
	t.Helper()
	root := testenv.RepoRoot()
	var dirs []string
	for _, r := range roots {
		err := filepath.WalkDir(filepath.Join(root, r), func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && d.Name() == "kustomization.yaml" {
				rel, err := filepath.Rel(root, filepath.Dir(path))
				if err != nil {
					return err
				}
				dirs = append(dirs, rel)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(dirs)
	return dirs
}

// TestKustomizeBuild builds every kustomization in config/ and e2e/data/.
func TestKustomizeBuild(t *testing.T) {
	t.Parallel()
	root := testenv.RepoRoot()
	dirs := kustomizations(t, "config", filepath.Join("e2e", "data"))
	g := NewWithT(t)
	g.Expect(dirs).To(ContainElements(
		"config/default",
		"e2e/data/infrastructure-docker/cluster-template",
		"e2e/data/infrastructure-aws/cluster-template",
	))
	for _, dir := range dirs {
		t.Run(dir, func(t *testing.T) {
			out := kustomizeBuild(t, filepath.Join(root, dir))
			if len(bytes.TrimSpace(out)) == 0 {
				t.Errorf("kustomize build %s produced nothing", dir)
			}
		})
	}
}

// e2eConfig is the part of an e2e config (Cluster API's E2EConfig format)
// these checks read. The e2e module parses it with the framework's own
// types; the main module must not import the test framework.
type e2eConfig struct {
	ManagementClusterName string `json:"managementClusterName"`
	Images                []struct {
		Name         string `json:"name"`
		LoadBehavior string `json:"loadBehavior"`
	} `json:"images"`
	Providers []struct {
		Name     string `json:"name"`
		Type     string `json:"type"`
		Versions []struct {
			Name         string `json:"name"`
			Value        string `json:"value"`
			Type         string `json:"type"`
			Contract     string `json:"contract"`
			Replacements []struct {
				Old string `json:"old"`
				New string `json:"new"`
			} `json:"replacements"`
			Files []e2eFile `json:"files"`
		} `json:"versions"`
		Files []e2eFile `json:"files"`
	} `json:"providers"`
	Variables map[string]string   `json:"variables"`
	Intervals map[string][]string `json:"intervals"`
}

type e2eFile struct {
	SourcePath string `json:"sourcePath"`
	TargetName string `json:"targetName"`
}

// loadE2EConfig parses e2e/config/<name>.yaml strictly.
func loadE2EConfig(t *testing.T, name string) *e2eConfig {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "e2e", "config", name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c := &e2eConfig{}
	if err := yaml.UnmarshalStrict(data, c); err != nil {
		t.Fatalf("e2e/config/%s.yaml: %v", name, err)
	}
	return c
}

// templateSource is where a generated cluster template comes from: the
// kustomization next to it, named like the file without .yaml.
func templateSource(path string) string {
	return strings.TrimSuffix(path, ".yaml")
}

// TestE2EConfigs checks that each e2e config names files that exist (or,
// for cluster templates, the kustomizations that build them), kustomize
// sources that exist, the providers the suite expects, and intervals that
// parse.
func TestE2EConfigs(t *testing.T) {
	t.Parallel()
	root := testenv.RepoRoot()
	for _, name := range []string{"docker", "aws"} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			c := loadE2EConfig(t, name)
			base := filepath.Join(root, "e2e", "config")
			types := map[string][]string{}
			for _, p := range c.Providers {
				types[p.Type] = append(types[p.Type], p.Name)
				g.Expect(p.Versions).NotTo(BeEmpty(), p.Name)
				for _, v := range p.Versions {
					g.Expect(v.Contract).To(BeElementOf("v1beta1", "v1beta2"), "%s %s", p.Name, v.Name)
					switch v.Type {
					case "", "kustomize":
						g.Expect(filepath.Join(base, v.Value, "kustomization.yaml")).To(BeAnExistingFile(), "%s %s", p.Name, v.Name)
					case "url":
						g.Expect(v.Value).To(HavePrefix("https://"), "%s %s", p.Name, v.Name)
					default:
						t.Errorf("%s %s: unknown source type %q", p.Name, v.Name, v.Type)
					}
					for _, f := range append(slices.Clone(p.Files), v.Files...) {
						path := filepath.Join(base, f.SourcePath)
						if strings.HasPrefix(filepath.Base(path), "cluster-template") {
							g.Expect(filepath.Join(templateSource(path), "kustomization.yaml")).To(BeAnExistingFile(),
								"%s: no kustomization builds %s", p.Name, f.SourcePath)
							continue
						}
						g.Expect(path).To(BeAnExistingFile(), "%s: %s", p.Name, f.SourcePath)
					}
				}
			}
			g.Expect(types).To(HaveKeyWithValue("CoreProvider", []string{"cluster-api"}))
			g.Expect(types).To(HaveKeyWithValue("BootstrapProvider", []string{"k0s"}))
			g.Expect(types).To(HaveKeyWithValue("ControlPlaneProvider", []string{"k0sproject-k0smotron"}))
			g.Expect(types).To(HaveKeyWithValue("InfrastructureProvider", []string{map[string]string{"docker": "docker", "aws": "aws"}[name]}))
			g.Expect(c.Variables).To(HaveKey("K0SMOTRON_VERSION"))
			for key, values := range c.Intervals {
				g.Expect(len(values)).To(BeElementOf(1, 2), key)
				for _, v := range values {
					_, err := time.ParseDuration(v)
					g.Expect(err).NotTo(HaveOccurred(), key)
				}
			}
			// Every generated template of the infrastructure is listed, so
			// the suite's flavors and the files on disk cannot drift apart.
			var listed []string
			for _, p := range c.Providers {
				for _, v := range p.Versions {
					for _, f := range v.Files {
						if strings.HasPrefix(filepath.Base(f.SourcePath), "cluster-template") {
							listed = append(listed, filepath.Clean(filepath.Join(base, templateSource(f.SourcePath))))
						}
					}
				}
			}
			var flavors []string
			for _, dir := range kustomizations(t, filepath.Join("e2e", "data", "infrastructure-"+name)) {
				if strings.HasPrefix(filepath.Base(dir), "cluster-template") {
					flavors = append(flavors, filepath.Join(root, dir))
				}
			}
			g.Expect(listed).To(ConsistOf(flavors))
		})
	}
}
