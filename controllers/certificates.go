package controllers

import (
	"context"
	"errors"
	"fmt"
	"path"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util/secret"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cabpk0s/cabpk0s/internal/render"
)

// clusterCertificates returns the files of the cluster's certificates the
// first controller starts with, where k0s looks for them: Cluster API's
// cluster CA, etcd CA, front-proxy CA and service-account key pair, the
// <cluster>-ca, -etcd, -proxy and -sa Secrets. A control plane provider
// (k0smotron's K0sControlPlane) usually creates them first; what is
// missing is generated once and saved, owned by the Cluster (a controller's
// config comes and goes with its Machine; the cluster's CA must not), and
// only looked up afterwards. Saved certificates are the only ones handed
// out: a save that fails (another writer saved first) is retried, and the
// retry finds the saved ones.
//
// The keys are read live: the manager's cache keeps no private key.
func (r *configReconciler) clusterCertificates(ctx context.Context, cluster *clusterv1.Cluster) ([]render.File, error) {
	certificates := secret.Certificates{
		{Purpose: secret.ClusterCA, CertFile: path.Join(render.PKIDir, "ca.crt"), KeyFile: path.Join(render.PKIDir, "ca.key")},
		{Purpose: secret.EtcdCA, CertFile: path.Join(render.PKIDir, "etcd/ca.crt"), KeyFile: path.Join(render.PKIDir, "etcd/ca.key")},
		{Purpose: secret.FrontProxyCA, CertFile: path.Join(render.PKIDir, "front-proxy-ca.crt"), KeyFile: path.Join(render.PKIDir, "front-proxy-ca.key")},
		{Purpose: secret.ServiceAccount, CertFile: path.Join(render.PKIDir, "sa.pub"), KeyFile: path.Join(render.PKIDir, "sa.key")},
	}
	owner := metav1.OwnerReference{APIVersion: clusterv1.GroupVersion.String(), Kind: "Cluster", Name: cluster.Name, UID: cluster.UID}
	if err := certificates.LookupOrGenerate(ctx, r.Client, client.ObjectKeyFromObject(cluster), owner); err != nil {
		var status apierrors.APIStatus
		if !errors.As(err, &status) {
			// Not the API server's answer: a Secret it read is malformed
			// (the error names it).
			return nil, &unusableCertificateError{cause: err}
		}
		return nil, fmt.Errorf("looking up or generating the cluster certificates: %w", err)
	}
	files := make([]render.File, 0, 2*len(certificates))
	for _, c := range certificates {
		if c.KeyPair == nil || len(c.KeyPair.Cert) == 0 || len(c.KeyPair.Key) == 0 {
			// An external CA (a certificate without its key) cannot start
			// a first controller: k0s signs with the keys.
			return nil, &unusableCertificateError{secret: secret.Name(cluster.Name, c.Purpose), purpose: string(c.Purpose)}
		}
		files = append(files,
			render.File{Path: c.CertFile, Content: string(c.KeyPair.Cert), Permissions: "0644"},
			render.File{Path: c.KeyFile, Content: string(c.KeyPair.Key), Permissions: "0600"})
	}
	return files, nil
}

// unusableCertificateError: a cluster certificate Secret exists but holds
// no certificate and key pair. It is the user's (or the control plane
// provider's) to fix, and says which Secret; it never carries key material.
type unusableCertificateError struct {
	secret, purpose string
	cause           error
}

func (e *unusableCertificateError) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("The cluster certificates cannot be used (%v): the first controller needs tls.crt and tls.key of <cluster>-ca, -etcd, -proxy and -sa", e.cause)
	}
	return fmt.Sprintf("Secret %s (%s) has no certificate and key pair: the first controller needs the keys to start the cluster; give the Secret tls.crt and tls.key, or delete it to have it generated", e.secret, e.purpose)
}
