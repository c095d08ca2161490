package controllers

import (
	"context"
	"fmt"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util/secret"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/internal/k0sversion"
	"github.com/cabpk0s/cabpk0s/internal/render"
)

// TokenIDAnnotation records the bootstrap token a config's data carries. It
// is set on the config before the token is created, so a retry after any
// failure finds and reuses the same token, and copied to the data Secret.
// Both travel with `clusterctl move`, which drops status.
const TokenIDAnnotation = "bootstrap.cluster.x-k8s.io/k0s-join-token-id" //nolint:gosec // an annotation key, not a credential

// missingSourceError names a Secret, ConfigMap or key that does not exist,
// so the condition can tell the user exactly what to create.
type missingSourceError struct{ what string }

func (e *missingSourceError) Error() string { return e.what + " not found" }

// clusterCA reads the workload cluster's CA certificate from Cluster API's
// <cluster>-ca Secret. Only the certificate is read: workers never need the
// key. The cached copy (see manager.CacheOptions, which keeps only the
// certificate) serves nearly every call; the API server is asked only when
// the cache has nothing, for example a Secret without the cluster label.
func clusterCA(ctx context.Context, cached, live client.Client, cluster *clusterv1.Cluster) ([]byte, error) {
	key := client.ObjectKeyFromObject(cluster)
	s, err := secret.GetFromNamespacedName(ctx, cached, key, secret.ClusterCA)
	if err == nil && len(s.Data[secret.TLSCrtDataName]) > 0 {
		return s.Data[secret.TLSCrtDataName], nil
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, err
	}
	if s, err = secret.GetFromNamespacedName(ctx, live, key, secret.ClusterCA); apierrors.IsNotFound(err) {
		return nil, &missingSourceError{what: fmt.Sprintf("cluster CA Secret %s/%s", cluster.Namespace, secret.Name(cluster.Name, secret.ClusterCA))}
	}
	if err != nil {
		return nil, err
	}
	crt := s.Data[secret.TLSCrtDataName]
	if len(crt) == 0 {
		return nil, &missingSourceError{what: fmt.Sprintf("key %s of cluster CA Secret %s/%s", secret.TLSCrtDataName, s.Namespace, s.Name)}
	}
	return crt, nil
}

// readSource reads one Secret or ConfigMap key from the config's namespace.
func readSource(ctx context.Context, c client.Client, namespace string, src *bootstrapv1.ContentSource) (string, error) {
	switch {
	case src.SecretRef != nil:
		s := &corev1.Secret{}
		ref := src.SecretRef
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ref.Name}, s); err != nil {
			if apierrors.IsNotFound(err) {
				return "", &missingSourceError{what: fmt.Sprintf("Secret %s/%s", namespace, ref.Name)}
			}
			return "", err
		}
		value, ok := s.Data[ref.Key]
		if !ok {
			return "", &missingSourceError{what: fmt.Sprintf("key %q of Secret %s/%s", ref.Key, namespace, ref.Name)}
		}
		return string(value), nil
	case src.ConfigMapRef != nil:
		cm := &corev1.ConfigMap{}
		ref := src.ConfigMapRef
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ref.Name}, cm); err != nil {
			if apierrors.IsNotFound(err) {
				return "", &missingSourceError{what: fmt.Sprintf("ConfigMap %s/%s", namespace, ref.Name)}
			}
			return "", err
		}
		if value, ok := cm.Data[ref.Key]; ok {
			return value, nil
		}
		if value, ok := cm.BinaryData[ref.Key]; ok {
			return string(value), nil
		}
		return "", &missingSourceError{what: fmt.Sprintf("key %q of ConfigMap %s/%s", ref.Key, namespace, ref.Name)}
	}
	return "", fmt.Errorf("content source names neither a Secret nor a ConfigMap")
}

// effectiveVersion is the k0s version to install: the config's, else the
// owner's, normalised; "" means the latest release.
func effectiveVersion(config *bootstrapv1.K0sWorkerConfig, owner *configOwner) (string, error) {
	v := config.Spec.Version
	if v == "" {
		v = owner.version()
	}
	if v == "" {
		return "", nil
	}
	return k0sversion.Normalize(v)
}

// uninitializedTaint is Cluster API's marker for a node whose labels it has
// not synced yet; it removes the taint itself.
var uninitializedTaint = corev1.Taint{Key: clusterv1.NodeUninitializedTaint.Key, Effect: clusterv1.NodeUninitializedTaint.Effect}

// renderInput gathers everything the bootstrap data needs besides the token.
func renderInput(ctx context.Context, c client.Client, config *bootstrapv1.K0sWorkerConfig, owner *configOwner, version string) (render.Input, error) {
	spec := &config.Spec
	in := render.Input{
		Format:           render.FormatCloudConfig,
		WorkingDir:       spec.WorkingDir,
		Version:          version,
		InstallDir:       spec.K0sInstallDir,
		PreInstalled:     spec.PreInstalledK0s,
		DownloadURL:      spec.DownloadURL,
		DownloadSHA256:   spec.DownloadSHA256,
		PreCommands:      spec.PreK0sCommands,
		PostCommands:     spec.PostK0sCommands,
		NodeName:         owner.nodeName(config),
		Labels:           spec.Labels,
		Taints:           append([]corev1.Taint{uninitializedTaint}, spec.Taints...),
		KubeletExtraArgs: spec.KubeletExtraArgs,
		Profile:          spec.Profile,
		Args:             spec.Args,
	}
	if spec.Provisioner.Type == bootstrapv1.ProvisioningFormatIgnition {
		in.Format = render.FormatIgnition
		if ign := spec.Provisioner.Ignition; ign != nil {
			in.Ignition = &render.Ignition{Variant: string(ign.Variant), Version: ign.Version, AdditionalConfig: ign.AdditionalConfig}
		}
	}
	if ref := spec.Provisioner.CustomUserDataRef; ref != nil {
		custom, err := readSource(ctx, c, config.Namespace, ref)
		if err != nil {
			return render.Input{}, err
		}
		in.CustomCloudConfig = custom
	}
	for _, f := range spec.Files {
		content := f.Content
		if f.ContentFrom != nil {
			var err error
			if content, err = readSource(ctx, c, config.Namespace, f.ContentFrom); err != nil {
				return render.Input{}, err
			}
		}
		in.Files = append(in.Files, render.File{Path: f.Path, Content: content, Permissions: f.Permissions})
	}
	return in, nil
}

// joinServer is the control plane URL workers join through.
func joinServer(cluster *clusterv1.Cluster) string {
	ep := cluster.Spec.ControlPlaneEndpoint
	return "https://" + net.JoinHostPort(ep.Host, strconv.Itoa(int(ep.Port)))
}

// dataSecret builds the bootstrap data Secret: named after the config,
// controlled by it, labelled with the cluster, carrying the token ID.
func dataSecret(config *bootstrapv1.K0sWorkerConfig, clusterName string, data []byte, format render.Format, tokenID string) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: config.Namespace,
			Name:      config.Name,
			Labels:    map[string]string{},
			Annotations: map[string]string{
				TokenIDAnnotation: tokenID,
			},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(config, bootstrapv1.GroupVersion.WithKind("K0sWorkerConfig"))},
		},
		Type: clusterv1.ClusterSecretType,
		Data: map[string][]byte{"value": data, "format": []byte(format)},
	}
	if md := config.Spec.SecretMetadata; md != nil {
		for k, v := range md.Labels {
			s.Labels[k] = v
		}
		for k, v := range md.Annotations {
			s.Annotations[k] = v
		}
	}
	// Applied last: Cluster API finds the Secret by this label, and our
	// bookkeeping must not be overridden by user metadata.
	s.Labels[clusterv1.ClusterNameLabel] = clusterName
	s.Annotations[TokenIDAnnotation] = tokenID
	return s
}
