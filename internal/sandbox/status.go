package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"text/tabwriter"

	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util/conditions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/internal/simulation"
)

// StatusTable renders Clusters, Machines and K0sWorkerConfigs as a table a
// person can read at a glance.
func StatusTable(ctx context.Context, c client.Reader) (string, error) {
	clusters := &clusterv1.ClusterList{}
	machines := &clusterv1.MachineList{}
	configs := &bootstrapv1.K0sWorkerConfigList{}
	controllerConfigs := &bootstrapv1.K0sControllerConfigList{}
	for _, list := range []client.ObjectList{clusters, machines, configs, controllerConfigs} {
		if err := c.List(ctx, list); err != nil {
			return "", err
		}
	}

	var buf bytes.Buffer
	w := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "CLUSTER\tPHASE\tCONTROL PLANE\tENDPOINT")
	for _, cl := range clusters.Items {
		endpoint := "-"
		if cl.Spec.ControlPlaneEndpoint.IsValid() {
			endpoint = fmt.Sprintf("%s:%d", cl.Spec.ControlPlaneEndpoint.Host, cl.Spec.ControlPlaneEndpoint.Port)
		}
		cp := "not initialized"
		if conditions.IsTrue(&cl, clusterv1.ClusterControlPlaneInitializedCondition) {
			cp = "initialized"
		}
		fmt.Fprintf(w, "%s/%s\t%s\t%s\t%s\n", cl.Namespace, cl.Name, or(cl.Status.Phase, "-"), cp, endpoint)
	}

	fmt.Fprintln(w, "\nMACHINE\tCLUSTER\tPHASE\tNODE\tNOTE")
	for _, m := range machines.Items {
		fmt.Fprintf(w, "%s/%s\t%s\t%s\t%s\t%s\n", m.Namespace, m.Name, m.Spec.ClusterName, or(m.Status.Phase, "-"),
			or(m.Status.NodeRef.Name, "-"), or(m.Annotations[simulation.BootErrorAnnotation], ""))
	}

	configRow := func(cfg interface {
		client.Object
		conditions.Getter
		IsDataSecretCreated() bool
		GetDataSecretName() *string
	}) {
		ready, reason := "-", "-"
		if cond := conditions.Get(cfg, bootstrapv1.ReadyCondition); cond != nil {
			ready, reason = string(cond.Status), cond.Reason
		}
		created := "no"
		if cfg.IsDataSecretCreated() {
			created = ptr.Deref(cfg.GetDataSecretName(), "yes")
		}
		fmt.Fprintf(w, "%s/%s\t%s\t%s\t%s\n", cfg.GetNamespace(), cfg.GetName(), created, ready, reason)
	}
	fmt.Fprintln(w, "\nK0SWORKERCONFIG\tDATA SECRET\tREADY\tREASON")
	for i := range configs.Items {
		configRow(&configs.Items[i])
	}
	if len(controllerConfigs.Items) > 0 {
		fmt.Fprintln(w, "\nK0SCONTROLLERCONFIG\tDATA SECRET\tREADY\tREASON")
		for i := range controllerConfigs.Items {
			configRow(&controllerConfigs.Items[i])
		}
	}
	if err := w.Flush(); err != nil {
		return "", err
	}
	return buf.String(), nil
}

func or(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}
