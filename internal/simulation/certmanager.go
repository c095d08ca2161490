package simulation

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

// The cert-manager API the providers' components use: a self-signed Issuer
// and a Certificate for each provider's webhook Service.
var (
	CertificateGVK = schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"}
	IssuerGVK      = schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Issuer"}
)

// injectCAFromAnnotation names the Certificate whose CA cert-manager's CA
// injector copies into a CRD's or webhook configuration's caBundle.
const injectCAFromAnnotation = "cert-manager.io/inject-ca-from"

// CertManagerCRDs are the Issuer and Certificate kinds of
// cert-manager.io/v1, with open schemas: only what SimulatedCertManager
// reads is interpreted (Certificate spec.secretName, spec.dnsNames). They
// must exist before clusterctl init looks for cert-manager.
func CertManagerCRDs() []*apiextensionsv1.CustomResourceDefinition {
	crds := []*apiextensionsv1.CustomResourceDefinition{
		testenv.OpenSchemaCRD(IssuerGVK, "issuers"), testenv.OpenSchemaCRD(CertificateGVK, "certificates"),
	}
	for _, crd := range crds {
		crd.Labels = map[string]string{"app.kubernetes.io/name": "simulated-cert-manager"}
	}
	return crds
}

// SimulatedCertManager stands in for cert-manager, which clusterctl init
// requires before it installs any provider. Its issuer gives every
// Certificate a self-signed serving certificate for the Certificate's
// dnsNames in the Certificate's Secret (tls.crt, tls.key, ca.crt, as
// cert-manager's selfSigned issuer does), and its CA injector copies that
// ca.crt into the caBundle of CRD conversion webhooks and admission webhook
// configurations annotated cert-manager.io/inject-ca-from. Issuers are not
// interpreted: every Certificate is self-signed. No cert-manager runs.
type SimulatedCertManager struct {
	Client client.Client
}

// SetupWithManager registers the issuer and the CA injector.
func (s *SimulatedCertManager) SetupWithManager(mgr ctrl.Manager) error {
	if err := controllerFor(mgr, "simulated-cert-manager-issuer", CertificateGVK).Complete(reconcile.Func(s.issue)); err != nil {
		return err
	}
	annotated := builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
		_, ok := o.GetAnnotations()[injectCAFromAnnotation]
		return ok
	}))
	for name, obj := range map[string]client.Object{
		"crd":                &apiextensionsv1.CustomResourceDefinition{},
		"validatingwebhooks": &admissionv1.ValidatingWebhookConfiguration{},
		"mutatingwebhooks":   &admissionv1.MutatingWebhookConfiguration{},
	} {
		injector := &caInjector{client: s.Client, newObject: func() client.Object { return obj.DeepCopyObject().(client.Object) }}
		if err := ctrl.NewControllerManagedBy(mgr).Named("simulated-cert-manager-cainjector-"+name).
			For(obj, annotated).Complete(injector); err != nil {
			return err
		}
	}
	return nil
}

// issue writes a Certificate's Secret when it is missing or was issued for
// other DNS names.
func (s *SimulatedCertManager) issue(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	cert, err := getLive(ctx, s.Client, CertificateGVK, req.NamespacedName)
	if err != nil || cert == nil {
		return ctrl.Result{}, err
	}
	secretName, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
	dnsNames, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
	if secretName == "" {
		return ctrl.Result{}, nil
	}
	issuedFor := strings.Join(dnsNames, ",")

	secret := &corev1.Secret{}
	getErr := s.Client.Get(ctx, client.ObjectKey{Namespace: cert.GetNamespace(), Name: secretName}, secret)
	switch {
	case getErr == nil && secret.Annotations["cert-manager.io/alt-names"] == issuedFor:
		return ctrl.Result{}, s.markReady(ctx, cert)
	case getErr != nil && !apierrors.IsNotFound(getErr):
		return ctrl.Result{}, getErr
	}

	certPEM, keyPEM, err := selfSignedServingCert(cert.GetName(), dnsNames)
	if err != nil {
		return ctrl.Result{}, err
	}
	desired := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: cert.GetNamespace(), Name: secretName,
			Annotations: map[string]string{
				"cert-manager.io/certificate-name": cert.GetName(),
				"cert-manager.io/alt-names":        issuedFor,
			},
		},
		Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM, "ca.crt": certPEM},
	}
	if apierrors.IsNotFound(getErr) {
		err := s.Client.Create(ctx, desired)
		if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			// clusterctl's probe Certificate, deleted right after creation.
			return ctrl.Result{}, nil
		}
		if err != nil {
			return ctrl.Result{}, err
		}
	} else {
		secret.Annotations, secret.Type, secret.Data = desired.Annotations, desired.Type, desired.Data
		if err := s.Client.Update(ctx, secret); err != nil {
			return ctrl.Result{}, err
		}
	}
	return ctrl.Result{}, s.markReady(ctx, cert)
}

func (s *SimulatedCertManager) markReady(ctx context.Context, cert *unstructured.Unstructured) error {
	conditions, _, _ := unstructured.NestedSlice(cert.Object, "status", "conditions")
	if len(conditions) > 0 {
		return nil
	}
	ready := map[string]any{
		"type": "Ready", "status": "True", "reason": "Issued",
		"message":            "Certificate issued by the simulated cert-manager",
		"lastTransitionTime": time.Now().UTC().Format(time.RFC3339),
	}
	return patchFields(ctx, s.Client, cert, "status", map[string]any{"conditions": []any{ready}})
}

// caInjector is the simulated cert-manager's CA injector for one kind.
type caInjector struct {
	client    client.Client
	newObject func() client.Object
}

// caInjectionRetry is how soon an object whose Certificate has not been
// issued yet is looked at again (the simulation does not watch Secrets).
const caInjectionRetry = 500 * time.Millisecond

func (i *caInjector) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj := i.newObject()
	if err := i.client.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	from := obj.GetAnnotations()[injectCAFromAnnotation]
	namespace, name, ok := strings.Cut(from, "/")
	if !ok {
		return ctrl.Result{}, nil
	}
	ca, err := certificateCA(ctx, i.client, namespace, name)
	if err != nil || ca == nil {
		return ctrl.Result{RequeueAfter: caInjectionRetry}, client.IgnoreNotFound(err)
	}

	base := obj.DeepCopyObject().(client.Object)
	changed := false
	set := func(bundle *[]byte) {
		if !bytes.Equal(*bundle, ca) {
			*bundle, changed = slices.Clone(ca), true
		}
	}
	switch o := obj.(type) {
	case *apiextensionsv1.CustomResourceDefinition:
		if c := o.Spec.Conversion; c != nil && c.Webhook != nil && c.Webhook.ClientConfig != nil {
			set(&c.Webhook.ClientConfig.CABundle)
		}
	case *admissionv1.ValidatingWebhookConfiguration:
		for w := range o.Webhooks {
			set(&o.Webhooks[w].ClientConfig.CABundle)
		}
	case *admissionv1.MutatingWebhookConfiguration:
		for w := range o.Webhooks {
			set(&o.Webhooks[w].ClientConfig.CABundle)
		}
	}
	if !changed {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{}, i.client.Patch(ctx, obj, client.MergeFrom(base))
}

// certificateCA returns the ca.crt of a Certificate's Secret, nil while the
// Certificate or its Secret does not exist yet.
func certificateCA(ctx context.Context, c client.Client, namespace, name string) ([]byte, error) {
	cert, err := getLive(ctx, c, CertificateGVK, client.ObjectKey{Namespace: namespace, Name: name})
	if err != nil || cert == nil {
		return nil, err
	}
	secretName, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
	secret := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: secretName}, secret); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	if len(secret.Data["ca.crt"]) == 0 {
		return nil, fmt.Errorf("secret %s/%s has no ca.crt", namespace, secretName)
	}
	return secret.Data["ca.crt"], nil
}
