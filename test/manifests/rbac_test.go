package manifests

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cabpk0s/cabpk0s/internal/testenv"

	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// TestManagerRoleGrantsOnlyWhatTheCodeUses reads the generated ClusterRole
// and holds it to least privilege: no wildcards anywhere, credentials
// (Secrets) and user content (ConfigMaps) with exactly the verbs the
// controller calls, nothing deleted in the management cluster (the data
// Secret goes with its config through garbage collection), and Cluster API
// objects read-only.
func TestManagerRoleGrantsOnlyWhatTheCodeUses(t *testing.T) {
	g := NewWithT(t)
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "rbac", "role.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	role := &rbacv1.ClusterRole{}
	g.Expect(yaml.UnmarshalStrict(data, role)).To(Succeed())
	g.Expect(role.Name).To(Equal("manager-role"))

	granted := map[string][]string{}
	for _, rule := range role.Rules {
		for _, field := range [][]string{rule.APIGroups, rule.Resources, rule.Verbs, rule.ResourceNames} {
			g.Expect(field).NotTo(ContainElement("*"), "wildcard in %+v", rule)
		}
		g.Expect(rule.NonResourceURLs).To(BeEmpty())
		for _, group := range rule.APIGroups {
			for _, resource := range rule.Resources {
				key := group + "/" + resource
				granted[key] = append(granted[key], rule.Verbs...)
				slices.Sort(granted[key])
			}
		}
	}

	// Secrets: the data Secret is created, updated in place for a
	// MachinePool rotation, patched when its owner is repaired, read live;
	// list/watch feed the cache of cluster Secrets the ClusterCache reads
	// kubeconfigs from.
	g.Expect(granted).To(HaveKeyWithValue("/secrets", []string{"create", "get", "list", "patch", "update", "watch"}))
	// ConfigMaps: read live when a file or custom user data names one;
	// list/watch feed the metadata-only watch that wakes a config when its
	// source appears; a cluster's init lock is created, and deleted when
	// the first controller holding it is gone.
	g.Expect(granted).To(HaveKeyWithValue("/configmaps", []string{"create", "delete", "get", "list", "watch"}))
	for _, resource := range []string{"cluster.x-k8s.io/clusters", "cluster.x-k8s.io/machines", "cluster.x-k8s.io/machinepools"} {
		g.Expect(granted).To(HaveKeyWithValue(resource, []string{"get", "list", "watch"}), resource)
	}
	for resource, verbs := range granted {
		if resource != "/configmaps" {
			g.Expect(verbs).NotTo(ContainElement("delete"), resource)
		}
		g.Expect(verbs).NotTo(ContainElement("deletecollection"), resource)
		g.Expect(verbs).NotTo(ContainElement("escalate"), resource)
		g.Expect(verbs).NotTo(ContainElement("impersonate"), resource)
	}
	g.Expect(granted).NotTo(HaveKey(HavePrefix("rbac.authorization.k8s.io/")))
}
