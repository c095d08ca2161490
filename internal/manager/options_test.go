package manager

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/controllers"
)

// TestCacheKeepsOnlyCACertificates: the cache holds a cluster CA's
// certificate, never its key, and no other Secret's data but kubeconfigs.
func TestCacheKeepsOnlyCACertificates(t *testing.T) {
	g := NewWithT(t)
	opts := CacheOptions(NewScheme(), "options-test", "", time.Minute)
	var transformFunc func(any) (any, error)
	for obj, b := range opts.ByObject {
		if _, isSecret := obj.(*corev1.Secret); isSecret {
			transformFunc = b.Transform
		}
	}
	g.Expect(transformFunc).NotTo(BeNil(), "Secrets have a cache transform")

	transform := func(name string) map[string][]byte {
		out, err := transformFunc(&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Data:       map[string][]byte{"tls.crt": []byte("cert"), "tls.key": []byte("key"), "value": []byte("kubeconfig")},
		})
		g.Expect(err).NotTo(HaveOccurred())
		return out.(*corev1.Secret).Data
	}
	g.Expect(transform("prod-ca")).To(Equal(map[string][]byte{"tls.crt": []byte("cert")}))
	g.Expect(transform("prod-kubeconfig")).To(HaveKey("value"))
	g.Expect(transform("worker-0")).To(BeEmpty())
	g.Expect(transform("prod-etcd")).To(BeEmpty())
}

// TestCacheTrimsDataSecrets: of a data Secret the cache keeps the cluster
// name and the token ID, which the reconcile reads from it, and none of
// the owner references or user metadata; Cluster API's Secrets keep theirs.
func TestCacheTrimsDataSecrets(t *testing.T) {
	g := NewWithT(t)
	var transformFunc func(any) (any, error)
	for obj, b := range CacheOptions(NewScheme(), "options-test-data", "", time.Minute).ByObject {
		if _, isSecret := obj.(*corev1.Secret); isSecret {
			transformFunc = b.Transform
		}
	}
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{
			Name:            name,
			Labels:          map[string]string{clusterv1.ClusterNameLabel: "prod", "team": "a"},
			Annotations:     map[string]string{controllers.TokenIDAnnotation: "abcdef", "note": "user metadata"},
			OwnerReferences: []metav1.OwnerReference{{Kind: "K0sWorkerConfig", Name: name, UID: "u"}},
		}
	}
	out, err := transformFunc(&corev1.Secret{ObjectMeta: meta("worker-0"), Data: map[string][]byte{"value": []byte("#cloud-config")}})
	g.Expect(err).NotTo(HaveOccurred())
	data := out.(*corev1.Secret)
	g.Expect(data.Labels).To(Equal(map[string]string{clusterv1.ClusterNameLabel: "prod"}))
	g.Expect(data.Annotations).To(Equal(map[string]string{controllers.TokenIDAnnotation: "abcdef"}))
	g.Expect(data.OwnerReferences).To(BeEmpty())
	g.Expect(data.Data).To(BeEmpty())

	out, err = transformFunc(&corev1.Secret{ObjectMeta: meta("prod-kubeconfig"), Data: map[string][]byte{"value": []byte("kubeconfig")}})
	g.Expect(err).NotTo(HaveOccurred())
	kubeconfig := out.(*corev1.Secret)
	g.Expect(kubeconfig.ObjectMeta).To(Equal(meta("prod-kubeconfig")))
	g.Expect(kubeconfig.Data).To(HaveKey("value"))
}

// TestCacheDropsManagedFields: configs and Machines reach the cache without
// their managed fields (every writer adds an entry; nothing here reads
// them), Secrets still through their own transform.
func TestCacheDropsManagedFields(t *testing.T) {
	g := NewWithT(t)
	opts := CacheOptions(NewScheme(), "options-test-managed-fields", "", time.Minute)
	g.Expect(opts.DefaultTransform).NotTo(BeNil())
	managed := []metav1.ManagedFieldsEntry{{Manager: "capi-machineset", Operation: metav1.ManagedFieldsOperationApply}}
	for _, obj := range []metav1.Object{
		&bootstrapv1.K0sWorkerConfig{ObjectMeta: metav1.ObjectMeta{Name: "w", ManagedFields: managed}},
		&clusterv1.Machine{ObjectMeta: metav1.ObjectMeta{Name: "m", ManagedFields: managed}},
	} {
		out, err := opts.DefaultTransform(obj)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(out.(metav1.Object).GetManagedFields()).To(BeEmpty())
		g.Expect(out.(metav1.Object).GetName()).To(Equal(obj.GetName()))
	}
}

// TestCacheTrimsMachines: the manager's cache keeps of a Machine what a
// config's reconcile reads and nothing else; the embedded management
// plane, whose cache Cluster API's controllers share, keeps it whole.
func TestCacheTrimsMachines(t *testing.T) {
	g := NewWithT(t)
	machine := func() *clusterv1.Machine {
		return &clusterv1.Machine{
			ObjectMeta: metav1.ObjectMeta{
				Name: "m", Namespace: "ns", Labels: map[string]string{clusterv1.ClusterNameLabel: "c"},
				ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "capi-machineset"}},
			},
			Spec: clusterv1.MachineSpec{
				ClusterName: "c", Version: "v1.33.1+k0s.0", ProviderID: "aws:///eu-west-1a/i-1", FailureDomain: "eu-west-1a",
				Bootstrap:         clusterv1.Bootstrap{ConfigRef: clusterv1.ContractVersionedObjectReference{APIGroup: bootstrapv1.GroupVersion.Group, Kind: "K0sWorkerConfig", Name: "m"}, DataSecretName: ptr.To("m")},
				InfrastructureRef: clusterv1.ContractVersionedObjectReference{APIGroup: "infrastructure.cluster.x-k8s.io", Kind: "AWSMachine", Name: "m"},
			},
			Status: clusterv1.MachineStatus{
				NodeRef:        clusterv1.MachineNodeReference{Name: "node-1"},
				Initialization: clusterv1.MachineInitializationStatus{InfrastructureProvisioned: ptr.To(true), BootstrapDataSecretCreated: ptr.To(true)},
				Conditions:     []metav1.Condition{{Type: clusterv1.ReadyCondition, Status: metav1.ConditionTrue, Reason: "Ready", Message: "a long message"}},
				Addresses:      clusterv1.MachineAddresses{{Type: clusterv1.MachineInternalIP, Address: "10.0.0.1"}},
				Phase:          "Running",
			},
		}
	}
	transformOf := func(opts cache.Options) toolscache.TransformFunc {
		for obj, byObject := range opts.ByObject {
			if _, ok := obj.(*clusterv1.Machine); ok {
				return byObject.Transform
			}
		}
		return nil
	}

	transform := transformOf(CacheOptions(NewScheme(), "options-test-machines", "", time.Minute))
	g.Expect(transform).NotTo(BeNil())
	out, err := transform(machine())
	g.Expect(err).NotTo(HaveOccurred())
	kept := out.(*clusterv1.Machine)
	full := machine()
	g.Expect(kept.ObjectMeta.Labels).To(Equal(full.Labels))
	g.Expect(kept.ManagedFields).To(BeEmpty())
	g.Expect(kept.Spec.ClusterName).To(Equal("c"))
	g.Expect(kept.Spec.Version).To(Equal(full.Spec.Version))
	g.Expect(kept.Spec.Bootstrap).To(Equal(full.Spec.Bootstrap))
	g.Expect(kept.Status.NodeRef).To(Equal(full.Status.NodeRef))
	g.Expect(kept.Status.Initialization).To(Equal(full.Status.Initialization))
	g.Expect(kept.Spec.InfrastructureRef.IsDefined()).To(BeFalse())
	g.Expect(kept.Spec.ProviderID).To(BeEmpty())
	g.Expect(kept.Status.Conditions).To(BeEmpty())
	g.Expect(kept.Status.Addresses).To(BeEmpty())
	g.Expect(kept.Status.Phase).To(BeEmpty())

	shared := SharedCacheOptions(NewScheme(), "options-test-shared", "", time.Minute)
	g.Expect(shared.DefaultTransform).To(BeNil())
	g.Expect(transformOf(shared)).To(BeNil(), "Cluster API's controllers read every field of a Machine")
}
