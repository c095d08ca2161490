package testenv

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
)

// What k0s's worker-config reconciler publishes, so a joining worker can
// read its profile with its node credentials: one ConfigMap per profile,
// kube-system/worker-config-<profile>-<Kubernetes minor>, and a Role
// granting exactly those ConfigMaps to bootstrappers and nodes.

// DefaultWorkerProfile is the profile every k0s control plane publishes.
const DefaultWorkerProfile = "default"

// workerConfigRole is the Role and RoleBinding k0s names for it.
const workerConfigRole = "system:bootstrappers:worker-config"

// WorkerProfileName is the ConfigMap k0s names for a profile.
func WorkerProfileName(profile, kubernetesMinor string) string {
	return fmt.Sprintf("worker-config-%s-%s", profile, kubernetesMinor)
}

// PublishWorkerProfiles publishes the worker profiles a control plane of
// the given Kubernetes minor defines (the default one always), each with
// the kubelet configuration given (YAML; empty for none), and grants them
// to joining workers. Publishing again adds to what is published.
func (w *Workload) PublishWorkerProfiles(ctx context.Context, kubernetesMinor string, profiles map[string]string) error {
	w.profilesMu.Lock()
	defer w.profilesMu.Unlock()
	all := map[string]string{DefaultWorkerProfile: ""}
	for name, config := range profiles {
		all[name] = config
	}
	for name, kubeletConfig := range all {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceSystem, Name: WorkerProfileName(name, kubernetesMinor)}}
		if _, err := controllerutil.CreateOrUpdate(ctx, w.Client, cm, func() error {
			cm.Labels = map[string]string{"app.kubernetes.io/component": "worker-config", "k0s.k0sproject.io/worker-profile": name}
			cm.Data = map[string]string{"kubeletConfiguration": kubeletConfig, "apiServerAddresses": w.Config.Host}
			return nil
		}); err != nil {
			return fmt.Errorf("publishing worker profile %s: %w", cm.Name, err)
		}
	}

	list := &corev1.ConfigMapList{}
	if err := w.Client.List(ctx, list, client.InNamespace(metav1.NamespaceSystem), client.MatchingLabels{"app.kubernetes.io/component": "worker-config"}); err != nil {
		return err
	}
	names := make([]string, 0, len(list.Items))
	for _, cm := range list.Items {
		names = append(names, cm.Name)
	}
	sort.Strings(names)
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceSystem, Name: workerConfigRole}}
	if _, err := controllerutil.CreateOrUpdate(ctx, w.Client, role, func() error {
		role.Rules = []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch"}, ResourceNames: names}}
		return nil
	}); err != nil {
		return fmt.Errorf("granting the worker profiles: %w", err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceSystem, Name: workerConfigRole},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: workerConfigRole},
		Subjects: []rbacv1.Subject{
			{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: "system:bootstrappers"},
			{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: "system:nodes"},
		},
	}
	if err := w.Client.Create(ctx, binding); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("binding the worker profiles: %w", err)
	}
	return nil
}
