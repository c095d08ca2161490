package templates

import (
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/yaml"

	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

// goCommand runs the go command in dir with the caller's environment minus
// GOFLAGS and GOWORK (a module of its own, its go.sum as committed). Build
// flags stay the defaults, so the build cache `go vet` and the other tests
// filled is reused.
func goCommand(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	env := make([]string, 0, len(os.Environ())+3)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOFLAGS=") && !strings.HasPrefix(kv, "GOWORK=") {
			env = append(env, kv)
		}
	}
	env = append(env, "GOFLAGS=-mod=readonly", "GOWORK=off")
	cmd.Env = env
	return cmd
}

// TestDockerBuildContext checks the image build without Docker: the
// Dockerfile's COPY sources are exactly what .dockerignore lets into the
// context, and the manager builds from them alone, as in the build stage.
func TestDockerBuildContext(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	root := testenv.RepoRoot()

	dockerfile, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	g.Expect(err).NotTo(HaveOccurred())
	var sources []string
	var mainPackage string
	scanner := bufio.NewScanner(bytes.NewReader(dockerfile))
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "COPY":
			if strings.HasPrefix(fields[1], "--from") {
				continue
			}
			for _, src := range fields[1 : len(fields)-1] {
				sources = append(sources, strings.TrimSuffix(src, "/"))
			}
		default:
			for _, f := range fields {
				if strings.HasPrefix(f, "./cmd/") {
					mainPackage = f
				}
			}
		}
	}
	g.Expect(sources).To(ContainElements("go.mod", "go.sum"))
	g.Expect(mainPackage).To(Equal("./cmd/manager"))

	ignore, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	g.Expect(err).NotTo(HaveOccurred())
	var included []string
	for _, line := range strings.Split(string(ignore), "\n") {
		if strings.HasPrefix(line, "!") {
			included = append(included, strings.TrimSuffix(strings.TrimPrefix(line, "!"), "/"))
		}
	}
	slices.Sort(sources)
	slices.Sort(included)
	g.Expect(included).To(Equal(sources), ".dockerignore must let in exactly what the Dockerfile copies")

	ctx := t.TempDir()
	for _, src := range sources {
		g.Expect(copyTree(filepath.Join(root, src), filepath.Join(ctx, src))).To(Succeed())
	}
	cmd := goCommand(ctx, "build", "-o", filepath.Join(t.TempDir(), "manager"), mainPackage)
	out, err := cmd.CombinedOutput()
	g.Expect(err).NotTo(HaveOccurred(), "the manager does not build from the Docker context alone:\n%s", out)
}

// copyTree copies a file or a directory, leaving out tests (as
// .dockerignore does).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o750)
		}
		if strings.HasSuffix(path, "_test.go") {
			return nil
		}
		data, err := os.ReadFile(path) //nolint:gosec // copying this repository's own files into a temp dir
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o600)
	})
}

// TestAPIReferenceCurrent fails when docs/api-reference.md is not what
// hack/apidocs generates from the CRDs: run `make api-docs`.
func TestAPIReferenceCurrent(t *testing.T) {
	t.Parallel()
	root := testenv.RepoRoot()
	cmd := goCommand(root, "run", "./hack/apidocs", "-crds", "config/crd/bases", "-out", "docs/api-reference.md", "-check")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

// expression is a GitHub Actions ${{ ... }} expression.
var expression = regexp.MustCompile(`\$\{\{[^}]*\}\}`)

// TestWorkflowsUseMakeTargets checks that the GitHub Actions workflows parse
// and that every make target they run exists.
func TestWorkflowsUseMakeTargets(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	root := testenv.RepoRoot()
	var targets []string
	for _, mk := range []string{"Makefile", filepath.Join("hack", "e2e.mk")} {
		data, err := os.ReadFile(filepath.Join(root, mk))
		g.Expect(err).NotTo(HaveOccurred())
		for _, line := range strings.Split(string(data), "\n") {
			if i := strings.Index(line, ":"); i > 0 && !strings.ContainsAny(line[:i], " \t$=") && !strings.HasPrefix(line, ".") {
				targets = append(targets, line[:i])
			}
		}
	}
	files, err := filepath.Glob(filepath.Join(root, ".github", "workflows", "*.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(files).NotTo(BeEmpty())
	for _, f := range files {
		data, err := os.ReadFile(f)
		g.Expect(err).NotTo(HaveOccurred())
		var workflow struct {
			Jobs map[string]struct {
				Steps []struct {
					Run string `json:"run"`
				} `json:"steps"`
			} `json:"jobs"`
		}
		g.Expect(yaml.Unmarshal(data, &workflow)).To(Succeed(), f)
		g.Expect(workflow.Jobs).NotTo(BeEmpty(), f)
		for name, job := range workflow.Jobs {
			for _, step := range job.Steps {
				for _, line := range strings.Split(step.Run, "\n") {
					fields := strings.Fields(expression.ReplaceAllString(line, "x"))
					if len(fields) == 0 || fields[0] != "make" {
						continue
					}
					for _, arg := range fields[1:] {
						if strings.Contains(arg, "=") || strings.HasPrefix(arg, "-") {
							continue
						}
						g.Expect(targets).To(ContainElement(arg), "%s job %s runs make %s", filepath.Base(f), name, arg)
					}
				}
			}
		}
	}
}
