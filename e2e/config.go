//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/blang/semver/v4"
	"sigs.k8s.io/cluster-api/test/framework/clusterctl"
	"sigs.k8s.io/yaml"
)

// Provider names in the e2e configs and the local clusterctl repository.
const (
	coreProviderName         = "cluster-api"
	bootstrapProviderName    = "k0s"
	controlPlaneProviderName = "k0sproject-k0smotron"
	dockerProviderName       = "docker"
	awsProviderName          = "aws"
)

// Variables the specs read from the e2e config (the environment wins).
const (
	varK0sVersion               = "K0S_VERSION"
	varK0sWorkerVersion         = "K0S_WORKER_VERSION"
	varK0sVersionUpgradeFrom    = "K0S_VERSION_UPGRADE_FROM"
	varKubernetesVersion        = "KUBERNETES_VERSION"
	varKubernetesVersionMgmt    = "KUBERNETES_VERSION_MANAGEMENT"
	varCabpk0sUpgradeFrom       = "CABPK0S_UPGRADE_FROM"
	varHostingKubeconfig        = "HOSTING_CLUSTER_KUBECONFIG_B64"
	varControlPlaneAPIPort      = "CONTROL_PLANE_API_PORT"
	varControlPlaneKonnectivity = "CONTROL_PLANE_KONNECTIVITY_PORT"
	varE2EImage                 = "E2E_IMAGE"
	varAWSB64EncodedCredentials = "AWS_B64ENCODED_CREDENTIALS" //nolint:gosec // the variable's name, not a credential
)

// requiredAWSVariables must be set (in the environment) for the AWS suite.
var requiredAWSVariables = []string{
	"AWS_REGION", "AWS_AVAILABILITY_ZONE", "AWS_SSH_KEY_NAME", "AWS_VPC_ID",
	"AWS_SUBNET_ID", "AWS_SECURITY_GROUP_ID", "AWS_AMI_ID", "AWS_FLATCAR_AMI_ID",
	varAWSB64EncodedCredentials, varE2EImage,
}

// loadE2EConfig reads an e2e config the way Cluster API's
// clusterctl.LoadE2EConfig does (unmarshal, resolve release markers,
// Defaults, AbsPaths) but validates it for this provider set instead of
// requiring kubeadm providers. ${VAR} in provider versions is expanded first.
func loadE2EConfig(ctx context.Context, path string) (*clusterctl.E2EConfig, error) {
	data, err := os.ReadFile(path) //nolint:gosec // the -e2e.config flag of this test run
	if err != nil {
		return nil, fmt.Errorf("reading the e2e config: %w", err)
	}
	config := &clusterctl.E2EConfig{}
	if err := yaml.UnmarshalStrict(data, config); err != nil {
		return nil, fmt.Errorf("parsing the e2e config %s: %w", path, err)
	}
	if err := expandProviderVariables(config); err != nil {
		return nil, fmt.Errorf("e2e config %s: %w", path, err)
	}
	if err := config.ResolveReleases(ctx); err != nil {
		return nil, fmt.Errorf("resolving release markers in %s: %w", path, err)
	}
	config.Defaults()
	config.AbsPaths(filepath.Dir(path))
	if err := validateE2EConfig(config); err != nil {
		return nil, fmt.Errorf("e2e config %s: %w", path, err)
	}
	return config, nil
}

// variable returns an e2e variable, the environment first.
func variable(config *clusterctl.E2EConfig, name string) (string, bool) {
	if v, ok := os.LookupEnv(name); ok {
		return v, true
	}
	v, ok := config.Variables[name]
	return v, ok
}

// expandProviderVariables replaces ${NAME} in the providers' version names,
// values and replacements with e2e variables, so a provider release (here
// k0smotron's) can be chosen with a variable.
func expandProviderVariables(config *clusterctl.E2EConfig) error {
	var missing []string
	expand := func(s string) string {
		return os.Expand(s, func(name string) string {
			v, ok := variable(config, name)
			if !ok || v == "" {
				missing = append(missing, name)
			}
			return v
		})
	}
	for i := range config.Providers {
		for j := range config.Providers[i].Versions {
			v := &config.Providers[i].Versions[j]
			v.Name = expand(v.Name)
			v.Value = expand(v.Value)
			for k := range v.Replacements {
				v.Replacements[k].New = expand(v.Replacements[k].New)
			}
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("provider versions use variables that are not set: %s", strings.Join(slices.Compact(missing), ", "))
	}
	return nil
}

// validateE2EConfig checks what the suite relies on: one core provider, our
// bootstrap provider, k0smotron's control plane, one infrastructure
// provider, semver version names, existing files and parseable intervals.
func validateE2EConfig(config *clusterctl.E2EConfig) error {
	var errs []error
	byType := map[string][]string{}
	for _, p := range config.Providers {
		byType[p.Type] = append(byType[p.Type], p.Name)
		if len(p.Versions) == 0 {
			errs = append(errs, fmt.Errorf("provider %s has no versions", p.Name))
		}
		for _, v := range p.Versions {
			if _, err := semver.ParseTolerant(v.Name); err != nil {
				errs = append(errs, fmt.Errorf("provider %s: version name %q is not a semantic version", p.Name, v.Name))
			}
			if v.Type == clusterctl.KustomizeSource {
				if _, err := os.Stat(filepath.Join(v.Value, "kustomization.yaml")); err != nil {
					errs = append(errs, fmt.Errorf("provider %s %s: %s is not a kustomization", p.Name, v.Name, v.Value))
				}
			}
			for _, f := range append(slices.Clone(p.Files), v.Files...) {
				if _, err := os.Stat(f.SourcePath); err != nil {
					hint := ""
					if strings.HasPrefix(filepath.Base(f.SourcePath), "cluster-template") {
						hint = " (cluster templates are built by `make e2e-templates`)"
					}
					errs = append(errs, fmt.Errorf("provider %s: file %s does not exist%s", p.Name, f.SourcePath, hint))
				}
			}
		}
	}
	want := map[string][]string{
		"CoreProvider":         {coreProviderName},
		"BootstrapProvider":    {bootstrapProviderName},
		"ControlPlaneProvider": {controlPlaneProviderName},
	}
	for t, names := range want {
		if !slices.Equal(byType[t], names) {
			errs = append(errs, fmt.Errorf("want %s %v, have %v", t, names, byType[t]))
		}
	}
	infra := byType["InfrastructureProvider"]
	if len(infra) != 1 || (infra[0] != dockerProviderName && infra[0] != awsProviderName) {
		errs = append(errs, fmt.Errorf("want one InfrastructureProvider, docker or aws, have %v", infra))
	}
	for key, values := range config.Intervals {
		if len(values) == 0 || len(values) > 2 {
			errs = append(errs, fmt.Errorf("interval %s: want [timeout] or [timeout, poll]", key))
		}
		for _, v := range values {
			if _, err := time.ParseDuration(v); err != nil {
				errs = append(errs, fmt.Errorf("interval %s: %w", key, err))
			}
		}
	}
	for _, name := range []string{varK0sVersion, varKubernetesVersion, varKubernetesVersionMgmt} {
		if v, ok := variable(config, name); !ok || v == "" {
			errs = append(errs, fmt.Errorf("variable %s is not set", name))
		}
	}
	if len(infra) == 1 && infra[0] == awsProviderName {
		for _, name := range requiredAWSVariables {
			if v, ok := variable(config, name); !ok || v == "" {
				errs = append(errs, fmt.Errorf("the AWS suite needs %s in the environment", name))
			}
		}
	}
	return errors.Join(errs...)
}

// infrastructureProvider is the config's one infrastructure provider.
func infrastructureProvider(config *clusterctl.E2EConfig) string {
	return config.InfrastructureProviders()[0]
}
