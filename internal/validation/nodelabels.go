package validation

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
	kubeletapis "k8s.io/kubelet/pkg/apis"

	"github.com/cabpk0s/cabpk0s/internal/render"
)

// nodeLabels refuses the labels a kubelet will not register with. k0s
// passes spec.labels to the kubelet's --node-labels, and the kubelet refuses
// to start with a label in the kubernetes.io or k8s.io namespaces outside
// the set it may set itself (the API server's NodeRestriction refuses them
// too), so such a config would render data no machine can join with.
// node-role.kubernetes.io/* is the common case: Cluster API copies it from
// the Machine to the Node instead.
func nodeLabels(labels map[string]string, fldPath *field.Path) field.ErrorList {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs field.ErrorList
	for _, k := range keys {
		if !isKubernetesLabel(k) || kubeletapis.IsKubeletLabel(k) {
			continue
		}
		errs = append(errs, field.Invalid(fldPath.Key(k), k, fmt.Sprintf(
			"a kubelet refuses to register with labels in the kubernetes.io and k8s.io namespaces other than %s and those under %s; "+
				"set node-role.kubernetes.io/* and node-restriction.kubernetes.io/* labels on the Machine (a MachineDeployment's spec.template.metadata.labels) and Cluster API puts them on the Node",
			strings.Join(kubeletapis.KubeletLabels(), ", "), strings.Join(kubeletapis.KubeletLabelNamespaces(), ", "))))
	}
	return errs
}

// argLabels applies the same rule to labels passed as k0s arguments
// (--labels in spec.args), as k0smotron users write them.
func argLabels(args []string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, flag := range render.FlagValues(args, "--labels") {
		labels := map[string]string{}
		for _, kv := range strings.Split(flag.Value, ",") {
			if k, v, _ := strings.Cut(strings.TrimSpace(kv), "="); k != "" {
				labels[k] = v
			}
		}
		errs = append(errs, nodeLabels(labels, fldPath.Index(flag.Index))...)
	}
	return errs
}

// isKubernetesLabel: the key's prefix is kubernetes.io or k8s.io, or a
// subdomain of either, as the kubelet decides it.
func isKubernetesLabel(key string) bool {
	namespace, _, ok := strings.Cut(key, "/")
	if !ok {
		return false
	}
	for _, reserved := range []string{"kubernetes.io", "k8s.io"} {
		if namespace == reserved || strings.HasSuffix(namespace, "."+reserved) {
			return true
		}
	}
	return false
}
